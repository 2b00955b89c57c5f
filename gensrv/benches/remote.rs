//! What a call and a cast cost when the server is on another node (feature
//! `remote`), beside the same server on this node and a hand-written tokio server.
//!
//! The other node runs in a **separate OS process**: this binary starts itself
//! again (`std::env::current_exe()`) with `GENSRV_BENCH_NODE=1`, and that child
//! starts a node listening on a free port of 127.0.0.1, starts a [`Pinger`] there,
//! prints `READY <endpoint> <node id> <pid index>` and serves until its standard
//! input (a pipe from this process) closes. This process starts a node connected
//! to it and calls the child's `Pinger` through a typed `ServerRef::<Pinger>`
//! made with `ServerRef::from_pid`. The child is killed and reaped when the bench
//! ends ([`NodeProcess`]'s `Drop`), and exits by itself if this process dies.
//!
//! # Groups
//!
//! - `remote_call/<runtime>`: one call round trip, awaited before the next.
//!   - `remote`: `pinger.ping(n)` to the `Pinger` of the other process (postcard,
//!     Zenoh query over TCP on loopback, the server's task there, the reply back).
//!   - `local`: the same call to a `Pinger` of this process.
//!   - `tokio_baseline`: a hand-written server (unbounded mpsc + oneshot).
//! - `remote_cast/<runtime>`: one cast, *including the server handling it*: the
//!   client sends batches of [`BATCH`] casts, each followed by one call that
//!   returns the number of casts the server has handled, checked to be all of
//!   them; the time of all batches is divided by the number of casts (so each
//!   cast's figure includes 1/[`BATCH`] of a call round trip). Same three lines.
//!
//! # Runtimes
//!
//! The caller's runtime: `current_thread`, or `multi_thread` (2 workers); in both
//! the client is a task spawned on it (as in `round_trip`). The nodes' Zenoh
//! runs on each node's own 2-worker runtime whatever the caller's, and the child's
//! server on its current-thread runtime.
//!
//! Run with `cargo bench -p gensrv --features remote --bench remote`.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use gensrv::remote::{
    Node, NodeConfig, NodeId, Refusal, Remote, RemoteReply, ReplySink, Vtable, from_body, to_body,
};
use gensrv::{Context, GenServer, Init, ReplyTo, ServerRef, Start};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

/// Casts per flushing call in the `remote_cast` groups.
pub const BATCH: u64 = 1000;

/// The environment variable that makes this binary the other node.
const NODE_ENV: &str = "GENSRV_BENCH_NODE";

/// The server: answers `ping(n)` with `n`, counts the casts it handles.
#[derive(Debug, Default)]
pub struct Pinger {
    added: u64,
}

/// The calls of [`Pinger`].
#[derive(Debug)]
pub enum PingerCall {
    /// Replies with `n`.
    Ping {
        /// The number.
        n: u64,
        /// Where the reply goes.
        reply_to: ReplyTo<u64>,
    },
    /// Replies with the number of casts handled so far.
    Added {
        /// Where the reply goes.
        reply_to: ReplyTo<u64>,
    },
}

/// The casts of [`Pinger`] (and as they travel).
#[derive(Debug, Serialize, Deserialize)]
pub enum PingerCast {
    /// Counts one cast (`n` is only carried).
    Add(u64),
}

/// [`PingerCall`] as it travels: without the `ReplyTo`s.
#[derive(Debug, Serialize, Deserialize)]
enum PingerWire {
    Ping(u64),
    Added,
}

impl GenServer for Pinger {
    type Arg = ();
    type Call = PingerCall;
    type Cast = PingerCast;
    type Info = std::convert::Infallible;
    type Ref = ServerRef<Pinger>;

    async fn init(_: (), _ctx: &mut Context<Self>) -> Init<Self> {
        Init::Ready(Pinger::default())
    }

    async fn handle_call(&mut self, call: PingerCall, _ctx: &mut Context<Self>) {
        match call {
            PingerCall::Ping { n, reply_to } => {
                let _ = reply_to.send(n);
            }
            PingerCall::Added { reply_to } => {
                let _ = reply_to.send(self.added);
            }
        }
    }

