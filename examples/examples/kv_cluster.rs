//! The Elixir guide's distributed key-value store ("Distributed tasks and
//! tags"), on gensrv's distribution (feature `remote`, over Zenoh), in three OS
//! processes on 127.0.0.1.
//!
//! ```text
//! cargo run --example kv_cluster
//! ```
//!
//! # The cluster
//!
//! ```text
//! router (this process, no argument)      Node, listening on 127.0.0.1
//! ├── Client    a server that holds a BucketRef of the n-z node and calls it
//! └── Watcher   a server that monitors that bucket and records its Down
//!
//! bucket node a-m (this binary, --bucket-node a-m <router endpoint>)
//! ├── the KV tree of `cargo run --example kv` (buckets, registry, acceptor)
//! └── KvNode    registered globally as "kv@a-m": create / lookup buckets here
//!
//! bucket node n-z (the same, --bucket-node n-z): KvNode "kv@n-z"
//! ```
//!
//! # The routing table
//!
//! As in the guide, each bucket lives on the node that the first letter of its
//! name picks:
//!
//! ```text
//! [{?a..?m, :"foo@computer-name"}, {?n..?z, :"bar@computer-name"}]
//! ```
//!
//! here [`ROUTING_TABLE`]: `'a'..='m'` to the node whose `KvNode` holds the
//! global name `kv@a-m`, `'n'..='z'` to `kv@n-z`. The router finds that server
//! with `KvNode::whereis_global(&node, name)`, asks it to create the bucket, and
//! gets back a `BucketRef` that travelled from the bucket's node: its calls go
//! there, whoever holds it. (The guide sends the whole call to the other node as
//! a task; here the handle is what travels, and calls go straight to the bucket.)
//!
//! # The script
//!
//! The router starts its node and the two bucket nodes (its own binary, stdin
//! piped so that they end with it, killed and reaped by a guard whatever
//! happens), routes buckets to both, then SIGKILLs the n-z node: the client's
//! next call fails with `Exited(NoConnection)`, the watcher's monitor gets a
//! `Down` with `NoConnection`, the name `kv@n-z` vanishes, and the a-m node
//! still answers. It then closes the a-m node's stdin (it stops its tree and
//! exits 0) and exits 0; anything unexpected makes it exit 1. Every wait is
//! bounded.

use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, Command, ExitCode, ExitStatus, Stdio};
use std::time::Duration;

use gensrv::remote::{Node, NodeConfig, NodeId};
use gensrv::{CallError, Context, Down, ExitReason, Pid, gen_server};
use gensrv_examples::kv::bucket::BucketRef;
use gensrv_examples::kv::cluster::{KvNode, ROUTING_TABLE, route};
use gensrv_examples::kv::{self, Names};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bucket_node = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => None,
        ["--bucket-node", range, router] => Some((range.to_string(), router.to_string())),
        _ => {
            eprintln!("usage: cargo run --example kv_cluster");
            eprintln!("       (it starts itself with --bucket-node <a-m|n-z> <router endpoint>)");
            return ExitCode::from(2);
        }
    };
    init_logging(bucket_node.is_some());
    // One thread: each step runs to its end before the next one prints.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match bucket_node {
        Some((range, router)) => runtime.block_on(serve_buckets(&range, &router)),
        None => runtime
            .block_on(within(120, "the script", router()))
            .and_then(|outcome| outcome),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines as `gensrv_examples::init_logging` writes them, without Zenoh's
/// own below warnings; a bucket node writes them on stderr, since its stdout is
/// the router's to read.
fn init_logging(bucket_node: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let builder = tracing_subscriber::fmt().without_time().with_target(false);
    let filter = Targets::new()
        .with_target("zenoh", LevelFilter::WARN)
        .with_default(LevelFilter::INFO);
    let _ = if bucket_node {
        let ansi = std::io::stderr().is_terminal();
        let subscriber = builder.with_writer(std::io::stderr).with_ansi(ansi);
        subscriber.finish().with(filter).try_init()
    } else {
        let ansi = std::io::stdout().is_terminal();
        builder.with_ansi(ansi).finish().with(filter).try_init()
    };
}

// ---------------------------------------------------------------------------
// A bucket node.

