//! Compile-fail cases of `#[gen_server]`: one file per misuse in `tests/ui/`, each
//! with the `.stderr` rustc must print, run by `tests/ui.rs`.