    async fn handle_cast(&mut self, cast: PingerCast, _ctx: &mut Context<Self>) {
        match cast {
            PingerCast::Add(n) => {
                black_box(n);
                self.added += 1;
            }
        }
    }

    async fn handle_info(&mut self, info: std::convert::Infallible, _ctx: &mut Context<Self>) {
        match info {}
    }

    fn __remote() -> Option<Vtable<Self>> {
        Some(Vtable::of())
    }
}

/// What `#[gen_server(remote)]` is to write, by hand (as `tests/src/remote.rs`).
impl Remote for Pinger {
    const FINGERPRINT: u64 = 0x7069_6e67_0000_0001;

    fn dispatch_call(server: &ServerRef<Self>, body: &[u8]) -> Result<RemoteReply, Refusal> {
        let failed = Refusal::Failed;
        Ok(match from_body::<PingerWire>(body)? {
            PingerWire::Ping(n) => {
                let call = server.call(|reply_to| PingerCall::Ping { n, reply_to });
                Box::pin(async move { to_body(&call.await.map_err(failed)?) })
            }
            PingerWire::Added => {
                let call = server.call(|reply_to| PingerCall::Added { reply_to });
                Box::pin(async move { to_body(&call.await.map_err(failed)?) })
            }
        })
    }

    fn split_call(call: PingerCall) -> Result<(Vec<u8>, ReplySink), Refusal> {
        Ok(match call {
            PingerCall::Ping { n, reply_to } => {
                (to_body(&PingerWire::Ping(n))?, ReplySink::new(reply_to))
            }
            PingerCall::Added { reply_to } => {
                (to_body(&PingerWire::Added)?, ReplySink::new(reply_to))
            }
        })
    }

    fn encode_cast(cast: PingerCast) -> Result<Vec<u8>, Refusal> {
        to_body(&cast)
    }

    fn dispatch_cast(server: &ServerRef<Self>, body: &[u8]) -> Result<(), Refusal> {
        server
            .cast(from_body::<PingerCast>(body)?)
            .map_err(|_| Refusal::NoProc)
    }
}

/// The typed client functions a `#[gen_server]` would generate.
trait PingerClient {
    async fn ping(&self, n: u64) -> u64;
    async fn added(&self) -> u64;
    fn add(&self, n: u64);
}

impl PingerClient for ServerRef<Pinger> {
    async fn ping(&self, n: u64) -> u64 {
        self.call(|reply_to| PingerCall::Ping { n, reply_to })
            .await
            .expect("ping")
    }

    async fn added(&self) -> u64 {
        self.call(|reply_to| PingerCall::Added { reply_to })
            .await
            .expect("added")
    }

    fn add(&self, n: u64) {
        self.cast(PingerCast::Add(n)).expect("add");
    }
}

/// The same server, written by hand on tokio: an unbounded mpsc of requests, a
/// oneshot per call for the reply, no timeout.
mod baseline {
    use tokio::sync::{mpsc, oneshot};
    use tokio::task::JoinHandle;

    enum Request {
        Ping(u64, oneshot::Sender<u64>),
        Added(oneshot::Sender<u64>),
        Add(u64),
        Stop,
    }

    /// The client handle.
    #[derive(Clone)]
    pub(crate) struct PingerRef {
        mailbox: mpsc::UnboundedSender<Request>,
    }

    /// A running server: its handle and its task.
    pub(crate) struct Pinger {
        pub(crate) handle: PingerRef,
        task: JoinHandle<()>,
    }

    impl Pinger {
        /// Spawns the server task.
        pub(crate) fn start() -> Pinger {
            let (mailbox, mut inbox) = mpsc::unbounded_channel();
            let task = tokio::spawn(async move {
                let mut added = 0u64;
                while let Some(request) = inbox.recv().await {
                    match request {
                        Request::Ping(n, reply) => {
                            let _ = reply.send(n);
                        }
                        Request::Added(reply) => {
                            let _ = reply.send(added);
                        }
                        Request::Add(n) => {
                            std::hint::black_box(n);
                            added += 1;
                        }
                        Request::Stop => break,
                    }
                }
            });
            Pinger {
                handle: PingerRef { mailbox },
                task,
            }
        }

