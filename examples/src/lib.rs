//! Runnable gensrv programs: `cargo run --example kv` (and `stack`, `worker`).
