//! Chaos (issue 7): random operations over a few hundred servers, from several
//! concurrent driver tasks, on both runtime flavours; then everything is stopped or
//! killed and nothing may be left in any table.
//!
//! Each run is one seed on one fresh runtime. The drivers draw their operations
//! from a seeded PRNG (splitmix64, one stream per driver), so a run is reproducible
//! up to the interleaving of the tasks:
//!
//! ```text
//! CHAOS_SEED=0x1234 cargo test -p gensrv-tests --test chaos     # one seed (or a comma list)
//! CHAOS_OPS=400 cargo test -p gensrv-tests --test chaos         # operations per driver
//! cargo test -p gensrv-tests --test chaos -- --nocapture        # a summary line per run
//! ```
//!
//! Without `CHAOS_SEED`, a few fixed seeds run and one taken from the clock; every
//! failure names its seed.
//!
//! # Operations
//!
//! - start: plain, named (from a small pool of names, so that names are taken,
//!   refused with `AlreadyStarted` and freed again), linked (`Start::link(ctx)` from
//!   a handler of another server), trapping exits or not, with an init that is
//!   ready, yields, sleeps (sometimes past an `init_timeout`), fails, panics or
//!   ignores; a few whose terminate panics;
//! - a start under a name raced by another task that finds the new server with
//!   `whereis` and kills it at once (with `kill()` or `gensrv::exit(.., Killed)`;
//!   or sends it a call, then kills it; or stops it; or sends `exit(.., Error)`);
//! - calls: sync reply, async reply after a sleep, deferred reply (the `ReplyTo` kept
//!   in the state and answered by a timer), deferred reply handed to another task,
//!   a reply dropped on purpose, a handler that panics, `ctx.stop` in a call, a call
//!   from a handler to another server (or to itself);
//! - casts and info messages: plain, panicking, `ctx.stop(reason)`;
//! - link and monitor from a handler (`ctx.link(&pid)`, `ctx.monitor(&pid)`),
//!   trap_exit on and off;
//! - `kill()`, `stop()` with a random reason, `gensrv::exit(&server, reason)` from
//!   a driver and `ctx.exit(&pid, reason)` from a handler (reasons `Normal`,
//!   `Shutdown`, `Error`, `Killed`).
//!
//! # Invariants
//!
//! - every call is answered within its timeout (a hang is a failure), with the
//!   reply to that very call (each carries a nonce it gets back);
//! - `NoReply` only for the call whose handler drops its `ReplyTo` on purpose;
//!   `CallingSelf` only for a server calling itself;
//! - a call that times out does so on a live server: not on one that had ended
//!   (semantic 2), nor on one that is dead and never published its end;
//! - once `kill` or `stop` returns, `exited()` resolves (within 1 s); once
//!   `exited()` resolves, the server is gone from `processes()` and its name is free;
//! - after the run, every server is stopped or killed: each `exited()` resolves,
//!   `processes()` holds none of this run's servers, `registered()` none of its
//!   names, and a fresh start under every name used succeeds.
//!
//! The two flavours run as two tests, one after the other (they share the server
//! type, and look for its processes in the process-wide table; nothing else in this
//! test binary starts one).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gensrv::{
    CallError, CastError, Context, Down, Exit, ExitReason, Init, Pid, ReplyTo, ServerRef,
    StartError, StopError, gen_server,
};

/// Seeds every default run includes.
const FIXED_SEEDS: [u64; 4] = [1, 7, 0xC0FFEE, 0x5EED_0011];
/// Concurrent driver tasks per run.
const DRIVERS: usize = 4;
/// Operations per driver, unless `CHAOS_OPS` says otherwise.
const OPS_PER_DRIVER: usize = 200;
/// Names in a run's pool.
const NAMES: usize = 40;
/// The timeout of every call the drivers make.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// How long past its own timeout a call may take before it counts as hung.
const GRACE: Duration = Duration::from_secs(1);
/// How long an ended server may take to publish its end.
const EXIT_LIMIT: Duration = Duration::from_secs(1);
/// No operation takes this long unless something hangs.
const OP_LIMIT: Duration = Duration::from_secs(5);
/// The timeout of a call from one server to another.
const RELAY_TIMEOUT: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------
// The PRNG.

/// splitmix64: small, seedable, good enough to pick operations.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn millis(&mut self, max: u64) -> u64 {
        self.below(max + 1)
    }

    fn reason(&mut self) -> ExitReason {
        match self.below(3) {
            0 => ExitReason::Normal,
            1 => ExitReason::Shutdown,
            _ => ExitReason::Error("chaos: a random reason".into()),
        }
    }
}

// ---------------------------------------------------------------------------
// The runtime flavours.

/// A runtime flavour.
#[derive(Clone, Copy, Debug)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    fn tag(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "ct",
            Flavor::MultiThread => "mt",
        }
    }

    fn runtime(self) -> tokio::runtime::Runtime {
        let mut builder = match self {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Flavor::MultiThread => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(2);
                builder
            }
        };
        builder.enable_all().build().expect("a tokio runtime")
    }
}

// ---------------------------------------------------------------------------
// The server.

/// What a server's init does.
#[derive(Clone, Copy, Debug)]
enum InitMode {
    Ready,
    Yield,
    Sleep(u64),
    Fail,
    Panic,
    Ignore,
}

/// The start argument.
#[derive(Clone)]
struct Arg {
    shared: Arc<Shared>,
    trap: bool,
    init: InitMode,
    panic_in_terminate: bool,
}