        /// Asks the server to stop and waits until its task has ended.
        pub(crate) async fn stop(self) {
            self.handle
                .mailbox
                .send(Request::Stop)
                .unwrap_or_else(|_| panic!("baseline stop"));
            self.task.await.expect("baseline task");
        }
    }

    impl PingerRef {
        async fn call(&self, request: impl FnOnce(oneshot::Sender<u64>) -> Request) -> u64 {
            let (reply, replied) = oneshot::channel();
            self.mailbox
                .send(request(reply))
                .unwrap_or_else(|_| panic!("baseline call"));
            replied.await.expect("baseline reply")
        }
    }

    impl super::PingerClient for PingerRef {
        async fn ping(&self, n: u64) -> u64 {
            self.call(|reply| Request::Ping(n, reply)).await
        }

        async fn added(&self) -> u64 {
            self.call(Request::Added).await
        }

        fn add(&self, n: u64) {
            self.mailbox
                .send(Request::Add(n))
                .unwrap_or_else(|_| panic!("baseline cast"));
        }
    }
}

/// The other node: this binary in a child process, killed and reaped when dropped.
struct NodeProcess {
    child: Child,
    endpoint: String,
    node: NodeId,
    index: u64,
}

impl NodeProcess {
    /// Starts this binary as the other node and waits (at most 30 s) for its
    /// `READY` line.
    fn start() -> NodeProcess {
        let exe = std::env::current_exe().expect("the bench binary's path");
        let mut child = Command::new(exe)
            .env(NODE_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the node process starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        // Killed and reaped from here on, even if the line never comes.
        let mut process = NodeProcess {
            child,
            endpoint: String::new(),
            node: NodeId::parse("0").expect("a valid id"),
            index: 0,
        };
        let (lines, line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = String::new();
            let _ = BufReader::new(stdout).read_line(&mut ready);
            let _ = lines.send(ready);
        });
        let ready = line
            .recv_timeout(Duration::from_secs(30))
            .expect("the node process says it is ready within 30 s");
        let words: Vec<&str> = ready.split_whitespace().collect();
        let ["READY", endpoint, node, index] = words[..] else {
            panic!("unexpected line from the node process: {ready:?}");
        };
        process.endpoint = endpoint.to_string();
        process.node = NodeId::parse(node).expect("a node id");
        process.index = index.parse().expect("a pid index");
        process
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port of 127.0.0.1 (it may be taken before it is used: retried).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// The child: a node with a `Pinger`, until standard input closes.
fn serve() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut last = None;
        for _ in 0..5 {
            let endpoint = format!("tcp/127.0.0.1:{}", free_port());
            match Node::start(NodeConfig::default().listen([endpoint.clone()])).await {
                Ok(node) => {
                    let pinger = Start::<Pinger>::new(()).await.expect("pinger starts");
                    let index = Node::__index(pinger.pid());
                    println!("READY {endpoint} {} {index}", node.id());
                    let _ = tokio::task::spawn_blocking(|| {
                        let _ = std::io::stdin().read_to_end(&mut Vec::new());
                    })
                    .await;
                    return;
                }
                // The port was taken between the probe and the listen.
                Err(e) => last = Some(e),
            }
        }
        panic!("no node started: {last:?}");
    });
}

/// This process's node, connected to the child's, and the handle to its `Pinger`.
struct World {
    // Dropped first: the node, then the process.
    remote: ServerRef<Pinger>,
    _node: Node,
    _other: NodeProcess,
}

impl World {
    fn start() -> World {
        let other = NodeProcess::start();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let node = Node::start(NodeConfig::default().connect(other.endpoint.clone()))
                .await
                .expect("the node starts");
            assert!(
                node.wait_for(&other.node, Duration::from_secs(10)).await,
                "the other node is seen within 10 s"
            );
            let remote = ServerRef::<Pinger>::from_pid(node.__pid(&other.node, other.index))
                .expect("a typed handle to the other node's pinger");
            assert!(!remote.pid().is_local());
            assert_eq!(remote.ping(7).await, 7, "a first remote call");
            World {
                remote,
                _node: node,
                _other: other,
            }
        })
    }
}

