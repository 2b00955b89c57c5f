//! `cargo run --example kv -- serve ADDRESS` as a binary of this crate: the same
//! [`gensrv_examples::kv::serve`], which the tests can run as a child process
//! (cargo gives them its path) and send signals to.

use std::net::SocketAddr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let addr: SocketAddr = match std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:0")
        .parse()
    {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("usage: kv_serve [ADDRESS:PORT]: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(gensrv_examples::kv::serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
