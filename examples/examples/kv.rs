//! The Elixir guide's KV server, run for real on 127.0.0.1.
//!
//! The server is [`gensrv_examples::kv`]: buckets and a registry that watches
//! them, under supervisors, behind a TCP acceptor speaking the guide's text
//! protocol (`CREATE shopping`, `PUT shopping milk 1`, `GET shopping milk`, ...).
//!
//! ```text
//! cargo run --example kv            # a scripted client session over TCP, then exit
//! cargo run --example kv -- serve   # serve on 127.0.0.1:4040 until Ctrl-C or SIGTERM
//! cargo run --example kv -- serve 127.0.0.1:0   # the same on a free port (printed)
//! nc 127.0.0.1 4040                 # (or telnet) and type the commands
//! ```
//!
//! Served, it stops gracefully on SIGINT (Ctrl-C) or SIGTERM: every open
//! connection is told `SERVER SHUTTING DOWN` and closed, every terminate runs,
//! and it exits 0 ([`gensrv_examples::kv::serve`]).
//!
//! The script starts the tree on a free port, talks to it over TCP, crashes a
//! bucket and then the registry through the API, shows that the same connection
//! goes on working, stops the tree, and exits 0; anything unexpected makes it
//! exit 1.

use std::future::{Future, IntoFuture};
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use gensrv::supervisor::{
    ChildKind, DynamicSupervisor, DynamicSupervisorRef, Supervisor, SupervisorRef,
};
use gensrv::{Pid, ServerRef};
use gensrv_examples::init_logging;
use gensrv_examples::kv::{self, MAX_LINE, PORT, client::Client, registry::Registry};

