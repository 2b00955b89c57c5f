//! gensrv beside its peers: the same counter server written with gensrv, kameo,
//! ractor, actix and by hand on tokio, timed on the same workloads. See README.md.

mod actix_peer;
mod alloc;
mod contestant;
mod gensrv_peer;
mod handwritten;
mod kameo_peer;
mod ractor_peer;

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use contestant::{Contestant, Flavor};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Casts per flushing call in the `cast` workload.
const BATCH: u64 = 64;
/// Concurrent callers in the `concurrent` workload.
const CALLERS: usize = 8;
/// Servers in the `many` workload.
const MANY_SERVERS: usize = 1_000;
/// Tasks starting (and stopping) servers at once in the `million` workload.
const MILLION_TASKS: usize = 8;

const ALL_CONTESTANTS: [&str; 5] = ["tokio", "gensrv", "kameo", "ractor", "actix"];
const DEFAULT_WORKLOADS: [&str; 6] = ["call", "cast", "concurrent", "start", "stop", "idle"];
const SCALE_WORKLOADS: [&str; 2] = ["many", "million"];

#[derive(Clone)]
struct Config {
    iters: u64,
    reps: usize,
    idle: usize,
    servers: usize,
    cores: usize,
    contestants: Vec<String>,
    workloads: Vec<String>,
    flavors: Vec<Flavor>,
}

const USAGE: &str = "\
usage: peers [options]
  --iters N           operations per repetition of call, cast, concurrent, many (default 100000;
                      start and stop do N/10)
  --reps N            repetitions; each figure is their median (default 5)
  --contestants LIST  comma-separated, of tokio,gensrv,kameo,ractor,actix (default: all)
  --workloads LIST    comma-separated, of call,cast,concurrent,start,stop,idle,many,million
                      (default: call,cast,concurrent,start,stop,idle)
  --runtimes LIST     current,multi (default: both) for the non-scale workloads
  --scale             add the scale workloads: many, million
  --idle N            idle servers started to measure bytes per server (default 10000)
  --servers N         servers of the million workload (default 1000000)
  --cores N           workers of the scale workloads (default: available parallelism)";

