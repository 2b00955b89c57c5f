//! The idle timeout (`Context::set_timeout`) and `Context::continue_with` keep
//! working alongside monitors, links and timers. The server's progress is watched
//! through a shared log, not through calls, since a call is a message and would
//! disarm the idle timeout. Waits are bounded by `within`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gensrv::{Context, Down, Exit, ExitReason, Pid, Timeout, TimerRef, gen_server};
use gensrv_tests::within;

/// What a server handled, in order, shared with the test.
type Log = Arc<Mutex<Vec<String>>>;

/// A timer's message.
#[derive(Clone, Debug)]
struct Tick(u32);

/// A continuation.
#[derive(Debug)]
struct Then(&'static str);

/// Kinds of runtime message a server drops unseen.
#[derive(Clone, Copy, Debug)]
enum Dropped {
    /// A `Down` queued before `demonitor`.
    Demonitored,
    /// A cancelled timer's message, queued before `cancel_timer`.
    Cancelled,
    /// A `Normal` exit signal of a link, while not trapping exits.
    NormalExit,
    /// An (abnormal) exit signal queued before `unlink`, for a server that traps
    /// exits then (one that does not ends at once, out of band).
    Unlinked,
}

/// Logs everything it handles.
struct Busy {
    log: Log,
    /// The idle timeout its tick handler re-arms, if any.
    rearm: Option<Duration>,
    interval: Option<TimerRef>,
}

#[gen_server]
impl Busy {
    #[init]
    fn init(log: Log) -> Self {
        Busy {
            log,
            rearm: None,
            interval: None,
        }
    }

    fn note(&self, entry: impl Into<String>) {
        self.log.lock().unwrap().push(entry.into());
    }

    /// Queues a timer message, a Down and an Exit (all about `dead`, which has
    /// ended), then asks for a continuation: the continuation comes first, then the
    /// rest in the order queued.
    #[call]
    async fn queue_then_continue(&mut self, dead: Pid, ctx: &mut Context<Self>) {
        ctx.trap_exit(true);
        ctx.send_after(Duration::ZERO, Tick(1));
        // Not handling messages while the timer's message is queued.
        tokio::time::sleep(Duration::from_millis(20)).await;
        ctx.monitor(&dead);
        ctx.link(&dead);
        ctx.continue_with(Then("continuation"));
    }

    /// Queues a runtime message that the server drops without a handler seeing it,
    /// then arms the idle timeout. `other` has ended, except for `NormalExit`,
    /// where it ends normally while this server is idle.
    #[call]
    async fn ignore_then_idle(
        &mut self,
        dropped: Dropped,
        other: QuitterRef,
        after: Duration,
        ctx: &mut Context<Self>,
    ) {
        match dropped {
            Dropped::Demonitored => {
                let monitor = ctx.monitor(&other);
                ctx.demonitor(monitor);
            }
            Dropped::Cancelled => {
                let timer = ctx.send_after(Duration::ZERO, Tick(2));
                // Not handling messages while the timer's message is queued.
                tokio::time::sleep(Duration::from_millis(20)).await;
                ctx.cancel_timer(timer);
            }
            Dropped::NormalExit => ctx.link(&other),
            Dropped::Unlinked => {
                ctx.trap_exit(true);
                ctx.link(&other);
                let reason = ExitReason::Error("ends linked".into());
                other.stop().reason(reason).await.unwrap();
                // Not handling messages while its exit signal is queued.
                tokio::time::sleep(Duration::from_millis(20)).await;
                ctx.unlink(&other);
                ctx.trap_exit(false);
            }
        }
        ctx.set_timeout(after);
    }

    /// Ticks every `every`; each tick re-arms an idle timeout of `idle`.
    #[call]
    fn tick_and_idle(&mut self, every: Duration, idle: Duration, ctx: &mut Context<Self>) {
        self.rearm = Some(idle);
        self.interval = Some(ctx.send_interval(every, Tick(3)));
        ctx.set_timeout(idle);
    }

    /// Stops the ticks; the idle timeout stays armed.
    #[cast]
    fn stop_ticking(&mut self, ctx: &mut Context<Self>) {
        if let Some(interval) = self.interval.take() {
            ctx.cancel_timer(interval);
        }
        self.note("stopped ticking");
        if let Some(idle) = self.rearm {
            ctx.set_timeout(idle);
        }
    }

    #[info]
    fn tick(&mut self, tick: Tick, ctx: &mut Context<Self>) {
        self.note(format!("tick {}", tick.0));
        if let Some(idle) = self.rearm {
            ctx.set_timeout(idle);
        }
    }

    #[info]
    fn then(&mut self, then: Then) {
        self.note(then.0);
    }

    #[info]
    fn down(&mut self, down: Down, ctx: &mut Context<Self>) {
        self.note(format!("down {:?}", down.reason));
        ctx.continue_with(Then("after down"));
    }

    #[info]
    fn exit(&mut self, exit: Exit) {
        self.note(format!("exit {:?}", exit.reason));
    }

    #[info]
    fn timeout(&mut self, _: Timeout) {
        self.note("timeout");
    }
}

/// Ends normally when told to.
struct Quitter;

#[gen_server]
impl Quitter {
    #[cast]
    fn quit(&mut self, ctx: &mut Context<Self>) {
        ctx.stop(ExitReason::Normal);
    }
}

async fn busy() -> (BusyRef, Log) {
    let log = Log::default();
    let busy = within(5, Busy::start(log.clone())).await.unwrap();
    (busy, log)
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// Waits until the log has an entry `entry`.
async fn until_logged(log: &Log, entry: &str) {
    within(5, async {
        while !entries(log).iter().any(|e| e == entry) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

async fn dead_pid() -> Pid {
    let quitter = within(5, Quitter::start(Quitter)).await.unwrap();
    within(5, quitter.stop()).await.unwrap();
    quitter.pid()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_comes_before_queued_timer_down_and_exit_messages() {
    let (busy, log) = busy().await;
    let dead = dead_pid().await;
    within(5, busy.queue_then_continue(dead)).await.unwrap();
    until_logged(&log, "exit NoProc").await;
    assert_eq!(
        entries(&log),
        vec![
            "continuation",
            "tick 1",
            "down NoProc",
            // A continuation asked for by a Down handler, before the queued Exit.
            "after down",
            "exit NoProc",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timeout_survives_runtime_messages_that_are_dropped() {
    let cases = [
        (Dropped::Demonitored, Duration::from_millis(100)),
        (Dropped::Cancelled, Duration::from_millis(100)),
        (Dropped::NormalExit, Duration::from_millis(100)),
        (Dropped::Unlinked, Duration::from_millis(100)),
        // OTP's `after 0`, with the dropped message already in the mailbox.
        (Dropped::Demonitored, Duration::ZERO),
        (Dropped::Cancelled, Duration::ZERO),
        (Dropped::Unlinked, Duration::ZERO),
    ];
    for (dropped, idle) in cases {
        let (busy, log) = busy().await;
        let other = within(5, Quitter::start(Quitter)).await.unwrap();
        if matches!(dropped, Dropped::Demonitored | Dropped::Cancelled) {
            within(5, other.stop()).await.unwrap();
        }
        let started = Instant::now();
        within(5, busy.ignore_then_idle(dropped, other.clone(), idle))
            .await
            .unwrap();
        if let Dropped::NormalExit = dropped {
            tokio::time::sleep(idle / 2).await;
            // No message for a server that does not trap exits.
            other.quit().unwrap();
            within(5, other.exited()).await;
        }
        // The dropped message is no message: the timeout still fires, not early.
        until_logged(&log, "timeout").await;
        let case = format!("{dropped:?} after {idle:?}");
        assert!(started.elapsed() >= idle, "{case}");
        assert_eq!(entries(&log), vec!["timeout"], "{case}");
        assert!(busy.is_alive(), "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_ticks_hold_off_the_idle_timeout_until_cancelled() {
    let (busy, log) = busy().await;
    within(
        5,
        busy.tick_and_idle(Duration::from_millis(5), Duration::from_millis(100)),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let so_far = entries(&log);
    assert!(so_far.len() >= 10, "ticking: {so_far:?}");
    assert!(!so_far.iter().any(|e| e == "timeout"), "{so_far:?}");

    busy.stop_ticking().unwrap();
    until_logged(&log, "timeout").await;
    let all = entries(&log);
    let stopped = all.iter().position(|e| e == "stopped ticking").unwrap();
    assert_eq!(&all[stopped..], ["stopped ticking", "timeout"]);
}
