//! The KV server of the examples crate (`gensrv_examples::kv`), over real TCP
//! sockets on 127.0.0.1: the protocol, many clients at once, bad input, and the
//! supervision tree recovering underneath open connections.
//!
//! Every test starts its own tree on a free port. Registered names are
//! process-wide and the tests of this file run in parallel threads of one
//! process, so each tree gets names of its own (`Names::new(prefix)`); only
//! `the_guide_s_session` uses the guide's default names.

use std::net::SocketAddr;
use std::time::Duration;

use gensrv::supervisor::{Supervisor, SupervisorRef};
use gensrv::{ExitReason, ServerRef};
use gensrv_examples::kv::client::Client;
use gensrv_examples::kv::command::REGISTRY_WAIT;
use gensrv_examples::kv::server::{AcceptFailed, AcceptorRef};
use gensrv_examples::kv::{self, Kv, MAX_LINE, Names};
use gensrv_tests::within;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start(prefix: &str) -> Kv {
    within(5, kv::start_with(localhost(), Names::new(prefix)))
        .await
        .unwrap()
}

/// A connection that checks replies byte for byte. (Writes pass through the
/// buffered reader.)
struct Raw(BufReader<TcpStream>);

impl Raw {
    async fn connect(kv: &Kv) -> Raw {
        let stream = within(5, TcpStream::connect(kv.local_addr()))
            .await
            .unwrap();
        Raw(BufReader::new(stream))
    }

    /// Sends `bytes` and expects exactly `reply` back.
    async fn expect(&mut self, bytes: &[u8], reply: &str) {
        within(10, self.0.write_all(bytes)).await.unwrap();
        self.expect_reply(reply, bytes).await;
    }

    /// Reads as many lines as `reply` has, and compares them with it: a wrong
    /// reply fails here, showing what came, rather than as a read that waits
    /// for more.
    async fn expect_reply(&mut self, reply: &str, after: &[u8]) {
        let mut got = Vec::new();
        for _ in 0..reply.matches('\n').count() {
            within(10, self.0.read_until(b'\n', &mut got))
                .await
                .unwrap_or_else(|error| panic!("no reply to {:?}: {error}", shorten(after)));
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            reply,
            "reply to {:?}",
            shorten(after)
        );
    }

    /// Whether the server said it is shutting down, then closed the connection.
    async fn told_and_closed(&mut self) -> bool {
        let mut line = Vec::new();
        let told = within(5, self.0.read_until(b'\n', &mut line)).await.is_ok()
            && line == b"SERVER SHUTTING DOWN\r\n";
        told && self.closed_by_server().await
    }

    /// Whether the server closed the connection (reads the end, or fails).
    async fn closed_by_server(&mut self) -> bool {
        let mut byte = [0];
        matches!(within(5, self.0.read(&mut byte)).await, Ok(0) | Err(_))
    }
}

fn shorten(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
    if bytes.len() > 60 {
        format!("{text}... ({} bytes)", bytes.len())
    } else {
        text
    }
}

/// The store supervisor of `kv` (the first child of the top one).
async fn store_of(kv: &Kv) -> SupervisorRef {
    let children = within(5, kv.supervisor().which_children()).await.unwrap();
    let pid = children[0].pid.expect("the store runs");
    ServerRef::<Supervisor>::from_pid(pid).unwrap().into()
}

