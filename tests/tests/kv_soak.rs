//! A soak test of the KV server over TCP on 127.0.0.1 (a free port): many
//! concurrent clients send random `CREATE`, `PUT`, `GET` and `DELETE` on a few
//! shared buckets for a bounded time, while buckets are crashed and the
//! registry killed at random through the API. Every reply must be one the
//! protocol allows for its command; every request is bounded by a timeout, so a
//! connection that hangs fails the test; at the end the tree is stopped, every
//! connection must be told `SERVER SHUTTING DOWN` and closed, and every process
//! the tree ever had must have ended, its names free.
//!
//! `SOAK_SECS` sets how long the clients run (default 3 s); `SOAK_SEED` the
//! seed of the random choices (default: from the clock; printed). The figures
//! (requests, replies of each kind, crashes injected) are printed: see them
//! with `cargo test --test kv_soak -- --nocapture`.
//!
//! This file holds one test, so that every gensrv process of this test binary
//! belongs to the tree under test.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use gensrv::{CallError, Pid};
use gensrv_examples::kv::client::Client;
use gensrv_examples::kv::command::REGISTRY_WAIT;
use gensrv_examples::kv::{self, Kv, Names};
use gensrv_tests::within;
use tokio::time::Instant;

const CLIENTS: u64 = 24;
const BUCKETS: [&str; 4] = ["apples", "pears", "plums", "figs"];
const KEYS: u64 = 8;
/// A request answered later than this counts as a hang. A command waits
/// [`REGISTRY_WAIT`] at most for a missing registry; a bucket call is answered
/// at once or fails at once when the bucket dies.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Registry kills are spaced so that the store's supervisor (OTP's default
/// intensity: 3 restarts in 5 s) never gives up: this test is about what a
/// client sees while the tree recovers, not about a tree that gives up.
const REGISTRY_KILL_EVERY: Duration = Duration::from_secs(2);

/// xorshift64*: enough randomness for choosing commands, and no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Replies counted by command and kind.
#[derive(Default)]
struct Tally(BTreeMap<(&'static str, &'static str), u64>);

impl Tally {
    fn add(&mut self, other: &Tally) {
        for (key, n) in &other.0 {
            *self.0.entry(*key).or_default() += n;
        }
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }

    fn of_kind(&self, kind: &str) -> u64 {
        self.0
            .iter()
            .filter(|((_, k), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Whether `value` is one a client wrote: `v<client>.<n>`.
fn written_value(value: &str) -> bool {
    let Some((client, n)) = value
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
    else {
        return false;
    };
    client.parse::<u64>().is_ok() && n.parse::<u64>().is_ok()
}

/// The kind of `reply` if the protocol allows it for `command`; `None` if not.
fn allowed(command: &str, reply: &[String]) -> Option<&'static str> {
    let reply: Vec<&str> = reply.iter().map(String::as_str).collect();
    match (command, &reply[..]) {
        (_, ["SERVICE UNAVAILABLE"]) => Some("SERVICE UNAVAILABLE"),
        (_, ["OK"]) if command != "GET" => Some("OK"),
        ("PUT" | "DELETE" | "GET", ["NOT FOUND"]) => Some("NOT FOUND"),
        ("GET", ["", "OK"]) => Some("no value, OK"),
        ("GET", [value, "OK"]) if written_value(value) => Some("value, OK"),
        _ => None,
    }
}

/// One client: random commands until `until`; its tally and its connection,
/// still open.
async fn client(addr: SocketAddr, id: u64, seed: u64, until: Instant) -> (Tally, Client) {
    let mut rng = Rng::new(seed ^ (id + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut client = within(5, Client::connect(addr)).await.unwrap();
    let mut tally = Tally::default();
    let mut n = 0;
    while Instant::now() < until {
        let bucket = BUCKETS[rng.below(BUCKETS.len() as u64) as usize];
        let key = format!("k{}", rng.below(KEYS));
        let (command, line) = match rng.below(10) {
            0 | 1 => ("CREATE", format!("CREATE {bucket}")),
            2..=4 => {
                n += 1;
                ("PUT", format!("PUT {bucket} {key} v{id}.{n}"))
            }
            5..=7 => ("GET", format!("GET {bucket} {key}")),
            _ => ("DELETE", format!("DELETE {bucket} {key}")),
        };
        let reply = match tokio::time::timeout(REQUEST_TIMEOUT, client.command(&line)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => panic!("client {id}: {line:?}: {error}"),
            Err(_) => panic!("client {id}: no reply to {line:?} within {REQUEST_TIMEOUT:?}"),
        };
        match allowed(command, &reply) {
            Some(kind) => *tally.0.entry((command, kind)).or_default() += 1,
            None => {
                panic!("client {id}: {line:?} got {reply:?}, which the protocol does not allow")
            }
        }
    }
    (tally, client)
}

/// What the chaos task did, and every process it saw.
#[derive(Default)]
struct Chaos {
    bucket_crashes: u64,
    registry_kills: u64,
    seen: BTreeSet<Pid>,
}

/// Crashes a random bucket every few milliseconds, and kills the registry
/// every [`REGISTRY_KILL_EVERY`], until `until`; notes every process it sees.
async fn chaos(kv: &Kv, seed: u64, until: Instant) -> Chaos {
    let mut rng = Rng::new(seed.rotate_left(17));
    let mut chaos = Chaos::default();
    let mut next_kill = Instant::now() + Duration::from_millis(400);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5 + rng.below(30))).await;
        chaos.seen.extend(gensrv::processes());
        let Some(registry) = kv.registry() else {
            continue;
        };
        if Instant::now() >= next_kill {
            registry.kill();
            chaos.registry_kills += 1;
            next_kill += REGISTRY_KILL_EVERY;
            continue;
        }
        let bucket = BUCKETS[rng.below(BUCKETS.len() as u64) as usize];
        // The registry may die meanwhile: then there is no bucket to crash.
        if let Ok(Some(bucket)) = within(5, registry.lookup(bucket.into())).await
            && let Err(CallError::Exited(_)) = within(5, bucket.crash()).await
        {
            chaos.bucket_crashes += 1;
        }
    }
    chaos
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replies_stay_within_the_protocol_while_buckets_and_the_registry_crash() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("soak: {CLIENTS} clients for {secs} s, seed {seed} (SOAK_SECS, SOAK_SEED)");

    let names = Names::new("kv_soak");
    let kv = within(
        5,
        kv::start_with("127.0.0.1:0".parse().unwrap(), names.clone()),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(kv.local_addr(), id, seed, until)))
        .collect();
    let chaos = chaos(&kv, seed, until).await;

    // Each request is bounded, so the clients end soon after `until`.
    let bound = secs + REQUEST_TIMEOUT.as_secs() + REGISTRY_WAIT.as_secs() + 5;
    let mut tally = Tally::default();
    let mut connections = Vec::new();
    for client in clients {
        let (one, connection) = within(bound, client).await.unwrap();
        tally.add(&one);
        connections.push(connection);
    }
    let ran = started.elapsed();
    let mut seen = chaos.seen;
    seen.extend(gensrv::processes());

    // Stopped with every connection open: each is told, then closed.
    let told = connections
        .into_iter()
        .enumerate()
        .map(|(id, mut connection)| {
            tokio::spawn(async move {
                let told = within(10, connection.read_line()).await.unwrap();
                assert_eq!(told.as_deref(), Some("SERVER SHUTTING DOWN"), "client {id}");
                assert_eq!(within(5, connection.read_line()).await.unwrap(), None);
            })
        })
        .collect::<Vec<_>>();
    within(10, kv.stop()).await.unwrap();
    for told in told {
        within(10, told).await.unwrap();
    }

    // Every process the tree had has ended, and no other runs.
    let left: Vec<Pid> = seen
        .iter()
        .copied()
        .filter(|&pid| gensrv::process_info(pid).is_some())
        .collect();
    assert_eq!(left, [], "processes of the tree still running");
    assert_eq!(gensrv::processes(), [], "processes still running");
    for name in [names.kv, names.buckets, names.registry, names.acceptor] {
        assert_eq!(gensrv::whereis(&name), None, "{name}");
    }

    let requests = tally.total();
    println!(
        "soak: {requests} requests in {:.1} s ({:.0}/s), {} bucket crashes and {} registry kills injected, {} processes seen, all ended",
        ran.as_secs_f64(),
        requests as f64 / ran.as_secs_f64(),
        chaos.bucket_crashes,
        chaos.registry_kills,
        seen.len(),
    );
    for kind in [
        "OK",
        "value, OK",
        "no value, OK",
        "NOT FOUND",
        "SERVICE UNAVAILABLE",
    ] {
        println!("soak:   {kind:<20} {}", tally.of_kind(kind));
    }
    for ((command, kind), n) in &tally.0 {
        println!("soak:   {command:<6} -> {kind:<20} {n}");
    }
    assert!(requests > 0);
    assert!(
        chaos.bucket_crashes > 0 && chaos.registry_kills > 0,
        "no chaos injected"
    );
}