/// A bucket node: joins the router's cluster, starts the KV tree and a
/// [`KvNode`] registered globally as `kv@<range>`, prints `READY <node id>`, and
/// serves until its standard input closes (the router is done, or gone).
async fn serve_buckets(range: &str, router: &str) -> Result<(), String> {
    let node = Node::start(NodeConfig::default().connect(router))
        .await
        .map_err(|error| format!("node {range}: {error}"))?;
    // The TCP acceptor of the tree listens on a free port: unused here.
    let kv = kv::start_with(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), Names::default())
        .await
        .map_err(|error| format!("node {range}: {error}"))?;
    let front = KvNode::start(kv.names().registry.clone())
        .await
        .map_err(|error| format!("node {range}: KvNode: {error}"))?;
    let name = format!("kv@{range}");
    node.register_global(&front, &name)
        .await
        .map_err(|error| format!("node {range}: {name}: {error}"))?;
    println!("READY {}", node.id());
    // Until the router closes our stdin (or dies): a read on a blocking thread.
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    let _ = front.stop().await;
    kv.stop()
        .await
        .map_err(|error| format!("node {range}: stop: {error}"))
}

// ---------------------------------------------------------------------------
// The router's own servers.

/// A client of one bucket: holds its handle (which travelled from the bucket's
/// node) and calls it for whoever asks.
struct Client {
    bucket: BucketRef,
}

#[gen_server]
impl Client {
    #[init]
    fn init(bucket: BucketRef) -> Self {
        Client { bucket }
    }

    /// The bucket's value under `key`, or why the bucket did not answer.
    #[call]
    async fn get(&self, key: String) -> Result<Option<String>, CallError> {
        self.bucket.get(key).await
    }
}

/// Monitors what it is told to and records every `Down`.
#[derive(Default)]
struct Watcher {
    downs: Vec<(Pid, ExitReason)>,
}

#[gen_server]
impl Watcher {
    /// Monitors `bucket`, wherever it runs.
    #[call]
    fn watch(&mut self, bucket: BucketRef, ctx: &mut Context<Self>) {
        ctx.monitor(&bucket);
    }

    /// The `Down`s so far.
    #[call]
    fn downs(&self) -> Vec<(Pid, ExitReason)> {
        self.downs.clone()
    }

    #[info]
    fn down(&mut self, down: Down) {
        self.downs.push((down.pid, down.reason));
    }
}

// ---------------------------------------------------------------------------
// The router.

