//! Looking inside a running system, as an operator of an OTP node does with
//! `observer` and `sys`: the KV tree drawn by `gensrv::process_tree`, each
//! server with its statistics, before and after a bucket crashes.
//!
//! ```text
//! cargo run --example observe
//! ```
//!
//! It starts the KV tree on a free port of 127.0.0.1, makes a little traffic over
//! TCP, prints the tree, crashes a bucket (the runtime's crash report is the
//! `ERROR crash report` line: the bucket's state shows only as its
//! `#[format_status]` writes it), prints the tree again, shows a server's status
//! and a suspended registry, stops the tree and exits 0; anything unexpected makes
//! it exit 1.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use gensrv::{Pid, Statistics};
use gensrv_examples::init_logging;
use gensrv_examples::kv::{self, client::Client, registry::Registry};

fn main() -> ExitCode {
    init_logging();
    // The runtime's crash report says what happened; the default panic hook's
    // own report would repeat it with a thread id.
    std::panic::set_hook(Box::new(|_| {}));
    // One thread: the transcript is the same on every run.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(runtime) => runtime.block_on(observe()),
        Err(error) => Err(format!("no runtime: {error}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn observe() -> Result<(), String> {
    let kv = kv::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(|error| error.to_string())?;
    let mut client = Client::connect(kv.local_addr())
        .await
        .map_err(|error| format!("cannot connect: {error}"))?;
    for line in [
        "CREATE shopping",
        "CREATE tools",
        "PUT shopping milk 1",
        "PUT shopping eggs 3",
        "GET shopping milk",
        "PUT tools hammer 1",
    ] {
        let reply = client
            .command(line)
            .await
            .map_err(|error| format!("{line}: {error}"))?;
        println!("> {line}   {}", reply.join(" / "));
    }

    println!();
    println!("== the tree, with what each server has handled");
    print_tree().await?;

    println!();
    println!("== the bucket `shopping` crashes");
    let registry = Registry::whereis(&kv.names().registry).ok_or("no registry")?;
    let shopping = registry
        .lookup("shopping".into())
        .await
        .map_err(|error| error.to_string())?
        .ok_or("no bucket shopping")?;
    let status = shopping
        .get_status()
        .await
        .map_err(|error| error.to_string())?;
    println!("> shopping.get_status()");
    println!("{status:#?}");
    println!("> shopping.crash()");
    let crashed = shopping.crash().await;
    println!("{crashed:?}");
    if crashed.is_ok() {
        return Err("the bucket did not crash".into());
    }
    // The registry hears of it through its monitor; a call after that sees it.
    let gone = registry
        .lookup("shopping".into())
        .await
        .map_err(|error| error.to_string())?;
    if gone.is_some() {
        return Err("the registry still knows the crashed bucket".into());
    }
    println!();
    println!("== the tree again: the bucket is gone, the registry handled its Down");
    print_tree().await?;

    println!();
    println!("== a suspended registry: requests wait in its mailbox");
    registry
        .suspend()
        .await
        .map_err(|error| error.to_string())?;
    let waiting = registry.lookup("tools".into()).send();
    let status = registry
        .get_status()
        .await
        .map_err(|error| error.to_string())?;
    println!(
        "> registry.get_status()   suspended: {}, mailbox: {}",
        status.suspended, status.mailbox_len
    );
    registry.resume().await.map_err(|error| error.to_string())?;
    let tools = waiting.await.map_err(|error| error.to_string())?;
    println!(
        "> registry.resume(); the waiting lookup(\"tools\") answers: {}",
        if tools.is_some() { "found" } else { "none" }
    );
    if tools.is_none() {
        return Err("the waiting lookup lost its bucket".into());
    }

    println!();
    println!("== stop the tree");
    kv.stop().await.map_err(|error| error.to_string())?;
    let left = gensrv::processes().len();
    println!("> gensrv::processes().len()   {left}");
    if left != 0 {
        return Err(format!("{left} processes outlived the tree"));
    }
    Ok(())
}

/// Prints every process under its parent, with its statistics.
async fn print_tree() -> Result<(), String> {
    let mut statistics: HashMap<Pid, Statistics> = HashMap::new();
    for pid in gensrv::processes() {
        // A process that ended meanwhile has none.
        if let Ok(stats) = gensrv::sys::statistics(&pid)
            .timeout(Duration::from_secs(1))
            .await
        {
            statistics.insert(pid, stats);
        }
    }
    let tree = gensrv::process_tree_with(|info| match statistics.get(&info.pid) {
        Some(s) => format!("calls {} casts {} infos {}", s.calls, s.casts, s.infos),
        None => String::new(),
    });
    print!("{}", shorten(&tree));
    Ok(())
}

/// The tree with type paths shortened to the type's own name.
fn shorten(tree: &str) -> String {
    tree.lines()
        .map(|line| {
            line.split(' ')
                .map(|word| {
                    if word.contains("::") {
                        short_type(word)
                    } else {
                        word.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
                + "\n"
        })
        .collect()
}

/// `a::b::Foo<c::Bar>` as `Foo<Bar>`.
fn short_type(path: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for c in path.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(""));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(""));
    out
}