/// Answers the deferred replies held.
#[derive(Debug)]
struct Flush;

/// An info message of no consequence.
#[derive(Debug)]
struct Poke(u64);

/// An info message whose handler panics.
#[derive(Debug)]
struct CrashInfo;

/// An info message whose handler stops the server.
#[derive(Debug)]
struct StopInfo(ExitReason);

/// The server every operation is done to.
struct Chaos {
    /// Deferred replies, answered by the next `Flush`.
    held: Vec<(u64, ReplyTo<u64>)>,
    panic_in_terminate: bool,
    count: u64,
}

#[gen_server]
impl Chaos {
    #[init]
    async fn init(arg: Arg, ctx: &mut Context<Self>) -> Init<Self> {
        ctx.trap_exit(arg.trap);
        // Every server that runs init is known, also one started by a handler whose
        // caller has given up.
        arg.shared.track(&ctx.this(), true);
        match arg.init {
            InitMode::Ready => {}
            InitMode::Yield => tokio::task::yield_now().await,
            InitMode::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            InitMode::Fail => return Init::Stop(ExitReason::Error("chaos: init failed".into())),
            InitMode::Panic => panic!("chaos: init panicked"),
            InitMode::Ignore => return Init::Ignore,
        }
        Init::Ready(Chaos {
            held: Vec::new(),
            panic_in_terminate: arg.panic_in_terminate,
            count: 0,
        })
    }

    /// Sync reply.
    #[call]
    fn ping(&self, nonce: u64) -> u64 {
        nonce
    }

    /// Async reply, after a sleep.
    #[call]
    async fn slow(&self, nonce: u64, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        nonce
    }

    /// Deferred reply, kept in the state until a timer's `Flush`.
    #[call]
    fn defer(&mut self, nonce: u64, ms: u64, reply: ReplyTo<u64>, ctx: &mut Context<Self>) {
        self.held.push((nonce, reply));
        ctx.send_after(Duration::from_millis(ms), Flush);
    }

    /// Deferred reply, handed to another task that answers after a sleep.
    #[call]
    fn hand_off(&self, nonce: u64, ms: u64, reply: ReplyTo<u64>) {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let _ = reply.send(nonce);
        });
    }

    /// Drops the reply on purpose: the only call that may give `NoReply`.
    #[call]
    fn drop_reply(&self, reply: ReplyTo<u64>) {
        drop(reply);
    }

    /// Panics.
    #[call]
    async fn crash_call(&self) -> u64 {
        tokio::task::yield_now().await;
        panic!("chaos: call panicked");
    }

    /// Replies, and stops.
    #[call]
    fn stop_in_call(&self, nonce: u64, reason: ExitReason, ctx: &mut Context<Self>) -> u64 {
        ctx.stop(reason);
        nonce
    }

    /// Calls another server (or itself) from this handler.
    #[call]
    async fn relay(&self, target: ChaosRef, nonce: u64) -> Result<u64, CallError> {
        target.ping(nonce).timeout(RELAY_TIMEOUT).await
    }

    /// Starts a server linked to this one.
    #[call]
    async fn start_child(
        &mut self,
        arg: Arg,
        name: Option<String>,
        ctx: &mut Context<Self>,
    ) -> Result<ChaosRef, StartError> {
        let start = Chaos::start(arg).link(ctx);
        match name {
            Some(name) => start.name(name).await,
            None => start.await,
        }
    }

    #[call]
    fn link_to(&mut self, other: Pid, ctx: &mut Context<Self>) {
        ctx.link(&other);
    }

    #[call]
    fn watch(&mut self, other: Pid, ctx: &mut Context<Self>) {
        ctx.monitor(&other);
    }

    /// Sends `other` an exit signal from this server.
    #[call]
    fn exit_other(&mut self, other: Pid, reason: ExitReason, ctx: &mut Context<Self>) {
        ctx.exit(&other, reason);
    }

    #[call]
    fn trap(&mut self, on: bool, ctx: &mut Context<Self>) {
        ctx.trap_exit(on);
    }

    #[cast]
    fn bump(&mut self, by: u64) {
        self.count += by;
    }

    #[cast]
    async fn crash_cast(&mut self) {
        tokio::task::yield_now().await;
        panic!("chaos: cast panicked");
    }

    #[cast]
    fn stop_cast(&mut self, reason: ExitReason, ctx: &mut Context<Self>) {
        ctx.stop(reason);
    }

    #[info]
    fn flush(&mut self, _: Flush) {
        for (nonce, reply) in self.held.drain(..) {
            let _ = reply.send(nonce);
        }
    }

    #[info]
    fn poke(&mut self, poke: Poke) {
        self.count += poke.0;
    }

    #[info]
    fn crash_info(&mut self, _: CrashInfo) {
        panic!("chaos: info panicked");
    }

    #[info]
    fn stop_info(&mut self, stop: StopInfo, ctx: &mut Context<Self>) {
        ctx.stop(stop.0);
    }

    #[info]
    fn down(&mut self, _: Down) {
        self.count += 1;
    }

    #[info]
    fn exit(&mut self, _: Exit) {
        self.count += 1;
    }

    #[terminate]
    fn terminate(&mut self) {
        if self.panic_in_terminate {
            panic!("chaos: terminate panicked");
        }
    }
}

// ---------------------------------------------------------------------------
// What a run shares.