async fn router() -> Result<(), String> {
    println!("== the cluster: a router and two bucket nodes, on 127.0.0.1");
    let (node, endpoint) = start_router_node().await?;
    println!("router: node {}, listening on {endpoint}", node.id());
    let mut nodes = Vec::new();
    for (_, name) in &ROUTING_TABLE {
        let range = name.trim_start_matches("kv@");
        let started = BucketNode::start(range, &endpoint).await?;
        println!(
            "bucket node {range}: OS process {}, node {}",
            started.child.id(),
            started.id
        );
        nodes.push(started);
    }
    for started in &nodes {
        within(10, "the bucket node to be seen", async {
            node.wait_for(&started.id, Duration::from_secs(10))
                .await
                .then_some(())
                .ok_or(format!("node {} not seen", started.range))
        })
        .await??;
    }
    let mut fronts = Vec::new();
    for ((letters, name), started) in ROUTING_TABLE.iter().zip(&nodes) {
        let front = until(name, || KvNode::whereis_global(&node, name)).await?;
        check(
            front.pid().node().as_ref() == Some(&started.id),
            format!("{name} is not on its node"),
        )?;
        println!(
            "KvNode::whereis_global({name:?})   {}   (node {})   buckets {}..={}",
            front.pid(),
            started.range,
            letters.start(),
            letters.end(),
        );
        fronts.push(front);
    }

    println!();
    println!("== buckets, routed by the first letter of their names");
    let apples = create(&node, "apples").await?;
    let nuts = create(&node, "nuts").await?;
    let mangoes = create(&node, "mangoes").await?;
    let unrouted = route(&ROUTING_TABLE, "Zucchini");
    println!("> route(\"Zucchini\")   {unrouted:?}");
    check(unrouted.is_err(), "an upper-case name has no route")?;
    check(
        apples.pid().node() == Some(nodes[0].id.clone())
            && mangoes.pid().node() == Some(nodes[0].id.clone())
            && nuts.pid().node() == Some(nodes[1].id.clone()),
        "buckets on the wrong nodes",
    )?;

    put("apples", &apples, "granny_smith", "3").await?;
    put("nuts", &nuts, "pecans", "12").await?;
    put("mangoes", &mangoes, "alphonso", "6").await?;
    expect_get("apples", &apples, "granny_smith", Ok(Some("3".into()))).await?;
    expect_get("nuts", &nuts, "pecans", Ok(Some("12".into()))).await?;
    expect_get("nuts", &nuts, "walnuts", Ok(None)).await?;
    // The same bucket, found again by its node's registry.
    let again = call(
        "lookup",
        fronts[1]
            .lookup("nuts".into())
            .timeout(Duration::from_secs(5)),
    )
    .await??;
    let again_pid = again.as_ref().map(|bucket| bucket.pid());
    println!("> kv@n-z.lookup(\"nuts\")   Ok({again_pid:?})");
    check(again_pid == Some(nuts.pid()), "lookup found another bucket")?;

    println!();
    println!("== a client of `nuts` and a monitor of it, both servers of the router");
    let client = Client::start(nuts.clone())
        .await
        .map_err(|error| format!("client: {error}"))?;
    let watcher = Watcher::start(Watcher::default())
        .await
        .map_err(|error| format!("watcher: {error}"))?;
    println!("client {}, watcher {}", client.pid(), watcher.pid());
    let got = call("client.get", client.get("pecans".into())).await?;
    println!("> client.get(\"pecans\")   {got:?}");
    check(got == Ok(Some("12".into())), "the client's call failed")?;
    call("watch", watcher.watch(nuts.clone())).await?;
    println!(
        "> watcher.watch(nuts)   (ctx.monitor(&nuts), nuts being {})",
        nuts.pid()
    );

    println!();
    println!(
        "== SIGKILL the n-z node (OS process {})",
        nodes[1].child.id()
    );
    nodes[1].kill();
    let got = call("client.get", client.get("pecans".into())).await?;
    println!("> client.get(\"pecans\")   {got:?}");
    check(
        got == Err(CallError::Exited(ExitReason::NoConnection)),
        "the client's call did not fail with NoConnection",
    )?;
    let expected = vec![(nuts.pid(), ExitReason::NoConnection)];
    let downs = until("the watcher's Down", || async {
        let downs = watcher.downs().await.ok()?;
        (downs == expected).then_some(downs)
    })
    .await?;
    println!("> watcher.downs()   {downs:?}");
    let gone = until("kv@n-z to vanish", || async {
        KvNode::whereis_global(&node, "kv@n-z")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    gone?;
    println!("> KvNode::whereis_global(\"kv@n-z\")   None");
    let refused = create(&node, "nectarines").await;
    check(
        refused.is_err(),
        "a bucket was created on a node that is gone",
    )?;
    let direct = nuts.get("pecans".into()).await;
    println!("> nuts.get(\"pecans\")   {direct:?}");
    check(
        direct == Err(CallError::Exited(ExitReason::NoConnection)),
        "a call to the bucket did not fail with NoConnection",
    )?;
    println!("and the a-m node still answers:");
    expect_get("apples", &apples, "granny_smith", Ok(Some("3".into()))).await?;
    let lemons = create(&node, "lemons").await?;
    put("lemons", &lemons, "meyer", "2").await?;
    expect_get("lemons", &lemons, "meyer", Ok(Some("2".into()))).await?;

    println!();
    println!("== stop");
    client
        .stop()
        .await
        .map_err(|error| format!("client: {error}"))?;
    watcher
        .stop()
        .await
        .map_err(|error| format!("watcher: {error}"))?;
    drop((apples, nuts, mangoes, lemons, again, fronts));
    let mut nodes = nodes.into_iter();
    let a_m = nodes.next().ok_or("no a-m node")?;
    let status = a_m.close().await?;
    println!("the a-m node's stdin closed: it stopped its tree and exited: {status}");
    check(status.success(), "the a-m node did not exit cleanly")?;
    drop(nodes);
    drop(node);
    let left = gensrv::processes().len();
    println!("router node closed; processes left here: {left}");
    check(left == 0, format!("{left} processes left"))?;
    Ok(())
}

/// Starts the router's node on a free port of 127.0.0.1 (another, if it was
/// taken meanwhile); the node and its endpoint.
async fn start_router_node() -> Result<(Node, String), String> {
    let mut last = String::new();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("no free port: {error}"))?
            .port();
        let endpoint = format!("tcp/127.0.0.1:{port}");
        let config = NodeConfig::default().listen([endpoint.clone()]);
        match within(30, "the router's node", Node::start(config)).await? {
            Ok(node) => return Ok((node, endpoint)),
            Err(error) => last = error.to_string(),
        }
    }
    Err(format!("the router's node did not start: {last}"))
}

