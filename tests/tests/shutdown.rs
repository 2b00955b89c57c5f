//! Running a tree until the program is told to stop (`gensrv::supervisor::run_until`
//! and `run_until_signal`): in this process, with any future as the trigger; and
//! for real, with the KV server run as a child process (`kv_serve`, the same
//! `gensrv_examples::kv::serve` as `cargo run --example kv -- serve`) on a free
//! port of 127.0.0.1, sent SIGTERM and SIGINT.
//!
//! Every child process is held by a guard that kills and reaps it when dropped,
//! also when a test fails; every wait is bounded.

mod supervision;

use std::future::{pending, ready};
use std::time::{Duration, Instant};

use gensrv::supervisor::{self, Ended, Restart, Shutdown, Strategy, Supervisor, SupervisorRef};
use gensrv::{ExitReason, Pid};
use gensrv_tests::within;
use supervision::{Ending, Log, Plan, child, crash, pid_of, shutdowns, worker};
use tokio::sync::oneshot;

async fn start(sup: Supervisor) -> SupervisorRef {
    within(5, Supervisor::start(sup)).await.unwrap()
}

/// The pids of `sup` and of every process under it.
async fn tree(sup: &SupervisorRef) -> Vec<Pid> {
    let mut pids = vec![sup.pid()];
    let mut i = 0;
    while i < pids.len() {
        if let Some(sup) = gensrv::ServerRef::<Supervisor>::from_pid(pids[i]) {
            let sup = SupervisorRef::from(sup);
            for child in within(5, sup.which_children()).await.unwrap() {
                pids.extend(child.pid);
            }
        }
        i += 1;
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_stops_the_tree_children_before_parents_when_the_trigger_fires() {
    let log = Log::new();
    let inner = Supervisor::new(Strategy::OneForOne)
        .child(worker("c", &log))
        .child(worker("d", &log));
    let top = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("a", &log))
            .child(Supervisor::child_spec(inner).with_id("inner"))
            .child(worker("b", &log)),
    )
    .await;
    let pids = tree(&top).await;
    assert_eq!(pids.len(), 6);
    log.take();

    let (stop, stop_asked) = oneshot::channel();
    let running = {
        let top = top.clone();
        tokio::spawn(async move { supervisor::run_until(&top, stop_asked).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!running.is_finished(), "it runs until the trigger fires");
    assert!(log.take().is_empty());

    stop.send("please").unwrap();
    let ended = within(5, running).await.unwrap();
    assert_eq!(
        ended,
        Ended::Stopped {
            trigger: Ok("please"),
            stop: Ok(())
        }
    );
    // Last started first, each subtree before its parent.
    assert_eq!(log.take(), shutdowns(&["b", "d", "c", "a"]));
    for pid in pids {
        assert!(gensrv::process_info(pid).is_none(), "{pid} still runs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_gives_the_reason_of_a_tree_that_ended_by_itself() {
    let log = Log::new();
    let top = start(
        Supervisor::new(Strategy::OneForOne)
            .max_restarts(0)
            .child(worker("a", &log)),
    )
    .await;
    let running = {
        let top = top.clone();
        tokio::spawn(async move { supervisor::run_until(&top, pending::<()>()).await })
    };
    // One restart is too many: the supervisor gives up, and ends with `Shutdown`.
    crash(&child(&top, "a").await).await;
    assert_eq!(
        within(5, running).await.unwrap(),
        Ended::Exited(ExitReason::Shutdown)
    );

    // Ended before it is run: the same, whatever the trigger.
    assert_eq!(
        within(5, supervisor::run_until(&top, ready(()))).await,
        Ended::Exited(ExitReason::Shutdown)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_kills_a_child_whose_terminate_outlasts_its_shutdown_timeout() {
    let timeout = Duration::from_millis(200);
    let log = Log::new();
    let top = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("a", &log))
            .child(
                Plan::new("h", &log)
                    .ending(Ending::Hang)
                    .spec()
                    .with_restart(Restart::Temporary)
                    .with_shutdown(Shutdown::Timeout(timeout)),
            ),
    )
    .await;
    let h = pid_of(&top, "h").await.unwrap();
    log.take();

    let started = Instant::now();
    let ended = within(5, supervisor::run_until(&top, ready(()))).await;
    let took = started.elapsed();
    assert_eq!(
        ended,
        Ended::Stopped {
            trigger: (),
            stop: Ok(())
        }
    );
    assert!(took >= timeout && took < timeout * 5, "{took:?}");
    assert_eq!(log.take(), ["hang h", "stop a shutdown"]);
    assert!(gensrv::process_info(h).is_none());
}

/// The KV server as a child process, sent signals with `kill(1)`.
#[cfg(unix)]
mod kv_process {
    use std::io::{BufRead, BufReader};
    use std::net::SocketAddr;
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::time::{Duration, Instant};

    use gensrv_examples::kv::client::Client;
    use gensrv_tests::within;
    use tokio::sync::mpsc;

    /// The KV server (`kv_serve 127.0.0.1:0`) running as a child process; killed
    /// and reaped when dropped, whatever happened.
    struct KvProcess {
        child: Child,
        /// Its stdout and stderr, line by line (stderr's marked), as they come.
        output: mpsc::UnboundedReceiver<String>,
        /// What it printed so far.
        seen: Vec<String>,
        addr: SocketAddr,
    }

    impl KvProcess {
        /// Starts it, and waits until it says where it listens: its signal
        /// handlers are installed by then.
        async fn start() -> KvProcess {
            let mut child = Command::new(env!("CARGO_BIN_EXE_kv_serve"))
                .arg("127.0.0.1:0")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("kv_serve starts");
            let (lines, output) = mpsc::unbounded_channel();
            let stdout = child.stdout.take().unwrap();
            let stderr = child.stderr.take().unwrap();
            for (stream, mark) in [
                (Box::new(stdout) as Box<dyn std::io::Read + Send>, ""),
                (Box::new(stderr), "stderr: "),
            ] {
                let lines = lines.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { return };
                        if lines.send(format!("{mark}{line}")).is_err() {
                            return;
                        }
                    }
                });
            }
            // The guard first: a failure below kills it.
            let mut kv = KvProcess {
                child,
                output,
                seen: Vec::new(),
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            };
            let line = kv.wait_for_line("KV server listening on ").await;
            kv.addr = line["KV server listening on ".len()..].parse().unwrap();
            kv
        }

        /// Waits until it prints a line that starts with `prefix`; gives that line.
        async fn wait_for_line(&mut self, prefix: &str) -> String {
            let found = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(line) = self.output.recv().await {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return Some(line);
                    }
                }
                None
            })
            .await;
            match found {
                Ok(Some(line)) => line,
                _ => panic!(
                    "no line {prefix:?} within 10 s; it printed {:#?}",
                    self.seen
                ),
            }
        }

        /// Sends it `signal` (`TERM`, `INT`) with `kill(1)`.
        fn signal(&self, signal: &str) {
            let sent = Command::new("kill")
                .args(["-s", signal, &self.child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(sent.success(), "kill -s {signal} failed");
        }

        /// Waits for it to exit, for up to `secs` seconds.
        async fn exit_status(&mut self, secs: u64) -> ExitStatus {
            let deadline = Instant::now() + Duration::from_secs(secs);
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return status;
                }
                assert!(
                    Instant::now() < deadline,
                    "still running after {secs} s; it printed {:#?}",
                    self.seen
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    impl Drop for KvProcess {
        fn drop(&mut self) {
            // Fails only if it has been reaped already.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Connects `n` clients, each with a bucket of its own and a value in it: all
    /// accepted and served by the time this returns.
    async fn clients(kv: &KvProcess, n: usize) -> Vec<Client> {
        let mut clients = Vec::new();
        for i in 0..n {
            let mut client = within(5, Client::connect(kv.addr)).await.unwrap();
            let bucket = format!("b{i}");
            for line in [format!("CREATE {bucket}"), format!("PUT {bucket} k {i}")] {
                assert_eq!(within(5, client.command(&line)).await.unwrap(), ["OK"]);
            }
            clients.push(client);
        }
        clients
    }

    /// Each client reads `SERVER SHUTTING DOWN`, then the end of the connection.
    async fn told_and_closed(clients: Vec<Client>) {
        for (i, mut client) in clients.into_iter().enumerate() {
            let told = within(5, client.read_line()).await.unwrap();
            assert_eq!(told.as_deref(), Some("SERVER SHUTTING DOWN"), "client {i}");
            assert_eq!(
                within(5, client.read_line()).await.unwrap(),
                None,
                "client {i}"
            );
        }
    }

    /// A signal stops the server: every connection is told and closed, the tree is
    /// stopped (every terminate run, no process left), and it exits 0.
    async fn a_signal_stops_the_kv_server_gracefully(signal: &str, name: &str, n: usize) {
        let mut kv = KvProcess::start().await;
        let clients = clients(&kv, n).await;

        let sent = Instant::now();
        kv.signal(signal);
        told_and_closed(clients).await;
        kv.wait_for_line(&format!("{name}: stopped the tree: Ok(())"))
            .await;
        assert_eq!(
            kv.wait_for_line("processes left: ").await,
            "processes left: 0"
        );
        let status = kv.exit_status(10).await;
        assert!(status.success(), "{status}; it printed {:#?}", kv.seen);
        // The clients read their end at once, so no connection lingered.
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "{:?}",
            sent.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_stops_the_kv_server_gracefully() {
        a_signal_stops_the_kv_server_gracefully("TERM", "SIGTERM", 8).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigint_stops_the_kv_server_gracefully() {
        a_signal_stops_the_kv_server_gracefully("INT", "SIGINT", 2).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_kv_server_without_connections_exits_at_once_on_sigterm() {
        let mut kv = KvProcess::start().await;
        let sent = Instant::now();
        kv.signal("TERM");
        let status = kv.exit_status(10).await;
        assert!(status.success(), "{status}; it printed {:#?}", kv.seen);
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "{:?}",
            sent.elapsed()
        );
        // Nothing is listening any more.
        assert!(within(5, Client::connect(kv.addr)).await.is_err());
    }
}
