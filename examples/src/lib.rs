//! Runnable gensrv programs: `cargo run --example kv` (and `stack`, `worker`,
//! `ping_pong`, `observe`, `kv_cluster`), the helpers their transcripts share,
//! and the [`kv`] server itself, a library so that the tests can start it.

use std::fmt::{Debug, Display};

pub mod kv;

/// Prints an outcome as Erlang's shell would, with an error's meaning next to it.
pub fn print_result<T: Debug, E: Debug + Display>(result: &Result<T, E>) {
    match result {
        Ok(value) => println!("Ok({value:?})"),
        Err(error) => println!("Err({error:?})   ({error})"),
    }
}

/// Shows the runtime's own log lines (a crashed server's report, for one).
pub fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .without_time()
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}