fn main() -> ExitCode {
    init_logging();
    // The runtime reports a crashed server itself (the `ERROR .. crash report`
    // line); the default hook's report would add a thread id that
    // differs on every run. One line, where and what, is enough here.
    std::panic::set_hook(Box::new(|panic| {
        let location = panic
            .location()
            .map(ToString::to_string)
            .unwrap_or_default();
        let message = panic.payload_as_str().unwrap_or("(no message)");
        eprintln!("panicked at {location}: {message}");
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let serving = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => None,
        ["serve"] => Some(SocketAddr::from((Ipv4Addr::LOCALHOST, PORT))),
        ["serve", addr] => match addr.parse() {
            Ok(addr) => Some(addr),
            Err(error) => {
                eprintln!("not an address, such as 127.0.0.1:4040: {addr:?}: {error}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: cargo run --example kv [-- serve [ADDRESS:PORT]]");
            return ExitCode::from(2);
        }
    };
    let runtime = if serving.is_some() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        // One thread: every step of the script runs to completion before the
        // next, so the transcript (pids, log lines and all) is the same on every
        // run.
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match serving {
        Some(addr) => runtime.block_on(kv::serve(addr)),
        None => runtime.block_on(demo()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The scripted session.
async fn demo() -> Result<(), String> {
    println!("== the tree, on 127.0.0.1 (a free port; `-- serve` uses {PORT})");
    let localhost = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let kv = kv::start(localhost)
        .await
        .map_err(|error| error.to_string())?;
    print_tree(kv.supervisor()).await?;

    println!();
    println!("== a client connects over TCP");
    let client = step(Client::connect(kv.local_addr()))
        .await?
        .map_err(|error| format!("cannot connect: {error}"))?;
    let mut session = Session { client };
    session.expect("CREATE shopping", &["OK"]).await?;
    session.expect("PUT shopping milk 1", &["OK"]).await?;
    session.expect("GET shopping milk", &["1", "OK"]).await?;
    session.expect("PUT shopping eggs 3", &["OK"]).await?;
    session.expect("DELETE shopping eggs", &["OK"]).await?;
    session.expect("GET shopping eggs", &["", "OK"]).await?;
    println!("  # an empty line: no value under that key");
    session.expect("CREATE shopping", &["OK"]).await?;
    session.expect("GET shopping milk", &["1", "OK"]).await?;
    println!("  # CREATE is idempotent: the same bucket, milk still in it");

    println!();
    println!("== answers that are not OK; the connection stays open");
    session.expect("GET groceries milk", &["NOT FOUND"]).await?;
    session
        .expect("PUT groceries milk 1", &["NOT FOUND"])
        .await?;
    session
        .expect("FETCH shopping milk", &["UNKNOWN COMMAND"])
        .await?;
    session
        .expect("PUT shopping milk", &["UNKNOWN COMMAND"])
        .await?;
    session
        .expect_raw("(an empty line)", b"", &["UNKNOWN COMMAND"])
        .await?;
    let long = format!("PUT shopping essay {}", "x".repeat(2 * MAX_LINE));
    session
        .expect_raw(
            &format!("PUT shopping essay xxxx... ({} bytes)", long.len()),
            long.as_bytes(),
            &["LINE TOO LONG"],
        )
        .await?;
    session
        .expect_raw(
            "GET shopping \\xff\\xfe (not UTF-8)",
            b"GET shopping \xff\xfe",
            &["UNKNOWN COMMAND"],
        )
        .await?;
    session.expect("GET shopping milk", &["1", "OK"]).await?;

    println!();
    println!("== a bucket that crashes");
    let registry = Registry::whereis(&kv.names().registry).ok_or("no registry")?;
    println!("> registry.lookup(\"shopping\")   (through the API)");
    let shopping = step(registry.lookup("shopping".into()))
        .await?
        .map_err(|error| error.to_string())?
        .ok_or("no bucket shopping")?;
    println!("Some({shopping:?})");
    println!("> shopping.crash()");
    let crashed = step(shopping.crash()).await?;
    println!("{crashed:?}");
    if crashed.is_ok() {
        return Err("the bucket did not crash".into());
    }
    println!("  # temporary: its supervisor does not restart it; the registry forgot it");
    session.expect("GET shopping milk", &["NOT FOUND"]).await?;
    session.expect("CREATE shopping", &["OK"]).await?;
    session.expect("GET shopping milk", &["", "OK"]).await?;
    session.expect("PUT shopping milk 2", &["OK"]).await?;
    print_tree(kv.supervisor()).await?;

    println!();
    println!("== a registry that recovers");
    let acceptor = kv.acceptor().ok_or("no acceptor")?;
    println!("> Registry::whereis({:?}).kill()", kv.names().registry);
    registry.kill();
    let restarted = step(async {
        loop {
            match kv.registry() {
                Some(new) if new != registry => break new,
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    })
    .await?;
    println!(
        "  # the store restarted the buckets' supervisor and the registry: registry {} (was {})",
        restarted.pid(),
        registry.pid()
    );
    println!("  # over the same connection:");
    session.expect("GET shopping milk", &["NOT FOUND"]).await?;
    println!("  # the buckets went with the registry that knew them");
    session.expect("CREATE shopping", &["OK"]).await?;
    session.expect("PUT shopping milk 3", &["OK"]).await?;
    session.expect("GET shopping milk", &["3", "OK"]).await?;
    let still = kv.acceptor().ok_or("no acceptor")?;
    println!(
        "  # the acceptor and its connections lived on: acceptor {} (was {})",
        still.pid(),
        acceptor.pid()
    );
    if still != acceptor {
        return Err("the acceptor was restarted".into());
    }
    print_tree(kv.supervisor()).await?;

    println!();
    println!("== stop the tree");
    println!("> kv.stop()");
    let Session { mut client } = session;
    let names = kv.names().clone();
    let stopped = step(kv.stop()).await?;
    println!("{stopped:?}");
    stopped.map_err(|error| error.to_string())?;
    let told = step(client.read_line()).await?;
    println!("> client.read_line()");
    println!("{told:?}");
    if !matches!(&told, Ok(Some(line)) if line == "SERVER SHUTTING DOWN") {
        return Err("the connection was not told".into());
    }
    let closed = step(client.read_line()).await?;
    println!("> client.read_line()");
    println!("{closed:?}");
    if !matches!(closed, Ok(None)) {
        return Err("the connection was not closed".into());
    }
    println!("  # the server said goodbye and closed the connection");
    println!("> gensrv::whereis({:?})", names.registry);
    let left = gensrv::whereis(&names.registry);
    println!("{left:?}");
    if left.is_some() {
        return Err("the registry outlived the tree".into());
    }
    Ok(())
}

/// The client side of the session, printing what it sends and gets.
struct Session {
    client: Client,
}

impl Session {
    /// Sends `line`, prints the reply, and checks it is `expected`.
    async fn expect(&mut self, line: &str, expected: &[&str]) -> Result<(), String> {
        self.expect_raw(line, line.as_bytes(), expected).await
    }

    /// Sends `bytes` as a line, shown as `shown`; prints the reply and checks it
    /// is `expected`.
    async fn expect_raw(
        &mut self,
        shown: &str,
        bytes: &[u8],
        expected: &[&str],
    ) -> Result<(), String> {
        println!("> {shown}");
        step(self.client.send_line(bytes))
            .await?
            .map_err(|error| format!("{shown}: {error}"))?;
        let reply = step(self.client.reply_to(bytes))
            .await?
            .map_err(|error| format!("{shown}: {error}"))?;
        for line in &reply {
            println!("{line}");
        }
        if reply != expected {
            return Err(format!("{shown}: expected {expected:?}, got {reply:?}"));
        }
        Ok(())
    }
}

/// Awaits one step of the script, failing it if it takes over 5 s.
async fn step<F: IntoFuture>(future: F) -> Result<F::Output, String> {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .map_err(|_| "a step took more than 5 s".to_string())
}

/// Prints the tree under `top`, with pids and registered names.
async fn print_tree(top: &SupervisorRef) -> Result<(), String> {
    println!("{}", describe("kv", top.pid(), top.name()));
    print_children(Node::Static(top.clone()), String::new()).await
}

/// A supervisor whose children are printed.
enum Node {
    Static(SupervisorRef),
    Dynamic(DynamicSupervisorRef),
}

fn print_children(node: Node, indent: String) -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
    Box::pin(async move {
        let children = match &node {
            Node::Static(sup) => step(sup.which_children()).await?,
            Node::Dynamic(sup) => step(sup.which_children()).await?,
        }
        .map_err(|error| error.to_string())?;
        for (i, child) in children.iter().enumerate() {
            let last = i + 1 == children.len();
            let (branch, more) = if last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            let Some(pid) = child.pid else {
                println!("{indent}{branch}{} (not running)", child.id);
                continue;
            };
            println!(
                "{indent}{branch}{}",
                describe(&child.id, pid, child.name.as_deref())
            );
            if child.kind == ChildKind::Supervisor {
                let node = match ServerRef::<Supervisor>::from_pid(pid) {
                    Some(sup) => Node::Static(sup.into()),
                    None => Node::Dynamic(
                        ServerRef::<DynamicSupervisor>::from_pid(pid)
                            .ok_or("a supervisor ended while printed")?
                            .into(),
                    ),
                };
                print_children(node, format!("{indent}{more}")).await?;
            }
        }
        Ok(())
    })
}

/// `id <pid> "name"`.
fn describe(id: &str, pid: Pid, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{id} {pid} {name:?}"),
        None => format!("{id} {pid}"),
    }
}