/// One run's servers, names, findings and counters.
struct Shared {
    seed: u64,
    names: Vec<String>,
    /// Names some start has used.
    used_names: Mutex<HashSet<String>>,
    /// Every server known, in the order found.
    servers: Mutex<Vec<ChaosRef>>,
    known: Mutex<HashSet<Pid>>,
    /// Servers that ran init.
    inited: Mutex<HashSet<Pid>>,
    /// When each server's `exited()` resolved.
    exits: Mutex<HashMap<Pid, (Instant, ExitReason)>>,
    /// Servers found ended (killed or stopped) that never published their end.
    unpublished: Mutex<HashSet<Pid>>,
    /// Findings: kind, then details.
    violations: Mutex<BTreeMap<&'static str, Vec<String>>>,
    /// What happened, by operation and outcome.
    stats: Mutex<BTreeMap<String, u64>>,
    nonce: AtomicU64,
}

impl Shared {
    fn new(flavor: Flavor, seed: u64) -> Arc<Self> {
        Arc::new(Shared {
            seed,
            names: (0..NAMES)
                .map(|i| format!("chaos-{}-{seed:x}-{i}", flavor.tag()))
                .collect(),
            used_names: Mutex::default(),
            servers: Mutex::default(),
            known: Mutex::default(),
            inited: Mutex::default(),
            exits: Mutex::default(),
            unpublished: Mutex::default(),
            violations: Mutex::default(),
            stats: Mutex::default(),
            nonce: AtomicU64::new(1),
        })
    }

    fn fail(&self, kind: &'static str, detail: String) {
        self.violations
            .lock()
            .unwrap()
            .entry(kind)
            .or_default()
            .push(detail);
    }

    fn count(&self, what: String) {
        *self.stats.lock().unwrap().entry(what).or_default() += 1;
    }

    fn nonce(&self) -> u64 {
        self.nonce.fetch_add(1, Ordering::Relaxed)
    }

    fn name(&self, rng: &mut Rng) -> String {
        let name = self.names[rng.below(NAMES as u64) as usize].clone();
        self.used_names.lock().unwrap().insert(name.clone());
        name
    }

    /// Knows `server` from now on, and watches its end: once `exited()` resolves,
    /// the server must be out of the process table and its name free.
    fn track(self: &Arc<Self>, server: &ChaosRef, from_init: bool) {
        let pid = server.pid();
        if from_init {
            self.inited.lock().unwrap().insert(pid);
        }
        if !self.known.lock().unwrap().insert(pid) {
            return;
        }
        self.servers.lock().unwrap().push(server.clone());
        let shared = self.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let reason = server.exited().await;
            shared
                .exits
                .lock()
                .unwrap()
                .insert(pid, (Instant::now(), reason.clone()));
            if gensrv::process_info(pid).is_some() {
                shared.fail(
                    "exited() resolved but the server is still in processes()",
                    format!("{pid} ({reason:?})"),
                );
            }
            let name = server.name();
            if name.is_some_and(|name| gensrv::whereis(name) == Some(pid)) {
                shared.fail(
                    "exited() resolved but the name is still registered to the server",
                    format!("{pid} {name:?} ({reason:?})"),
                );
            }
        });
    }

    fn ran_init(&self, pid: Pid) -> bool {
        self.inited.lock().unwrap().contains(&pid)
    }

    fn exit_of(&self, pid: Pid) -> Option<(Instant, ExitReason)> {
        self.exits.lock().unwrap().get(&pid).cloned()
    }

    /// A known server, preferably a live one.
    fn pick(&self, rng: &mut Rng) -> Option<ChaosRef> {
        let servers = self.servers.lock().unwrap();
        if servers.is_empty() {
            return None;
        }
        let mut choice = None;
        for _ in 0..8 {
            let server = &servers[rng.below(servers.len() as u64) as usize];
            choice = Some(server.clone());
            if server.is_alive() {
                break;
            }
        }
        choice
    }

    fn arg(self: &Arc<Self>, rng: &mut Rng) -> Arg {
        let init = match rng.below(100) {
            0..70 => InitMode::Ready,
            70..80 => InitMode::Yield,
            80..88 => InitMode::Sleep(rng.millis(15)),
            88..92 => InitMode::Fail,
            92..96 => InitMode::Panic,
            _ => InitMode::Ignore,
        };
        Arg {
            shared: self.clone(),
            trap: rng.chance(25),
            init,
            panic_in_terminate: rng.chance(4),
        }
    }

    fn plain_arg(self: &Arc<Self>) -> Arg {
        Arg {
            shared: self.clone(),
            trap: false,
            init: InitMode::Ready,
            panic_in_terminate: false,
        }
    }

    /// Describes `server` for a finding.
    fn describe(&self, server: &ChaosRef) -> String {
        format!(
            "{} name={:?} ran_init={} alive={}",
            server.pid(),
            server.name(),
            self.ran_init(server.pid()),
            server.is_alive()
        )
    }

    /// A call timed out on `server`: fine only if the server is alive (and then
    /// only under heavy load), or ended just as the timeout fired.
    async fn timed_out(&self, what: &str, server: &ChaosRef) {
        let at = Instant::now();
        // Lets the exit watcher record an end that raced the timeout.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if server.is_alive() {
            self.fail(
                "a call to a live server timed out (handlers here take at most ~50 ms)",
                format!("{what} on {}", self.describe(server)),
            );
            return;
        }
        match self.exit_of(server.pid()) {
            None => self.fail(
                "a call timed out on a server that is dead and never published its end",
                format!("{what} on {}", self.describe(server)),
            ),
            Some((ended, reason)) if ended + Duration::from_millis(100) < at => self.fail(
                "a call waited its whole timeout on a server that had ended (semantic 2)",
                format!(
                    "{what} on {} which ended {:?} before with {reason:?}",
                    self.describe(server),
                    at - ended
                ),
            ),
            Some(_) => {}
        }
    }

    /// Awaits `call` (timeout `CALL_TIMEOUT`) and checks its outcome; `check`
    /// judges a reply.
    async fn call<R: Debug>(
        &self,
        what: &str,
        server: &ChaosRef,
        call: gensrv::Call<R>,
        no_reply_allowed: bool,
        check: impl FnOnce(R) -> Option<String>,
    ) {
        let outcome = tokio::time::timeout(CALL_TIMEOUT + GRACE, call.timeout(CALL_TIMEOUT)).await;
        let Ok(result) = outcome else {
            self.count(format!("{what}: HANG"));
            self.fail(
                "a call was not answered within its timeout (hang)",
                format!("{what} on {}", self.describe(server)),
            );
            return;
        };
        self.count(format!("{what}: {}", short(&result)));
        match result {
            Ok(reply) => {
                if let Some(problem) = check(reply) {
                    self.fail(
                        "a call got a wrong reply",
                        format!("{what} on {}: {problem}", self.describe(server)),
                    );
                }
            }
            Err(CallError::NoReply) if !no_reply_allowed => self.fail(
                "NoReply for a call whose handler did not drop its ReplyTo",
                format!("{what} on {}", self.describe(server)),
            ),
            Err(CallError::CallingSelf) => self.fail(
                "CallingSelf for a call from outside any server",
                format!("{what} on {}", self.describe(server)),
            ),
            Err(CallError::Timeout) => self.timed_out(what, server).await,
            Err(_) => {}
        }
    }

    /// `server` was killed or stopped: its `exited()` must resolve soon.
    async fn must_end(&self, what: &str, server: &ChaosRef) {
        if self.unpublished.lock().unwrap().contains(&server.pid()) {
            // Found already; waiting again would only slow the run down.
            return;
        }
        match tokio::time::timeout(EXIT_LIMIT, server.exited()).await {
            Ok(reason) => self.count(format!("{what}: ended {}", reason_kind(&reason))),
            Err(_) => {
                self.unpublished.lock().unwrap().insert(server.pid());
                self.fail(
                    "exited() did not resolve within 1 s of the server's kill or stop",
                    format!("{what}: {}", self.describe(server)),
                );
            }
        }
    }
}