/// Where the client runs: a runtime flavour; the client is a task spawned on it.
struct Setup {
    name: &'static str,
    rt: Runtime,
}

impl Setup {
    fn all() -> [Setup; 2] {
        [
            Setup {
                name: "current_thread",
                rt: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime"),
            },
            Setup {
                name: "multi_thread",
                rt: tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime"),
            },
        ]
    }
}

/// Times `iters` operations of `$body` on `$client` (a clone of `$server`), in a
/// task spawned on the setup's runtime.
macro_rules! timed {
    ($bencher:expr, $setup:expr, $server:expr, |$client:ident, $iters:ident| $body:expr) => {{
        let setup: &Setup = $setup;
        let server = $server;
        $bencher.to_async(&setup.rt).iter_custom(|$iters| {
            let $client = server.clone();
            async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    $body;
                    start.elapsed()
                })
                .await
                .expect("client task")
            }
        })
    }};
}

/// `iters` sequential calls.
async fn calls(client: &impl PingerClient, iters: u64) {
    for n in 0..iters {
        let back = client.ping(black_box(n)).await;
        assert_eq!(back, n);
    }
}

/// `iters` casts, in batches of [`BATCH`] each followed by a call that checks
/// the server has handled them all.
async fn casts(client: &impl PingerClient, iters: u64) {
    let mut seen = client.added().await;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        for n in 0..batch {
            client.add(black_box(n));
        }
        let added = client.added().await;
        assert_eq!(added, seen + batch, "every cast arrived before the call");
        seen = added;
        left -= batch;
    }
}

fn call(c: &mut Criterion, world: &World) {
    for setup in Setup::all() {
        let (local, base) = setup.rt.block_on(async {
            let local = Start::<Pinger>::new(()).await.expect("local pinger");
            (local, baseline::Pinger::start())
        });
        let mut group = c.benchmark_group(format!("remote_call/{}", setup.name));
        group.bench_function("remote", |b| {
            timed!(b, &setup, &world.remote, |client, iters| {
                calls(&client, iters).await
            })
        });
        group.bench_function("local", |b| {
            timed!(b, &setup, &local, |client, iters| {
                calls(&client, iters).await
            })
        });
        group.bench_function("tokio_baseline", |b| {
            timed!(b, &setup, &base.handle, |client, iters| {
                calls(&client, iters).await
            })
        });
        group.finish();
        setup.rt.block_on(async {
            local.stop().await.expect("local stop");
            base.stop().await;
        });
    }
}

fn cast(c: &mut Criterion, world: &World) {
    for setup in Setup::all() {
        let (local, base) = setup.rt.block_on(async {
            let local = Start::<Pinger>::new(()).await.expect("local pinger");
            (local, baseline::Pinger::start())
        });
        let mut group = c.benchmark_group(format!("remote_cast/{}", setup.name));
        group.bench_function("remote", |b| {
            timed!(b, &setup, &world.remote, |client, iters| {
                casts(&client, iters).await
            })
        });
        group.bench_function("local", |b| {
            timed!(b, &setup, &local, |client, iters| {
                casts(&client, iters).await
            })
        });
        group.bench_function("tokio_baseline", |b| {
            timed!(b, &setup, &base.handle, |client, iters| {
                casts(&client, iters).await
            })
        });
        group.finish();
        setup.rt.block_on(async {
            local.stop().await.expect("local stop");
            base.stop().await;
        });
    }
}

fn main() {
    // The other node: nothing of criterion's.
    if std::env::var_os(NODE_ENV).is_some() {
        serve();
        return;
    }
    let world = World::start();
    // A remote call is ~100-200 us: 30 samples over 4 s keep the whole bench
    // (12 lines) around a minute and a half.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30)
        .configure_from_args();
    call(&mut c, &world);
    cast(&mut c, &world);
    c.final_summary();
    drop(world);
}