/// Waits until `get` gives something other than `old`.
async fn next_incarnation<T: PartialEq>(old: &T, get: impl Fn() -> Option<T>) -> T {
    within(5, async {
        loop {
            match get() {
                Some(new) if new != *old => return new,
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    })
    .await
}

/// Waits until the acceptor counts `n` open connections.
async fn connections_become(acceptor: &AcceptorRef, n: usize) {
    within(5, async {
        loop {
            if acceptor.connections().await.unwrap() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

/// Every command and answer of the protocol, byte for byte, under the guide's
/// names; and the tree they run in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_guide_s_session() {
    let kv = within(5, kv::start(localhost())).await.unwrap();
    let mut c = Raw::connect(&kv).await;

    c.expect(b"CREATE shopping\r\n", "OK\r\n").await;
    c.expect(b"PUT shopping milk 1\r\n", "OK\r\n").await;
    c.expect(b"GET shopping milk\r\n", "1\r\nOK\r\n").await;
    // A missing key: an empty value line, as the guide's `"#{nil}"`.
    c.expect(b"GET shopping eggs\r\n", "\r\nOK\r\n").await;
    c.expect(b"PUT shopping milk 2\r\n", "OK\r\n").await;
    c.expect(b"GET shopping milk\r\n", "2\r\nOK\r\n").await;
    c.expect(b"DELETE shopping milk\r\n", "OK\r\n").await;
    c.expect(b"GET shopping milk\r\n", "\r\nOK\r\n").await;
    // Deleting what is not there is fine too.
    c.expect(b"DELETE shopping milk\r\n", "OK\r\n").await;

    // No such bucket.
    c.expect(b"GET groceries milk\r\n", "NOT FOUND\r\n").await;
    c.expect(b"PUT groceries milk 1\r\n", "NOT FOUND\r\n").await;
    c.expect(b"DELETE groceries milk\r\n", "NOT FOUND\r\n")
        .await;
    c.expect(b"FETCH shopping milk\r\n", "UNKNOWN COMMAND\r\n")
        .await;

    // CREATE is idempotent: the same bucket, its values kept.
    c.expect(b"PUT shopping eggs 12\r\n", "OK\r\n").await;
    c.expect(b"CREATE shopping\r\n", "OK\r\n").await;
    c.expect(b"GET shopping eggs\r\n", "12\r\nOK\r\n").await;

    // `\n` alone ends a line too; words are separated by any whitespace.
    c.expect(b"GET shopping eggs\n", "12\r\nOK\r\n").await;
    c.expect(b"  PUT\tshopping   eggs \t 6  \r\n", "OK\r\n")
        .await;
    c.expect(b"GET shopping eggs\r\n", "6\r\nOK\r\n").await;

    // Pipelined: many commands in one write, answered in order.
    c.expect(
        b"CREATE groceries\r\nPUT groceries a 1\nPUT groceries b 2\r\nGET groceries a\r\nGET groceries b\nGET nothing a\r\nDELETE groceries a\r\nGET groceries a\r\n",
        "OK\r\nOK\r\nOK\r\n1\r\nOK\r\n2\r\nOK\r\nNOT FOUND\r\nOK\r\n\r\nOK\r\n",
    )
    .await;

    // The tree, as the guide builds it, under its names.
    let top = kv.supervisor();
    assert_eq!(gensrv::whereis("kv"), Some(top.pid()));
    let ids: Vec<String> = within(5, top.which_children())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["store", "acceptor"]);
    let store = store_of(&kv).await;
    let ids: Vec<String> = within(5, store.which_children())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["buckets", "registry"]);
    let buckets = gensrv::supervisor::DynamicSupervisor::whereis("kv_buckets").unwrap();
    assert_eq!(within(5, buckets.count_children()).await.unwrap().active, 2);
    let registry = kv.registry().unwrap();
    assert_eq!(gensrv::whereis("kv_registry"), Some(registry.pid()));
    assert_eq!(
        within(5, registry.names()).await.unwrap(),
        ["groceries", "shopping"]
    );
    let acceptor = kv.acceptor().unwrap();
    assert_eq!(gensrv::whereis("kv_acceptor"), Some(acceptor.pid()));
    assert_eq!(
        within(5, acceptor.local_addr()).await.unwrap(),
        kv.local_addr()
    );
    assert_eq!(within(5, acceptor.connections()).await.unwrap(), 1);

    within(10, kv.stop()).await.unwrap();
}

/// 24 clients on buckets of their own and 8 on a shared one, all at once, each on
/// its own connection: every answer is right, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_at_once() {
    let kv = start("kv_many").await;
    let addr = kv.local_addr();
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..24 {
        clients.spawn(async move {
            let mut c = Client::connect(addr).await.unwrap();
            let bucket = format!("own{i}");
            assert_eq!(
                c.command(&format!("CREATE {bucket}")).await.unwrap(),
                ["OK"]
            );
            for j in 0..50 {
                let put = format!("PUT {bucket} k{j} {i}-{j}");
                assert_eq!(c.command(&put).await.unwrap(), ["OK"]);
            }
            for j in (0..50).step_by(7) {
                let got = c.command(&format!("GET {bucket} k{j}")).await.unwrap();
                assert_eq!(got, [format!("{i}-{j}"), "OK".into()]);
                let got = c.command(&format!("GET own{} k{j}", (i + 1) % 24)).await;
                // Another client's bucket: there or not yet, never wrong.
                let got = got.unwrap();
                assert!(
                    got == ["NOT FOUND"]
                        || got == ["", "OK"]
                        || got == [format!("{}-{j}", (i + 1) % 24), "OK".into()],
                    "{got:?}"
                );
            }
            assert_eq!(
                c.command(&format!("DELETE {bucket} k0")).await.unwrap(),
                ["OK"]
            );
            assert_eq!(
                c.command(&format!("GET {bucket} k0")).await.unwrap(),
                ["", "OK"]
            );
        });
    }
    for i in 0..8 {
        clients.spawn(async move {
            let mut c = Client::connect(addr).await.unwrap();
            // All of them create it; one bucket results.
            assert_eq!(c.command("CREATE shared").await.unwrap(), ["OK"]);
            for j in 0..20 {
                let put = format!("PUT shared c{i}k{j} {i}.{j}");
                assert_eq!(c.command(&put).await.unwrap(), ["OK"]);
                // Everyone writes the same key too; the last write wins.
                assert_eq!(
                    c.command(&format!("PUT shared same {i}")).await.unwrap(),
                    ["OK"]
                );
            }
        });
    }
    within(30, async {
        while let Some(done) = clients.join_next().await {
            done.unwrap();
        }
    })
    .await;

    let mut c = within(5, Client::connect(addr)).await.unwrap();
    for i in 0..8 {
        for j in 0..20 {
            let got = within(5, c.command(&format!("GET shared c{i}k{j}")))
                .await
                .unwrap();
            assert_eq!(got, [format!("{i}.{j}"), "OK".into()]);
        }
    }
    let same = within(5, c.command("GET shared same")).await.unwrap();
    assert!(
        (0..8).any(|i| same == [i.to_string(), "OK".into()]),
        "{same:?}"
    );
    let registry = kv.registry().unwrap();
    assert_eq!(within(5, registry.names()).await.unwrap().len(), 25);
    within(10, kv.stop()).await.unwrap();
}

/// Every kind of bad input gets its answer (or, for a client that goes away,
/// none), the connection that sent it stays usable, and a neighbour connection
/// works throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_never_hurts_a_neighbour() {
    let kv = start("kv_bad").await;
    let mut neighbour = Raw::connect(&kv).await;
    neighbour.expect(b"CREATE calm\r\n", "OK\r\n").await;
    neighbour.expect(b"PUT calm k v\r\n", "OK\r\n").await;
    let mut bad = Raw::connect(&kv).await;

    let unknown: &[&[u8]] = &[
        b"FETCH calm k\r\n",
        b"get calm k\r\n",
        b"CREATE\r\n",
        b"CREATE a b\r\n",
        b"GET calm\r\n",
        b"GET calm k extra\r\n",
        b"PUT calm k\r\n",
        b"PUT calm k v w\r\n",
        b"DELETE calm\r\n",
        b"DELETE calm k v\r\n",
        // Not UTF-8.
        b"GET calm \xff\xfe\r\n",
        b"PUT calm k \xc3\r\n",
        b"\x80\x81\x82\n",
        b"\x00\x01\x02\r\n",
        // Empty, or only whitespace.
        b"\r\n",
        b"\n",
        b"   \t \r\n",
        b"\r\r\n",
    ];
    for line in unknown {
        bad.expect(line, "UNKNOWN COMMAND\r\n").await;
        neighbour.expect(b"GET calm k\r\n", "v\r\nOK\r\n").await;
    }

    // The limit: MAX_LINE bytes are a line, with either ending; one more is not.
    let at_limit = format!("PUT calm long {}", "x".repeat(MAX_LINE - 14));
    assert_eq!(at_limit.len(), MAX_LINE);
    bad.expect(format!("{at_limit}\r\n").as_bytes(), "OK\r\n")
        .await;
    bad.expect(format!("{at_limit}\n").as_bytes(), "OK\r\n")
        .await;
    bad.expect(
        b"GET calm long\r\n",
        &format!("{}\r\nOK\r\n", "x".repeat(MAX_LINE - 14)),
    )
    .await;
    bad.expect(format!("{at_limit}y\r\n").as_bytes(), "LINE TOO LONG\r\n")
        .await;
    bad.expect(format!("{at_limit}y\n").as_bytes(), "LINE TOO LONG\r\n")
        .await;

    // A line of 1 MiB, then a command in the same write: the long line is
    // skipped to its end and the command after it answered.
    let mut huge = b"PUT calm huge ".to_vec();
    huge.resize(1 << 20, b'h');
    huge.extend_from_slice(b"\r\nGET calm k\r\n");
    bad.expect(&huge, "LINE TOO LONG\r\nv\r\nOK\r\n").await;
    neighbour.expect(b"GET calm huge\r\n", "\r\nOK\r\n").await;

    // 4 MiB without a line end, in pieces: answered once the limit is passed,
    // long before the end; the rest is dropped as it comes.
    bad.expect(&vec![b'z'; 64 * 1024], "LINE TOO LONG\r\n")
        .await;
    for _ in 0..63 {
        within(10, bad.0.write_all(&vec![b'z'; 64 * 1024]))
            .await
            .unwrap();
    }
    neighbour.expect(b"GET calm k\r\n", "v\r\nOK\r\n").await;
    // Its end of line ends the skipping; the connection works again.
    bad.expect(b"\r\nGET calm k\r\n", "v\r\nOK\r\n").await;

    // Clients that go away mid-line: half a command, or half of a huge line.
    let acceptor = kv.acceptor().unwrap();
    connections_become(&acceptor, 2).await;
    let mut half = Raw::connect(&kv).await;
    within(5, half.0.write_all(b"PUT calm k gone"))
        .await
        .unwrap();
    let mut half_huge = Raw::connect(&kv).await;
    within(10, half_huge.0.write_all(&vec![b'q'; 1 << 20]))
        .await
        .unwrap();
    half_huge.expect_reply("LINE TOO LONG\r\n", b"1 MiB").await;
    connections_become(&acceptor, 4).await;
    drop(half);
    drop(half_huge);
    // Their tasks end; the unfinished command never ran.
    connections_become(&acceptor, 2).await;
    neighbour.expect(b"GET calm k\r\n", "v\r\nOK\r\n").await;
    bad.expect(b"GET calm k\r\n", "v\r\nOK\r\n").await;

    // A client that sends and never reads, and one that connects and says
    // nothing, hold their own connections only.
    let _silent = Raw::connect(&kv).await;
    let mut deaf = Raw::connect(&kv).await;
    let deaf = tokio::spawn(async move {
        let flood = b"GET calm k\r\n".repeat(10_000);
        // Until the buffers are full both ways and the server waits for this
        // client to read: forever.
        loop {
            deaf.0.write_all(&flood).await.unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    connections_become(&acceptor, 4).await;
    neighbour.expect(b"GET calm k\r\n", "v\r\nOK\r\n").await;
    bad.expect(b"GET calm k\r\n", "v\r\nOK\r\n").await;
    deaf.abort();
    assert!(within(5, deaf).await.unwrap_err().is_cancelled());
    connections_become(&acceptor, 3).await;

    within(10, kv.stop()).await.unwrap();
}

/// A bucket that crashes is gone for every client, and CREATE makes a new, empty
/// one; other buckets are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_bucket_is_forgotten() {
    let kv = start("kv_crash").await;
    let mut c = Raw::connect(&kv).await;
    c.expect(
        b"CREATE shopping\r\nPUT shopping milk 1\r\n",
        "OK\r\nOK\r\n",
    )
    .await;
    c.expect(b"CREATE other\r\nPUT other eggs 2\r\n", "OK\r\nOK\r\n")
        .await;

    let registry = kv.registry().unwrap();
    let shopping = within(5, registry.lookup("shopping".into()))
        .await
        .unwrap()
        .unwrap();
    let crashed = within(5, shopping.crash()).await;
    assert!(
        matches!(
            crashed,
            Err(gensrv::CallError::Exited(ExitReason::Panic(_)))
        ),
        "{crashed:?}"
    );

    c.expect(b"GET shopping milk\r\n", "NOT FOUND\r\n").await;
    c.expect(b"PUT shopping milk 1\r\n", "NOT FOUND\r\n").await;
    c.expect(b"GET other eggs\r\n", "2\r\nOK\r\n").await;
    c.expect(b"CREATE shopping\r\n", "OK\r\n").await;
    c.expect(b"GET shopping milk\r\n", "\r\nOK\r\n").await;
    // Not restarted by its supervisor: only the new one and `other` run.
    let buckets = gensrv::supervisor::DynamicSupervisor::whereis(&kv.names().buckets).unwrap();
    assert_eq!(within(5, buckets.count_children()).await.unwrap().active, 2);
    assert_eq!(kv.registry(), Some(registry));

    within(10, kv.stop()).await.unwrap();
}

/// A registry that is killed is restarted with new buckets' supervisor (one for
/// all); open connections live on and reach the new registry, waiting for it
/// if they must.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_registry_recovers_under_open_connections() {
    let kv = start("kv_recover").await;
    let mut a = Raw::connect(&kv).await;
    let mut b = Raw::connect(&kv).await;
    a.expect(
        b"CREATE shopping\r\nPUT shopping milk 1\r\n",
        "OK\r\nOK\r\n",
    )
    .await;
    b.expect(b"GET shopping milk\r\n", "1\r\nOK\r\n").await;
    let acceptor = kv.acceptor().unwrap();
    let store = store_of(&kv).await;
    let old_buckets = gensrv::supervisor::DynamicSupervisor::whereis(&kv.names().buckets).unwrap();

    let registry = kv.registry().unwrap();
    registry.kill();
    // At once, while the store may still be restarting: the commands wait for
    // the new registry.
    let sent = Instant::now();
    a.expect(b"CREATE fresh\r\n", "OK\r\n").await;
    b.expect(b"GET shopping milk\r\n", "NOT FOUND\r\n").await;
    assert!(sent.elapsed() < REGISTRY_WAIT, "{:?}", sent.elapsed());

    let new_registry = next_incarnation(&registry, || kv.registry()).await;
    assert_eq!(
        within(5, new_registry.names()).await.unwrap(),
        ["fresh"],
        "the old buckets went with the old registry"
    );
    assert!(!old_buckets.is_alive());
    b.expect(b"PUT fresh k v\r\n", "OK\r\n").await;
    a.expect(b"GET fresh k\r\n", "v\r\nOK\r\n").await;
    // The store handled it; the acceptor and its connections were not touched.
    assert_eq!(kv.acceptor(), Some(acceptor.clone()));
    assert_eq!(store_of(&kv).await, store);
    assert_eq!(within(5, acceptor.connections()).await.unwrap(), 2);

    // A registry gone for longer than the wait: `SERVICE UNAVAILABLE`, and the
    // connection still works when it is back.
    within(10, store.terminate_child("registry")).await.unwrap();
    let sent = Instant::now();
    a.expect(b"GET fresh k\r\n", "SERVICE UNAVAILABLE\r\n")
        .await;
    assert!(sent.elapsed() >= REGISTRY_WAIT);
    a.expect(b"CREATE x\r\n", "SERVICE UNAVAILABLE\r\n").await;
    within(10, store.restart_child("registry"))
        .await
        .unwrap()
        .unwrap();
    // The same buckets' supervisor: the bucket `fresh` runs, but this registry
    // does not know it (one for one restart by hand, unlike a crash).
    a.expect(b"GET fresh k\r\n", "NOT FOUND\r\n").await;
    b.expect(b"CREATE fresh\r\nPUT fresh k w\r\n", "OK\r\nOK\r\n")
        .await;
    a.expect(b"GET fresh k\r\n", "w\r\nOK\r\n").await;

    within(10, kv.stop()).await.unwrap();
}

/// An acceptor that ends takes its connections with it (telling them, unless
/// killed); its supervisor starts
/// another on the same address, and the buckets, started before it (rest for
/// one), keep their values.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_acceptor_accepts_on_the_same_address() {
    let kv = start("kv_acceptor_restart").await;
    let mut c = Raw::connect(&kv).await;
    c.expect(
        b"CREATE shopping\r\nPUT shopping milk 1\r\n",
        "OK\r\nOK\r\n",
    )
    .await;
    let registry = kv.registry().unwrap();

    // Killed: no terminate; the accept loop and the connection end all the same.
    let acceptor = kv.acceptor().unwrap();
    acceptor.kill();
    assert!(c.closed_by_server().await);
    let acceptor = next_incarnation(&acceptor, || kv.acceptor()).await;
    assert_eq!(
        within(5, acceptor.local_addr()).await.unwrap(),
        kv.local_addr()
    );
    let mut c = Raw::connect(&kv).await;
    c.expect(b"GET shopping milk\r\n", "1\r\nOK\r\n").await;

    // An accept error: the acceptor stops abnormally and is restarted.
    acceptor
        .send(AcceptFailed("no more sockets".into()))
        .unwrap();
    assert_eq!(
        within(5, acceptor.exited()).await,
        ExitReason::Error("accept failed: no more sockets".into())
    );
    assert!(c.told_and_closed().await);
    next_incarnation(&acceptor, || kv.acceptor()).await;
    let mut c = Raw::connect(&kv).await;
    c.expect(b"GET shopping milk\r\n", "1\r\nOK\r\n").await;
    assert_eq!(kv.registry(), Some(registry));

    within(10, kv.stop()).await.unwrap();
}

/// Stopping the tree tells the connections and closes them, frees the names
/// and the port.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_closes_everything() {
    let kv = start("kv_stop").await;
    let addr = kv.local_addr();
    let names = kv.names().clone();
    let mut c = Raw::connect(&kv).await;
    c.expect(b"CREATE shopping\r\n", "OK\r\n").await;

    within(10, kv.stop()).await.unwrap();
    assert!(c.told_and_closed().await);
    for name in [names.kv, names.buckets, names.registry, names.acceptor] {
        assert_eq!(gensrv::whereis(&name), None, "{name}");
    }
    assert!(
        within(5, TcpStream::connect(addr)).await.is_err(),
        "still listening"
    );
    // And the same names and port can serve again.
    let again = within(5, kv::start_with(addr, Names::new("kv_stop")))
        .await
        .unwrap();
    let mut c = Raw::connect(&again).await;
    c.expect(b"GET shopping milk\r\n", "NOT FOUND\r\n").await;
    within(10, again.stop()).await.unwrap();
}