/// The outcome's variant, for the counters.
fn short<R>(result: &Result<R, CallError>) -> String {
    match result {
        Ok(_) => "Ok".into(),
        Err(CallError::Exited(reason)) => format!("Exited({})", reason_kind(reason)),
        Err(error) => format!("{error:?}"),
    }
}

fn reason_kind(reason: &ExitReason) -> &'static str {
    match reason {
        ExitReason::Normal => "Normal",
        ExitReason::Shutdown => "Shutdown",
        ExitReason::Killed => "Killed",
        ExitReason::NoProc => "NoProc",
        ExitReason::Panic(_) => "Panic",
        ExitReason::Error(_) => "Error",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

/// A reason for an exit signal.
fn exit_reason(rng: &mut Rng) -> ExitReason {
    match rng.below(4) {
        0 => ExitReason::Killed,
        _ => rng.reason(),
    }
}

fn echo(nonce: u64) -> impl FnOnce(u64) -> Option<String> {
    move |reply| (reply != nonce).then(|| format!("expected {nonce}, got {reply}"))
}

// ---------------------------------------------------------------------------
// The drivers.

#[derive(Clone, Copy, Debug)]
enum Op {
    Start,
    StartNamed,
    StartLinked,
    RaceStart,
    Ping,
    Slow,
    Defer,
    HandOff,
    DropReply,
    CrashCall,
    StopInCall,
    Relay,
    Cast,
    CrashCast,
    StopCast,
    Info,
    CrashInfo,
    StopInfo,
    Link,
    Monitor,
    Trap,
    Kill,
    Stop,
    /// `gensrv::exit(&server, reason)` from the driver.
    Exit,
    /// `ctx.exit(&other, reason)` from a handler.
    ExitFromHandler,
}

const WEIGHTS: &[(Op, u64)] = &[
    (Op::Start, 8),
    (Op::StartNamed, 8),
    (Op::StartLinked, 6),
    (Op::RaceStart, 5),
    (Op::Ping, 10),
    (Op::Slow, 5),
    (Op::Defer, 6),
    (Op::HandOff, 4),
    (Op::DropReply, 2),
    (Op::CrashCall, 2),
    (Op::StopInCall, 2),
    (Op::Relay, 4),
    (Op::Cast, 6),
    (Op::CrashCast, 2),
    (Op::StopCast, 2),
    (Op::Info, 5),
    (Op::CrashInfo, 2),
    (Op::StopInfo, 2),
    (Op::Link, 6),
    (Op::Monitor, 5),
    (Op::Trap, 2),
    (Op::Kill, 6),
    (Op::Stop, 5),
    (Op::Exit, 4),
    (Op::ExitFromHandler, 3),
];

fn pick_op(rng: &mut Rng) -> Op {
    let total: u64 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut n = rng.below(total);
    for &(op, weight) in WEIGHTS {
        if n < weight {
            return op;
        }
        n -= weight;
    }
    unreachable!()
}

async fn driver(shared: Arc<Shared>, index: usize, ops: usize) {
    let mut rng = Rng::new(shared.seed ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    for step in 0..ops {
        let op = pick_op(&mut rng);
        let what = format!("driver {index} step {step} {op:?}");
        if tokio::time::timeout(OP_LIMIT, operation(&shared, &mut rng, op))
            .await
            .is_err()
        {
            shared.fail("an operation hung", what);
        }
    }
}

async fn operation(shared: &Arc<Shared>, rng: &mut Rng, op: Op) {
    let target = match op {
        Op::Start | Op::StartNamed | Op::RaceStart => None,
        _ => match shared.pick(rng) {
            Some(server) => Some(server),
            // Nothing to act on yet.
            None => return start(shared, rng, false).await,
        },
    };
    let what = format!("{op:?}");
    match (op, target) {
        (Op::Start, _) => start(shared, rng, false).await,
        (Op::StartNamed, _) => start(shared, rng, true).await,
        (Op::RaceStart, _) => race_start(shared, rng).await,
        (Op::StartLinked, Some(parent)) => {
            let arg = shared.arg(rng);
            let name = rng.chance(30).then(|| shared.name(rng));
            let call = parent.start_child(arg, name);
            let mut child = None;
            shared
                .call(&what, &parent, call, false, |started| {
                    child = started.ok();
                    None
                })
                .await;
            if let Some(child) = child {
                shared.track(&child, false);
            }
        }
        (Op::Ping, Some(s)) => {
            let nonce = shared.nonce();
            shared
                .call(&what, &s, s.ping(nonce), false, echo(nonce))
                .await;
        }
        (Op::Slow, Some(s)) => {
            let nonce = shared.nonce();
            let call = s.slow(nonce, rng.millis(20));
            shared.call(&what, &s, call, false, echo(nonce)).await;
        }
        (Op::Defer, Some(s)) => {
            let nonce = shared.nonce();
            let call = s.defer(nonce, rng.millis(20));
            shared.call(&what, &s, call, false, echo(nonce)).await;
        }
        (Op::HandOff, Some(s)) => {
            let nonce = shared.nonce();
            let call = s.hand_off(nonce, rng.millis(20));
            shared.call(&what, &s, call, false, echo(nonce)).await;
        }
        (Op::DropReply, Some(s)) => {
            let call = s.drop_reply();
            shared
                .call(&what, &s, call, true, |reply| {
                    Some(format!("a dropped reply gave Ok({reply})"))
                })
                .await;
        }
        (Op::CrashCall, Some(s)) => {
            let call = s.crash_call();
            shared
                .call(&what, &s, call, false, |reply| {
                    Some(format!("a panicking handler gave Ok({reply})"))
                })
                .await;
        }
        (Op::StopInCall, Some(s)) => {
            let nonce = shared.nonce();
            let call = s.stop_in_call(nonce, rng.reason());
            shared.call(&what, &s, call, false, echo(nonce)).await;
        }
        (Op::Relay, Some(s)) => {
            let nonce = shared.nonce();
            let other = if rng.chance(15) {
                s.clone()
            } else {
                shared.pick(rng).unwrap_or_else(|| s.clone())
            };
            let to_self = other == s;
            let call = s.relay(other, nonce);
            let relay = |inner: Result<u64, CallError>| match inner {
                Err(CallError::CallingSelf) if to_self => None,
                _ if to_self => Some(format!("a server calling itself got {inner:?}")),
                Ok(reply) if reply != nonce => Some(format!("expected {nonce}, got {reply}")),
                Err(CallError::CallingSelf) => {
                    Some("CallingSelf for a call to another server".into())
                }
                Err(CallError::NoReply) => Some("NoReply for a ping relayed".into()),
                _ => None,
            };
            shared.call(&what, &s, call, false, relay).await;
        }
        (Op::Cast, Some(s)) => cast(shared, &what, s.bump(1)),
        (Op::CrashCast, Some(s)) => cast(shared, &what, s.crash_cast()),
        (Op::StopCast, Some(s)) => cast(shared, &what, s.stop_cast(rng.reason())),
        (Op::Info, Some(s)) => cast(shared, &what, s.send(Poke(1))),
        (Op::CrashInfo, Some(s)) => cast(shared, &what, s.send(CrashInfo)),
        (Op::StopInfo, Some(s)) => cast(shared, &what, s.send(StopInfo(rng.reason()))),
        (Op::Link, Some(s)) => {
            let other = shared.pick(rng).unwrap_or_else(|| s.clone());
            let call = s.link_to(other.pid());
            shared.call(&what, &s, call, false, |()| None).await;
        }
        (Op::Monitor, Some(s)) => {
            let other = shared.pick(rng).unwrap_or_else(|| s.clone());
            let call = s.watch(other.pid());
            shared.call(&what, &s, call, false, |()| None).await;
        }
        (Op::Trap, Some(s)) => {
            let call = s.trap(rng.chance(50));
            shared.call(&what, &s, call, false, |()| None).await;
        }
        (Op::Kill, Some(s)) => {
            s.kill();
            shared.must_end("Kill", &s).await;
        }
        (Op::Stop, Some(s)) => stop(shared, rng, &s).await,
        (Op::Exit, Some(s)) => {
            let reason = exit_reason(rng);
            gensrv::exit(&s, reason.clone());
            shared.count(format!("Exit({})", reason_kind(&reason)));
            // Only `Killed` is sure to end it: it may trap exits.
            if reason == ExitReason::Killed {
                shared.must_end("Exit(Killed)", &s).await;
            }
        }
        (Op::ExitFromHandler, Some(s)) => {
            let other = shared.pick(rng).unwrap_or_else(|| s.clone());
            let call = s.exit_other(other.pid(), exit_reason(rng));
            shared.call(&what, &s, call, false, |()| None).await;
        }
        (_, None) => unreachable!("every other operation has a target"),
    }
}

fn cast(shared: &Shared, what: &str, result: Result<(), CastError>) {
    match result {
        Ok(()) => shared.count(format!("{what}: Ok")),
        Err(CastError::NoProc) => shared.count(format!("{what}: NoProc")),
        #[allow(unreachable_patterns)]
        Err(other) => shared.fail(
            "a cast to an unbounded mailbox failed other than NoProc",
            format!("{what}: {other:?}"),
        ),
    }
}

async fn stop(shared: &Shared, rng: &mut Rng, s: &ChaosRef) {
    let reason = rng.reason();
    let stop = s.stop().reason(reason).timeout(EXIT_LIMIT);
    let Ok(result) = tokio::time::timeout(EXIT_LIMIT + GRACE, stop).await else {
        shared.fail(
            "stop() with a timeout did not return (hang)",
            shared.describe(s),
        );
        return;
    };
    shared.count(format!("Stop: {result:?}"));
    match result {
        Err(StopError::Timeout) => shared.fail(
            "stop() timed out on a server whose handlers take at most ~50 ms",
            shared.describe(s),
        ),
        Err(StopError::CallingSelf) => shared.fail(
            "stop() from outside any server failed with CallingSelf",
            shared.describe(s),
        ),
        // Ok, NoProc, or Exited(reason) (the terminate panicked, or it ended first).
        _ => {}
    }
    // Ended, or killed after the stop's timeout.
    shared.must_end("Stop", s).await;
}

/// Starts a server from the driver.
async fn start(shared: &Arc<Shared>, rng: &mut Rng, named: bool) {
    let mut arg = shared.arg(rng);
    let init_timeout = rng.chance(10);
    if init_timeout && !matches!(arg.init, InitMode::Sleep(_)) {
        // Some inits outlive it.
        arg.init = InitMode::Sleep(rng.millis(15));
    }
    let mut start = Chaos::start(arg.clone());
    if named {
        start = start.name(shared.name(rng));
    }
    if init_timeout {
        start = start.init_timeout(Duration::from_millis(5));
    }
    let what = if named { "StartNamed" } else { "Start" };
    match tokio::time::timeout(CALL_TIMEOUT + GRACE, start).await {
        Err(_) => shared.fail("start() hung", format!("{what} {:?}", arg.init)),
        Ok(result) => {
            shared.count(format!("{what}: {}", start_kind(&result)));
            if let Ok(server) = result {
                shared.track(&server, false);
            }
        }
    }
}

fn start_kind<R>(result: &Result<R, StartError>) -> String {
    match result {
        Ok(_) => "Ok".into(),
        Err(StartError::AlreadyStarted(_)) => "AlreadyStarted".into(),
        Err(StartError::Init(reason)) => format!("Init({})", reason_kind(reason)),
        Err(error) => format!("{error:?}"),
    }
}

/// Starts a server under a name while another task waits for the name to appear
/// and, at once, kills the server holding it (or calls, then kills; or stops).
async fn race_start(shared: &Arc<Shared>, rng: &mut Rng) {
    let name = shared.name(rng);
    let mut arg = shared.arg(rng);
    if !matches!(arg.init, InitMode::Ready | InitMode::Yield) {
        arg.init = InitMode::Ready;
    }
    let how = rng.below(6);
    let nonce = shared.nonce();
    let done = Arc::new(AtomicBool::new(false));
    let racer = {
        let name = name.clone();
        let done = done.clone();
        tokio::spawn(async move {
            loop {
                let finished = done.load(Ordering::Acquire);
                if let Some(server) = Chaos::whereis(&name) {
                    let call = match how {
                        0 | 1 => {
                            server.kill();
                            None
                        }
                        2 => {
                            // A call queued on the server, then the kill.
                            let pending = server.ping(nonce).timeout(CALL_TIMEOUT).send();
                            server.kill();
                            Some(tokio::time::timeout(CALL_TIMEOUT + GRACE, pending).await)
                        }
                        3 => {
                            let stop = server.stop().reason(ExitReason::Shutdown);
                            let _ = tokio::time::timeout(EXIT_LIMIT, stop).await;
                            None
                        }
                        4 => {
                            gensrv::exit(&server, ExitReason::Killed);
                            None
                        }
                        _ => {
                            gensrv::exit(&server, ExitReason::Error("chaos: exit".into()));
                            None
                        }
                    };
                    return Some((server, call));
                }
                if finished {
                    return None;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let trap = arg.trap;
    let start = Chaos::start(arg).name(name.clone());
    let mut started = None;
    match tokio::time::timeout(CALL_TIMEOUT + GRACE, start).await {
        Err(_) => shared.fail("start() hung", format!("RaceStart {name}")),
        Ok(result) => {
            shared.count(format!("RaceStart: {}", start_kind(&result)));
            if let Ok(server) = result {
                shared.track(&server, false);
                started = Some(server.pid());
            }
        }
    }
    done.store(true, Ordering::Release);
    let caught = match tokio::time::timeout(OP_LIMIT / 2, racer).await {
        Err(_) => {
            shared.fail("the racer hung", name);
            return;
        }
        Ok(Err(panic)) => {
            shared.fail("the racer panicked", format!("{panic:?}"));
            return;
        }
        Ok(Ok(caught)) => caught,
    };
    let Some((server, call)) = caught else {
        shared.count("RaceStart: racer found nothing".into());
        return;
    };
    shared.track(&server, false);
    let what = format!(
        "RaceStart racer ({})",
        [
            "kill",
            "kill",
            "call+kill",
            "stop",
            "exit(Killed)",
            "exit(Error)"
        ][how as usize]
    );
    if let Some(call) = call {
        match call {
            Err(_) => shared.fail(
                "a call was not answered within its timeout (hang)",
                format!("{what}: ping on {}", shared.describe(&server)),
            ),
            Ok(result) => {
                shared.count(format!("{what} ping: {}", short(&result)));
                match result {
                    Ok(reply) if reply != nonce => shared.fail(
                        "a call got a wrong reply",
                        format!("{what}: expected {nonce}, got {reply}"),
                    ),
                    Err(CallError::NoReply) => shared.fail(
                        "NoReply for a call whose handler did not drop its ReplyTo",
                        format!("{what}: ping on {}", shared.describe(&server)),
                    ),
                    Err(CallError::Timeout) => shared.timed_out(&what, &server).await,
                    _ => {}
                }
            }
        }
    }
    // Only a server known not to trap exits is sure to end on `exit(Error)`.
    let ends = how != 5 || (!trap && started == Some(server.pid()));
    if ends {
        shared.must_end(&what, &server).await;
    }
}

// ---------------------------------------------------------------------------
// A run.

/// What one run found.
struct Report {
    flavor: &'static str,
    seed: u64,
    elapsed: Duration,
    servers: usize,
    violations: BTreeMap<&'static str, Vec<String>>,
    stats: BTreeMap<String, u64>,
}

impl Report {
    fn summary(&self) -> String {
        let found: usize = self.violations.values().map(Vec::len).sum();
        format!(
            "chaos {} seed={:#x}: {} servers, {:.2?}, {} violations",
            self.flavor, self.seed, self.servers, self.elapsed, found
        )
    }

    fn details(&self) -> String {
        let mut out = self.summary();
        for (kind, details) in &self.violations {
            out += &format!("\n  [{}x] {kind}", details.len());
            for detail in details.iter().take(4) {
                out += &format!("\n      e.g. {detail}");
            }
        }
        out
    }
}

/// One seed, on a fresh runtime of `flavor`. `leaked` holds the pids earlier
/// runs left behind, which this one does not count again.
fn run(flavor: Flavor, seed: u64, ops: usize, leaked: &mut HashSet<Pid>) -> Report {
    let started = Instant::now();
    let shared = Shared::new(flavor, seed);
    let runtime = flavor.runtime();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(chaos_then_clean(shared.clone(), ops, leaked))
    }));
    if let Err(panic) = outcome {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        shared.fail("the test itself panicked", message);
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    let servers = shared.servers.lock().unwrap().len();
    Report {
        flavor: flavor.tag(),
        seed,
        elapsed: started.elapsed(),
        servers,
        violations: std::mem::take(&mut *shared.violations.lock().unwrap()),
        stats: std::mem::take(&mut *shared.stats.lock().unwrap()),
    }
}

async fn chaos_then_clean(shared: Arc<Shared>, ops: usize, leaked: &mut HashSet<Pid>) {
    let mut drivers = tokio::task::JoinSet::new();
    for index in 0..DRIVERS {
        drivers.spawn(driver(shared.clone(), index, ops));
    }
    while let Some(done) = drivers.join_next().await {
        if let Err(error) = done {
            shared.fail("a driver panicked", format!("{error:?}"));
        }
    }

    // Let deferred replies, hand-offs and timers run out.
    tokio::time::sleep(Duration::from_millis(30)).await;

    // Stop or kill everything, also servers started by handlers whose callers gave
    // up (they tracked themselves in init), and any `Chaos` server still in the
    // process table that nobody knows of.
    let mut rng = Rng::new(shared.seed ^ 0xD1B5_4A32_D192_ED03);
    let mut ended = HashSet::new();
    for _round in 0..3 {
        let mut everyone: Vec<ChaosRef> = shared.servers.lock().unwrap().clone();
        for pid in gensrv::processes() {
            if leaked.contains(&pid) {
                continue;
            }
            if let Some(server) = ServerRef::<Chaos>::from_pid(pid) {
                let server = ChaosRef::from(server);
                if !shared.known.lock().unwrap().contains(&pid) {
                    shared.fail(
                        "a server in processes() that never ran init and no start returned",
                        shared.describe(&server),
                    );
                    shared.track(&server, false);
                }
                everyone.push(server);
            }
        }
        everyone.retain(|s| ended.insert(s.pid()));
        if everyone.is_empty() {
            break;
        }
        let mut ends = tokio::task::JoinSet::new();
        for server in everyone {
            let kill = rng.chance(50);
            let shared = shared.clone();
            ends.spawn(async move {
                if kill {
                    server.kill();
                } else {
                    let stop = server
                        .stop()
                        .reason(ExitReason::Shutdown)
                        .timeout(EXIT_LIMIT);
                    let _ = tokio::time::timeout(EXIT_LIMIT + GRACE, stop).await;
                }
                if tokio::time::timeout(EXIT_LIMIT, server.exited())
                    .await
                    .is_err()
                {
                    shared.fail(
                        "final sweep: exited() did not resolve after kill/stop",
                        format!(
                            "{} ({})",
                            shared.describe(&server),
                            if kill { "killed" } else { "stopped" }
                        ),
                    );
                }
            });
        }
        while ends.join_next().await.is_some() {}
    }

    let left: Vec<Pid> = gensrv::processes()
        .into_iter()
        .filter(|pid| !leaked.contains(pid) && ServerRef::<Chaos>::from_pid(*pid).is_some())
        .collect();
    if !left.is_empty() {
        let names: Vec<_> = left
            .iter()
            .map(|pid| {
                format!(
                    "{pid} {:?}",
                    gensrv::process_info(*pid).and_then(|i| i.name)
                )
            })
            .collect();
        shared.fail(
            "after stopping/killing everything, servers are still in processes()",
            format!("{} left: {}", left.len(), names.join(", ")),
        );
        leaked.extend(left);
    }

    let registered: HashSet<String> = gensrv::registered().into_iter().collect();
    let mut names: Vec<String> = shared.used_names.lock().unwrap().iter().cloned().collect();
    names.sort();
    let taken: Vec<&String> = names.iter().filter(|n| registered.contains(*n)).collect();
    if !taken.is_empty() {
        shared.fail(
            "after stopping/killing everything, names are still registered",
            format!("{} names: {taken:?}", taken.len()),
        );
    }
    for name in &names {
        let start = Chaos::start(shared.plain_arg()).name(name.clone());
        match tokio::time::timeout(CALL_TIMEOUT + GRACE, start).await {
            Err(_) => shared.fail("start() hung", format!("fresh start under {name}")),
            Ok(Ok(server)) => {
                server.kill();
                if tokio::time::timeout(EXIT_LIMIT, server.exited())
                    .await
                    .is_err()
                {
                    shared.fail(
                        "final sweep: exited() did not resolve after kill/stop",
                        format!("fresh server {}", shared.describe(&server)),
                    );
                }
            }
            Ok(Err(error)) => shared.fail(
                "a fresh start under a name used in the run fails (leaked name)",
                format!("{name}: {error:?}"),
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// The tests.

/// The seeds to run: `CHAOS_SEED` (a comma list, decimal or 0x hex), or the
/// fixed ones and one from the clock.
fn seeds() -> Vec<u64> {
    match std::env::var("CHAOS_SEED") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                let s = s.trim();
                let parsed = match s.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => s.parse(),
                };
                parsed.unwrap_or_else(|_| panic!("CHAOS_SEED: not a number: {s:?}"))
            })
            .collect(),
        Err(_) => {
            let clock = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let mut seeds = FIXED_SEEDS.to_vec();
            seeds.push(Rng::new(clock).next() >> 16);
            seeds
        }
    }
}

fn ops_per_driver() -> usize {
    std::env::var("CHAOS_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(OPS_PER_DRIVER)
}

/// The panics the servers are made to have are expected: keep them off stderr.
fn quiet_chaos_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if message.is_some_and(|m| m.starts_with("chaos: ")) {
                return;
            }
            default(info);
        }));
    });
}