/// Routes `bucket` by the table to its node's `KvNode`, and creates it there.
async fn create(node: &Node, bucket: &str) -> Result<BucketRef, String> {
    let outcome = async {
        let name = route(&ROUTING_TABLE, bucket)?;
        let front = KvNode::whereis_global(node, name)
            .await
            .ok_or(format!("{name} is not registered"))?;
        let created = call("create", front.create(bucket.into())).await??;
        Ok::<_, String>((name, created))
    }
    .await;
    match outcome {
        Ok((name, created)) => {
            let pid = created.pid();
            let at = pid.node().map(|id| id.to_string()).unwrap_or_default();
            println!("> create {bucket:?}   routed to {name}: bucket {pid}, on node {at}");
            Ok(created)
        }
        Err(error) => {
            println!("> create {bucket:?}   Err({error:?})");
            Err(error)
        }
    }
}

async fn put(label: &str, bucket: &BucketRef, key: &str, value: &str) -> Result<(), String> {
    call("put", bucket.put(key.into(), value.into())).await?;
    println!("> {label}.put({key:?}, {value:?})   Ok(())");
    Ok(())
}

async fn expect_get(
    label: &str,
    bucket: &BucketRef,
    key: &str,
    expected: Result<Option<String>, CallError>,
) -> Result<(), String> {
    let got = within(10, "get", bucket.get(key.into())).await?;
    println!("> {label}.get({key:?})   {got:?}");
    check(got == expected, format!("expected {expected:?}"))
}

/// A call that must succeed, within 10 s.
async fn call<T, F>(what: &str, call: F) -> Result<T, String>
where
    F: std::future::IntoFuture<Output = Result<T, CallError>>,
{
    within(10, what, call)
        .await?
        .map_err(|error| format!("{what}: {error:?}"))
}

/// `future`, or an error if it takes more than `secs` seconds.
async fn within<F: std::future::IntoFuture>(
    secs: u64,
    what: &str,
    future: F,
) -> Result<F::Output, String> {
    tokio::time::timeout(Duration::from_secs(secs), future.into_future())
        .await
        .map_err(|_| format!("{what}: no answer within {secs} s"))
}

/// Polls `f` every 20 ms until it gives something, for at most 10 s.
async fn until<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> Result<T, String> {
    within(10, what, async {
        loop {
            if let Some(found) = f().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

fn check(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

// ---------------------------------------------------------------------------
// The bucket node processes.

/// A bucket node process: this binary with `--bucket-node`. Killed and reaped
/// when dropped, whatever happened; it also exits by itself when its stdin
/// closes, which happens when the router ends, even by SIGKILL.
struct BucketNode {
    child: Child,
    stdin: Option<ChildStdin>,
    range: String,
    id: NodeId,
}

impl BucketNode {
    /// Starts the node for `range`, connected to the router at `router`, and
    /// waits (at most 30 s) for its `READY <node id>` line.
    async fn start(range: &str, router: &str) -> Result<BucketNode, String> {
        let exe = std::env::current_exe().map_err(|error| format!("no binary: {error}"))?;
        let mut child = Command::new(exe)
            .args(["--bucket-node", range, router])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("bucket node {range}: {error}"))?;
        let stdout = child.stdout.take();
        let stdin = child.stdin.take();
        // Killed and reaped from here on, even if the line never comes.
        let mut started = BucketNode {
            child,
            stdin,
            range: range.to_string(),
            id: NodeId::parse("0").ok_or("a node id")?,
        };
        let stdout = stdout.ok_or("stdout is piped")?;
        let (line, ready) = tokio::sync::oneshot::channel();
        // A thread of its own: it ends when the child's stdout closes.
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut ready = String::new();
            let _ = stdout.read_line(&mut ready);
            let _ = line.send(ready);
            // The rest (nothing, normally), so that the child never blocks on it.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let ready = within(30, "the READY line", ready)
            .await?
            .map_err(|_| format!("bucket node {range} ended before it was ready"))?;
        let id = match ready.split_whitespace().collect::<Vec<_>>()[..] {
            ["READY", id] => NodeId::parse(id),
            _ => None,
        };
        started.id = id.ok_or(format!("bucket node {range} said {ready:?}"))?;
        Ok(started)
    }

    /// SIGKILL, and reaped.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Closes its stdin and waits (at most 10 s) for it to stop its tree and
    /// exit by itself.
    async fn close(mut self) -> Result<ExitStatus, String> {
        drop(self.stdin.take());
        within(10, "the bucket node to exit", async {
            loop {
                match self.child.try_wait() {
                    Ok(Some(status)) => return Ok(status),
                    Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
                    Err(error) => return Err(error.to_string()),
                }
            }
        })
        .await?
    }
}

impl Drop for BucketNode {
    fn drop(&mut self) {
        self.kill();
    }
}