fn parse_args() -> Config {
    let mut cfg = Config {
        iters: 100_000,
        reps: 5,
        idle: 10_000,
        servers: 1_000_000,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        contestants: ALL_CONTESTANTS.iter().map(|s| s.to_string()).collect(),
        workloads: DEFAULT_WORKLOADS.iter().map(|s| s.to_string()).collect(),
        flavors: vec![Flavor::Current, Flavor::Multi(2)],
    };
    let list = |s: String| {
        s.split(',')
            .map(|x| x.trim().to_string())
            .collect::<Vec<_>>()
    };
    let mut args = std::env::args().skip(1);
    let mut scale = false;
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next().unwrap_or_else(|| {
                eprintln!("{arg} needs a value\n{USAGE}");
                std::process::exit(2)
            })
        };
        let number = |v: String| -> u64 {
            v.replace('_', "").parse().unwrap_or_else(|_| {
                eprintln!("not a number: {v}\n{USAGE}");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--iters" => cfg.iters = number(value()).max(10),
            "--reps" => cfg.reps = number(value()).max(1) as usize,
            "--idle" => cfg.idle = number(value()).max(1) as usize,
            "--servers" => cfg.servers = number(value()).max(MILLION_TASKS as u64) as usize,
            "--cores" => cfg.cores = number(value()).max(1) as usize,
            "--contestants" => cfg.contestants = list(value()),
            "--workloads" => cfg.workloads = list(value()),
            "--runtimes" => {
                cfg.flavors = list(value())
                    .iter()
                    .map(|r| match r.as_str() {
                        "current" | "current_thread" => Flavor::Current,
                        "multi" | "multi_thread" => Flavor::Multi(2),
                        _ => {
                            eprintln!("unknown runtime {r}\n{USAGE}");
                            std::process::exit(2)
                        }
                    })
                    .collect()
            }
            "--scale" => scale = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => {
                eprintln!("unknown argument {arg}\n{USAGE}");
                std::process::exit(2)
            }
        }
    }
    if scale {
        for w in SCALE_WORKLOADS {
            if !cfg.workloads.iter().any(|x| x == w) {
                cfg.workloads.push(w.to_string());
            }
        }
    }
    for c in &cfg.contestants {
        if !ALL_CONTESTANTS.contains(&c.as_str()) {
            eprintln!("unknown contestant {c}\n{USAGE}");
            std::process::exit(2)
        }
    }
    for w in &cfg.workloads {
        if !DEFAULT_WORKLOADS.contains(&w.as_str()) && !SCALE_WORKLOADS.contains(&w.as_str()) {
            eprintln!("unknown workload {w}\n{USAGE}");
            std::process::exit(2)
        }
    }
    cfg
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn per(elapsed: Duration, ops: u64) -> f64 {
    elapsed.as_nanos() as f64 / ops.max(1) as f64
}

// ---- the workloads: each runs one repetition on a fresh runtime -------------------

/// One call round trip, on a server started outside the timing.
fn call<C: Contestant>(flavor: Flavor, iters: u64) -> f64 {
    C::run(flavor, async move {
        let server = C::start().await;
        let client = C::client(&server);
        for _ in 0..iters / 10 {
            black_box(C::call(&client).await);
        }
        let t = Instant::now();
        for _ in 0..iters {
            black_box(C::call(&client).await);
        }
        let ns = per(t.elapsed(), iters);
        C::stop(server).await;
        ns
    })
}

/// One cast including its handling: batches of [`BATCH`] casts each ended by a call.
fn cast<C: Contestant>(flavor: Flavor, iters: u64) -> f64 {
    C::run(flavor, async move {
        let server = C::start().await;
        let client = C::client(&server);
        let batches = iters.div_ceil(BATCH);
        let t = Instant::now();
        for _ in 0..batches {
            for _ in 0..BATCH {
                C::cast(&client, black_box(1)).await;
            }
            black_box(C::call(&client).await);
        }
        let ns = per(t.elapsed(), batches * BATCH);
        assert_eq!(
            C::call(&client).await,
            batches * BATCH,
            "every cast handled"
        );
        C::stop(server).await;
        ns
    })
}

/// [`CALLERS`] tasks calling one server at once: wall time per call.
fn concurrent<C: Contestant>(flavor: Flavor, iters: u64) -> f64 {
    C::run(flavor, async move {
        let server = C::start().await;
        let each = (iters / CALLERS as u64).max(1);
        let t = Instant::now();
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let client = C::client(&server);
                C::spawn(async move {
                    for _ in 0..each {
                        black_box(C::call(&client).await);
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await;
        }
        let ns = per(t.elapsed(), each * CALLERS as u64);
        C::stop(server).await;
        ns
    })
}

/// Starting a server, awaited until its init has run.
fn start<C: Contestant>(flavor: Flavor, n: u64) -> f64 {
    C::run(flavor, async move {
        let mut servers = Vec::with_capacity(n as usize);
        let t = Instant::now();
        for _ in 0..n {
            servers.push(C::start().await);
        }
        let ns = per(t.elapsed(), n);
        for s in servers {
            C::stop(s).await;
        }
        ns
    })
}

/// Stopping a server, awaited until it has terminated.
fn stop<C: Contestant>(flavor: Flavor, n: u64) -> f64 {
    C::run(flavor, async move {
        let mut servers = Vec::with_capacity(n as usize);
        for _ in 0..n {
            servers.push(C::start().await);
        }
        let t = Instant::now();
        for s in servers {
            C::stop(s).await;
        }
        per(t.elapsed(), n)
    })
}

/// Heap bytes per idle server: live bytes after starting `n` servers minus before, / n.
fn idle<C: Contestant>(flavor: Flavor, n: usize) -> f64 {
    C::run(flavor, async move {
        let mut servers = Vec::with_capacity(n);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let before = alloc::live_bytes();
        for _ in 0..n {
            servers.push(C::start().await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = alloc::live_bytes();
        for s in servers {
            C::stop(s).await;
        }
        (after - before) as f64 / n as f64
    })
}

/// [`MANY_SERVERS`] servers, 4 callers per core calling them round robin.
fn many<C: Contestant>(cores: usize, iters: u64) -> f64 {
    C::run(Flavor::Multi(cores), async move {
        let mut servers = Vec::with_capacity(MANY_SERVERS);
        for _ in 0..MANY_SERVERS {
            servers.push(C::start().await);
        }
        let clients: std::sync::Arc<Vec<C::Client>> =
            std::sync::Arc::new(servers.iter().map(C::client).collect());
        let callers = 4 * cores;
        let each = (iters / callers as u64).max(1);
        let t = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|k| {
                let clients = clients.clone();
                C::spawn(async move {
                    let mut i = k * MANY_SERVERS / callers;
                    for _ in 0..each {
                        black_box(C::call(&clients[i]).await);
                        i = (i + 1) % MANY_SERVERS;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        let ns = per(t.elapsed(), each * callers as u64);
        drop(clients);
        for s in servers {
            C::stop(s).await;
        }
        ns
    })
}

/// `n` idle servers started, then stopped, by [`MILLION_TASKS`] tasks at once:
/// (start ns per server, stop ns per server, resident bytes per server, heap bytes per server).
fn million<C: Contestant>(cores: usize, n: usize) -> [f64; 4] {
    C::run(Flavor::Multi(cores), async move {
        let each = n / MILLION_TASKS;
        let rss_before = alloc::rss_bytes();
        let heap_before = alloc::live_bytes();
        let t = Instant::now();
        let tasks: Vec<_> = (0..MILLION_TASKS)
            .map(|_| {
                C::spawn(async move {
                    let mut servers = Vec::with_capacity(each);
                    for _ in 0..each {
                        servers.push(C::start().await);
                    }
                    servers
                })
            })
            .collect();
        let mut groups = Vec::with_capacity(MILLION_TASKS);
        for task in tasks {
            groups.push(task.await);
        }
        let start_ns = per(t.elapsed(), (each * MILLION_TASKS) as u64);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rss = alloc::rss_bytes().saturating_sub(rss_before) as f64 / n as f64;
        let heap = (alloc::live_bytes() - heap_before) as f64 / n as f64;
        let t = Instant::now();
        let tasks: Vec<_> = groups
            .into_iter()
            .map(|servers| {
                C::spawn(async move {
                    for s in servers {
                        C::stop(s).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        let stop_ns = per(t.elapsed(), (each * MILLION_TASKS) as u64);
        [start_ns, stop_ns, rss, heap]
    })
}

// ---- the table --------------------------------------------------------------------

/// One row: a workload on a runtime, its unit, a figure per contestant.
struct Row {
    workload: String,
    runtime: String,
    unit: &'static str,
    figures: Vec<Option<f64>>,
}

struct Table {
    contestants: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    fn set(&mut self, workload: &str, runtime: &str, unit: &'static str, col: usize, v: f64) {
        let n = self.contestants.len();
        let row = match self
            .rows
            .iter()
            .position(|r| r.workload == workload && r.runtime == runtime)
        {
            Some(i) => &mut self.rows[i],
            None => {
                self.rows.push(Row {
                    workload: workload.to_string(),
                    runtime: runtime.to_string(),
                    unit,
                    figures: vec![None; n],
                });
                self.rows.last_mut().unwrap()
            }
        };
        row.figures[col] = Some(v);
    }

    fn print(&self) {
        let base = self.contestants.iter().position(|c| c == "tokio");
        let titles: Vec<&str> = self.contestants.iter().map(|c| title(c)).collect();
        println!("| workload | runtime | unit | {} |", titles.join(" | "));
        println!("|---|---|---|{}", "---:|".repeat(titles.len()));
        for row in &self.rows {
            let base = base.and_then(|b| row.figures[b]);
            let cells: Vec<String> = row
                .figures
                .iter()
                .map(|f| match (f, base) {
                    (None, _) => "–".to_string(),
                    (Some(v), Some(b)) if b.abs() > f64::EPSILON => {
                        format!("{} ({:.2}×)", fmt(*v), v / b)
                    }
                    (Some(v), _) => fmt(*v),
                })
                .collect();
            println!(
                "| {} | {} | {} | {} |",
                row.workload,
                row.runtime,
                row.unit,
                cells.join(" | ")
            );
        }
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn title(c: &str) -> &'static str {
    match c {
        "tokio" => handwritten::Handwritten::NAME,
        "gensrv" => gensrv_peer::Gensrv::NAME,
        "kameo" => kameo_peer::Kameo::NAME,
        "ractor" => ractor_peer::Ractor::NAME,
        "actix" => actix_peer::Actix::NAME,
        _ => "?",
    }
}

/// Runs every chosen workload for contestant `C` into column `col`.
fn contest<C: Contestant>(cfg: &Config, table: &mut Table, col: usize) {
    let reps = |f: &dyn Fn() -> f64| median((0..cfg.reps).map(|_| f()).collect());
    for w in &cfg.workloads {
        match w.as_str() {
            "many" => {
                let v = reps(&|| many::<C>(cfg.cores, cfg.iters));
                let rt = Flavor::Multi(cfg.cores).label();
                table.set("many servers: call", &rt, "ns/call", col, v);
            }
            "million" => {
                let Some([start, stop, rss, heap]) = million_isolated::<C>(cfg) else {
                    continue;
                };
                let rt = Flavor::Multi(cfg.cores).label();
                let what = format!("{} servers", cfg.servers);
                table.set(&format!("{what}: start"), &rt, "ns/server", col, start);
                table.set(&format!("{what}: stop"), &rt, "ns/server", col, stop);
                table.set(&format!("{what}: resident"), &rt, "B/server", col, rss);
                table.set(&format!("{what}: heap"), &rt, "B/server", col, heap);
            }
            _ => {
                for &flavor in &cfg.flavors {
                    let rt = flavor.label();
                    let iters = cfg.iters;
                    let few = (iters / 10).max(1);
                    let (v, unit) = match w.as_str() {
                        "call" => (reps(&|| call::<C>(flavor, iters)), "ns/call"),
                        "cast" => (reps(&|| cast::<C>(flavor, iters)), "ns/cast"),
                        "concurrent" => (reps(&|| concurrent::<C>(flavor, iters)), "ns/call"),
                        "start" => (reps(&|| start::<C>(flavor, few)), "ns/start"),
                        "stop" => (reps(&|| stop::<C>(flavor, few)), "ns/stop"),
                        "idle" => (reps(&|| idle::<C>(flavor, cfg.idle)), "B/server"),
                        _ => unreachable!(),
                    };
                    let name = match w.as_str() {
                        "concurrent" => format!("{CALLERS} concurrent callers"),
                        "idle" => "idle server (heap)".to_string(),
                        other => other.to_string(),
                    };
                    table.set(&name, &rt, unit, col, v);
                }
            }
        }
        eprintln!("  {} {} done", C::NAME, w);
    }
}

/// The million workload in a child process of its own, so that its resident memory
/// is not blurred by what the earlier contestants left to the allocator.
/// `None`, with the child's error on stderr, if it failed (out of memory, say).
fn million_isolated<C: Contestant>(cfg: &Config) -> Option<[f64; 4]> {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env("PEERS_MILLION_CHILD", C::NAME)
        .args(["--servers", &cfg.servers.to_string()])
        .args(["--cores", &cfg.cores.to_string()])
        .output()
        .expect("spawn million child");
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("MILLION ")) else {
        eprintln!(
            "  {}: million workload failed ({}): {}",
            C::NAME,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    Some([v[0], v[1], v[2], v[3]])
}

fn million_child(name: &str, cfg: &Config) {
    let r = match name {
        n if n == handwritten::Handwritten::NAME => {
            million::<handwritten::Handwritten>(cfg.cores, cfg.servers)
        }
        n if n == gensrv_peer::Gensrv::NAME => {
            million::<gensrv_peer::Gensrv>(cfg.cores, cfg.servers)
        }
        n if n == kameo_peer::Kameo::NAME => million::<kameo_peer::Kameo>(cfg.cores, cfg.servers),
        n if n == ractor_peer::Ractor::NAME => {
            million::<ractor_peer::Ractor>(cfg.cores, cfg.servers)
        }
        n if n == actix_peer::Actix::NAME => million::<actix_peer::Actix>(cfg.cores, cfg.servers),
        _ => panic!("unknown contestant {name}"),
    };
    println!("MILLION {} {} {} {}", r[0], r[1], r[2], r[3]);
}

fn main() {
    let cfg = parse_args();
    if let Ok(name) = std::env::var("PEERS_MILLION_CHILD") {
        million_child(&name, &cfg);
        return;
    }
    let mut table = Table {
        contestants: cfg.contestants.clone(),
        rows: Vec::new(),
    };
    eprintln!(
        "iters {}, reps {}, contestants {}, workloads {}, scale workers {}",
        cfg.iters,
        cfg.reps,
        cfg.contestants.join(","),
        cfg.workloads.join(","),
        cfg.cores
    );
    for (col, c) in cfg.contestants.iter().enumerate() {
        // A contestant that panics leaves the rest of its column blank; the others run.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match c.as_str() {
            "tokio" => contest::<handwritten::Handwritten>(&cfg, &mut table, col),
            "gensrv" => contest::<gensrv_peer::Gensrv>(&cfg, &mut table, col),
            "kameo" => contest::<kameo_peer::Kameo>(&cfg, &mut table, col),
            "ractor" => contest::<ractor_peer::Ractor>(&cfg, &mut table, col),
            "actix" => contest::<actix_peer::Actix>(&cfg, &mut table, col),
            _ => unreachable!(),
        }));
        if ran.is_err() {
            eprintln!("  {c} panicked: the rest of its column is left blank");
        }
    }
    table.print();
}