fn chaos(flavor: Flavor, test: &str) {
    // The two tests share the server type, and look for its processes in the
    // process-wide table: one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    quiet_chaos_panics();
    let ops = ops_per_driver();
    let seeds = seeds();
    // Left behind by earlier runs, of either test: not counted again.
    static LEAKED: Mutex<Option<HashSet<Pid>>> = Mutex::new(None);
    let mut leaked = LEAKED.lock().unwrap_or_else(PoisonError::into_inner);
    let leaked = leaked.get_or_insert_with(HashSet::new);
    let mut failed = Vec::new();
    for &seed in &seeds {
        let report = run(flavor, seed, ops, leaked);
        println!("{}", report.summary());
        if std::env::var_os("CHAOS_VERBOSE").is_some() {
            for (what, n) in &report.stats {
                println!("    {n:6}  {what}");
            }
        }
        if !report.violations.is_empty() {
            failed.push(report);
        }
    }
    if !failed.is_empty() {
        let hex = |seed: &u64| format!("{seed:#x}");
        let seeds_failed: Vec<String> = failed.iter().map(|r| hex(&r.seed)).collect();
        let seeds_run: Vec<String> = seeds.iter().map(hex).collect();
        let details: Vec<String> = failed.iter().map(Report::details).collect();
        panic!(
            "chaos ({}) found violations with seed(s) {}:\n{}\n\nseeds run: {}; reproduce with \
             CHAOS_SEED={} cargo test -p gensrv-tests --test chaos -- {test}",
            flavor.tag(),
            seeds_failed.join(", "),
            details.join("\n"),
            seeds_run.join(", "),
            seeds_failed.join(","),
        );
    }
}

#[test]
fn chaos_on_a_current_thread_runtime() {
    chaos(Flavor::CurrentThread, "chaos_on_a_current_thread_runtime");
}

#[test]
fn chaos_on_a_multi_thread_runtime_with_2_workers() {
    chaos(
        Flavor::MultiThread,
        "chaos_on_a_multi_thread_runtime_with_2_workers",
    );
}
