//! The failure paths, as OTP's: exit signals out of band (DESIGN semantics 9 and
//! 10), the end of a process published however its task ends (11), edge values,
//! and what callers are told when a server ends.

use std::collections::HashSet;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use gensrv::supervisor::{Shutdown, Strategy, Supervisor};
use gensrv::{CallError, Context, Exit, ExitReason, Pid, ReplyTo, StartError, StopError};
use gensrv::{Timeout, gen_server};
use gensrv_tests::within;

type Terminated = Arc<Mutex<Vec<ExitReason>>>;

/// Naps in its handlers as long as asked, and records how it ended.
#[derive(Clone, Default)]
struct Sleeper {
    terminated: Terminated,
    /// How long its terminate takes.
    terminate_for: Duration,
    exits: Vec<Exit>,
}

#[gen_server]
impl Sleeper {
    #[cast]
    async fn nap(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    #[call]
    async fn long_call(&self) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }

    #[call]
    fn ping(&self) {}

    #[call]
    fn trap(&self, ctx: &mut Context<Self>) {
        ctx.trap_exit(true);
    }

    #[call]
    fn exits(&self) -> Vec<Exit> {
        self.exits.clone()
    }

    #[info]
    fn exit(&mut self, exit: Exit) {
        self.exits.push(exit);
    }

    /// Sends `target` an exit signal from this server.
    #[call]
    fn signal(&self, target: Pid, reason: ExitReason, ctx: &mut Context<Self>) {
        ctx.exit(&target, reason);
    }

    /// Stops itself through its own handle, which cannot wait for its own end.
    #[call]
    async fn stop_through_handle(&self, ctx: &mut Context<Self>) -> Result<(), StopError> {
        ctx.this().stop().await
    }

    #[terminate]
    async fn terminate(&mut self, reason: &ExitReason) {
        tokio::time::sleep(self.terminate_for).await;
        self.terminated.lock().unwrap().push(reason.clone());
    }
}

fn terminated_with(terminated: &Terminated) -> Vec<ExitReason> {
    terminated.lock().unwrap().clone()
}

fn error(msg: &str) -> ExitReason {
    ExitReason::Error(msg.into())
}

/// Waits until `pid` is gone from the process table.
async fn gone(pid: Pid) {
    within(5, async {
        while gensrv::processes().contains(&pid) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

// Issue 7's tree: top -> sub-supervisor (200 ms to stop) -> worker in a handler
// that sleeps for an hour. Before, the worker outlived the tree by that hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_a_tree_is_stopped_nothing_of_it_runs() {
    for terminate_for in [Duration::ZERO, Duration::from_millis(600)] {
        let worker = Sleeper {
            terminate_for,
            ..Sleeper::default()
        };
        let terminated = worker.terminated.clone();
        let sub = Supervisor::new(Strategy::OneForOne)
            .child(Sleeper::child_spec(worker).with_name("fp-tree-worker"));
        let top = Supervisor::start(
            Supervisor::new(Strategy::OneForOne).child(
                Supervisor::child_spec(sub)
                    .with_name("fp-tree-sub")
                    .with_shutdown(Shutdown::Timeout(Duration::from_millis(200))),
            ),
        )
        .await
        .unwrap();
        let worker = Sleeper::whereis("fp-tree-worker").unwrap();
        let sub = Supervisor::whereis("fp-tree-sub").unwrap();
        worker.nap(3_600_000).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;

        let started = Instant::now();
        within(5, top.stop()).await.unwrap();
        assert!(!worker.is_alive() && !sub.is_alive() && !top.is_alive());
        assert!(
            worker.exited().now_or_never().is_some(),
            "{terminate_for:?}"
        );
        assert!(!gensrv::processes().contains(&worker.pid()));
        assert_eq!(terminated_with(&terminated), vec![ExitReason::Shutdown]);
        // Not held up by the nap, only by the worker's own terminate.
        assert!(started.elapsed() < terminate_for + Duration::from_secs(2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_whose_top_is_killed_ends_whole() {
    let worker = Sleeper::default();
    let terminated = worker.terminated.clone();
    let sub = Supervisor::new(Strategy::OneForOne)
        .child(Sleeper::child_spec(worker).with_name("fp-killed-worker"));
    let top = Supervisor::start(
        Supervisor::new(Strategy::OneForOne)
            .child(Supervisor::child_spec(sub).with_name("fp-killed-sub")),
    )
    .await
    .unwrap();
    let worker = Sleeper::whereis("fp-killed-worker").unwrap();
    let sub = Supervisor::whereis("fp-killed-sub").unwrap();
    worker.nap(3_600_000).unwrap();

    top.kill();
    assert_eq!(within(5, sub.exited()).await, ExitReason::Killed);
    assert_eq!(within(5, worker.exited()).await, ExitReason::Shutdown);
    gone(worker.pid()).await;
    assert_eq!(terminated_with(&terminated), vec![ExitReason::Shutdown]);
}

/// Crashes its partner, then asks its supervisor something: it is blocked in
/// that call while the supervisor restarts the group, which stops this one too.
#[derive(Clone)]
struct Asker;

#[gen_server]
impl Asker {
    #[cast]
    async fn crash_partner_then_ask(&self, partner: SleeperRef) {
        partner.kill();
        partner.exited().await;
        let sup = Supervisor::whereis("fp-stall-sup").unwrap();
        let _ = sup.which_children().timeout(Duration::from_secs(60)).await;
    }

    #[call]
    fn ping(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_is_not_stalled_by_a_child_blocked_in_a_call_to_its_supervisor() {
    let sup = Supervisor::start(
        Supervisor::new(Strategy::OneForAll)
            .child(Asker::child_spec(Asker).with_name("fp-stall-asker"))
            .child(Sleeper::child_spec(Sleeper::default()).with_name("fp-stall-partner")),
    )
    .name("fp-stall-sup")
    .await
    .unwrap();
    let asker = Asker::whereis("fp-stall-asker").unwrap();
    let partner = Sleeper::whereis("fp-stall-partner").unwrap();
    let started = Instant::now();
    asker.crash_partner_then_ask(partner.clone()).unwrap();
    // The asker's shutdown timeout is 5 s; the exit signal ends it at once.
    let restarted = within(3, async {
        loop {
            let a = Asker::whereis("fp-stall-asker");
            let p = Sleeper::whereis("fp-stall-partner");
            if let (Some(a), Some(p)) = (a, p)
                && a != asker
                && p != partner
            {
                break (a, p);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(within(5, asker.exited()).await, ExitReason::Shutdown);
    within(5, restarted.0.ping()).await.unwrap();
    within(5, restarted.1.ping()).await.unwrap();
    within(10, sup.stop()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_signal_ends_a_server_in_a_handler_and_fails_its_callers() {
    let sleeper = Sleeper::default();
    let terminated = sleeper.terminated.clone();
    let server = Sleeper::start(sleeper).await.unwrap();
    let running = server.long_call().send();
    // Until the long call is being handled.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let queued = server.ping().send();
    gensrv::exit(&server, error("enough"));
    assert_eq!(
        within(2, running).await,
        Err(CallError::Exited(error("enough")))
    );
    assert_eq!(
        within(2, queued).await,
        Err(CallError::Exited(error("enough")))
    );
    assert_eq!(within(2, server.exited()).await, error("enough"));
    assert_eq!(terminated_with(&terminated), vec![error("enough")]);
    assert_eq!(server.ping().await, Err(CallError::NoProc));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_with_killed_kills_and_normal_is_ignored_unless_trapped() {
    let sleeper = Sleeper::default();
    let terminated = sleeper.terminated.clone();
    let server = Sleeper::start(sleeper).await.unwrap();
    gensrv::exit(&server.pid(), ExitReason::Normal);
    within(5, server.ping()).await.unwrap();
    assert!(server.is_alive());

    // Killed cannot be trapped, and no terminate runs.
    within(5, server.trap()).await.unwrap();
    gensrv::exit(&server, ExitReason::Killed);
    assert_eq!(within(5, server.exited()).await, ExitReason::Killed);
    assert_eq!(terminated_with(&terminated), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_server_gets_exit_signals_as_messages_in_order() {
    let trapper = Sleeper::start(Sleeper::default()).await.unwrap();
    let sender = Sleeper::start(Sleeper::default()).await.unwrap();
    within(5, trapper.trap()).await.unwrap();
    // Behind a nap: the signals wait their turn in the mailbox.
    trapper.nap(50).unwrap();
    gensrv::exit(&trapper, ExitReason::Normal);
    within(5, sender.signal(trapper.pid(), error("from a server")))
        .await
        .unwrap();
    assert_eq!(
        within(5, trapper.exits()).await.unwrap(),
        vec![
            Exit {
                pid: Pid::EXTERNAL,
                reason: ExitReason::Normal,
            },
            Exit {
                pid: sender.pid(),
                reason: error("from a server"),
            },
        ]
    );
    assert!(trapper.is_alive());
}

#[test]
fn a_server_killed_before_its_first_poll_publishes_its_end() {
    // On a current_thread runtime the server task is spawned but not yet polled
    // when `whereis` finds it from another task.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let init_ran = Arc::new(AtomicBool::new(false));
    runtime.block_on(async {
        // Polled once here: the name is registered and the task spawned, not run.
        let mut starting = Box::pin(
            Flagged::start(init_ran.clone())
                .name("fp-unpolled")
                .into_future(),
        );
        std::future::poll_fn(|cx| {
            assert!(starting.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        let found = Flagged::whereis("fp-unpolled").unwrap();
        let queued = found.ping().send();
        found.kill();
        assert_eq!(within(2, found.exited()).await, ExitReason::Killed);
        assert_eq!(
            within(2, queued).await,
            Err(CallError::Exited(ExitReason::Killed))
        );
        assert_eq!(
            within(2, starting).await.unwrap_err(),
            StartError::Init(ExitReason::Killed)
        );
        assert!(
            !init_ran.load(Ordering::SeqCst),
            "the task was polled first"
        );
        assert!(!gensrv::processes().contains(&found.pid()));
        assert_eq!(gensrv::whereis("fp-unpolled"), None);
        let again = Flagged::start(Arc::new(AtomicBool::new(false)))
            .name("fp-unpolled")
            .await
            .unwrap();
        again.stop().await.unwrap();
    });
}

/// Notes that its init ran.
struct Flagged;

#[gen_server]
impl Flagged {
    #[init]
    fn init(ran: Arc<AtomicBool>) -> Self {
        ran.store(true, Ordering::SeqCst);
        Flagged
    }

    #[call]
    fn ping(&self) {}
}

#[test]
fn a_runtime_dropped_with_servers_on_it_fails_their_callers_with_killed() {
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let callers = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = servers
        .block_on(
            Sleeper::start(Sleeper::default())
                .name("fp-dropped-runtime")
                .into_future(),
        )
        .unwrap();
    let (running, queued) = callers.block_on(async {
        let running = server.long_call().send();
        let queued = server.ping().send();
        // Until the long call is in its handler.
        tokio::time::sleep(Duration::from_millis(50)).await;
        (running, queued)
    });
    drop(servers);
    callers.block_on(async {
        let killed = Err(CallError::Exited(ExitReason::Killed));
        assert_eq!(within(2, running).await, killed);
        assert_eq!(within(2, queued).await, killed);
        assert_eq!(within(2, server.exited()).await, ExitReason::Killed);
    });
    assert_eq!(gensrv::whereis("fp-dropped-runtime"), None);
    assert!(!gensrv::processes().contains(&server.pid()));
}

#[test]
fn a_start_outside_a_runtime_fails_and_leaves_no_name() {
    let mut start = Box::pin(
        Flagged::start(Arc::default())
            .name("fp-no-runtime")
            .into_future(),
    );
    let mut cx = std::task::Context::from_waker(Waker::noop());
    match start.as_mut().poll(&mut cx) {
        Poll::Ready(Err(StartError::Init(ExitReason::Error(msg)))) => {
            assert!(msg.contains("tokio runtime"), "{msg}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(gensrv::whereis("fp-no-runtime"), None);
}

/// Panics when dropped; has no terminate.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropped badly");
    }
}

#[gen_server]
impl PanicsOnDrop {
    #[call]
    fn ping(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_state_drop_is_the_exit_reason() {
    let server = PanicsOnDrop::start(PanicsOnDrop).await.unwrap();
    let panic = ExitReason::Panic("dropped badly".into());
    assert_eq!(
        within(5, server.stop()).await,
        Err(StopError::Exited(panic.clone()))
    );
    assert_eq!(within(5, server.exited()).await, panic);
}

/// Hands its calls' replies to a worker, or drops them and stops.
struct Pool {
    worker: WorkerRef,
}

/// A job for the worker: the reply to give.
struct Job(ReplyTo<u32>);

/// Answers jobs, unless it crashes first.
struct Worker;

#[gen_server]
impl Worker {
    #[info]
    fn job(&mut self, job: Job) {
        let _reply = job.0;
        panic!("worker crashed holding a reply");
    }
}

#[gen_server]
impl Pool {
    /// Hands the reply on to the worker.
    #[call]
    fn work(&mut self, reply: ReplyTo<u32>) {
        self.worker.send(Job(reply)).unwrap();
    }

    /// Drops the reply unsent and stops (OTP's `{stop, Reason, State}`), in
    /// either order.
    #[call]
    fn quit(&mut self, reply: ReplyTo<u32>, drop_first: bool, ctx: &mut Context<Self>) {
        if drop_first {
            drop(reply);
            ctx.stop(error("quit"));
        } else {
            ctx.stop(error("quit"));
            drop(reply);
        }
    }

    /// Drops the reply unsent and goes on.
    #[call]
    fn refuse(&mut self, reply: ReplyTo<u32>) {
        drop(reply);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_dropped_by_another_server_does_not_say_the_called_one_exited() {
    let worker = Worker::start(Worker).await.unwrap();
    let pool = Pool::start(Pool {
        worker: worker.clone(),
    })
    .await
    .unwrap();
    assert_eq!(within(5, pool.work()).await, Err(CallError::NoReply));
    assert!(matches!(
        within(5, worker.exited()).await,
        ExitReason::Panic(_)
    ));
    assert!(pool.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_stops_without_replying_gives_its_caller_the_reason() {
    for drop_first in [true, false] {
        let worker = Worker::start(Worker).await.unwrap();
        let pool = Pool::start(Pool { worker }).await.unwrap();
        assert_eq!(within(5, pool.refuse()).await, Err(CallError::NoReply));
        let sent = pool.quit(drop_first).send();
        assert_eq!(within(5, sent).await, Err(CallError::Exited(error("quit"))));
        assert_eq!(within(5, pool.exited()).await, error("quit"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_says_when_the_server_stops_itself_or_had_ended() {
    // (A stop that ends with another reason: semantics.rs, a panic in terminate.)
    let sleeper = Sleeper::start(Sleeper::default()).await.unwrap();
    assert_eq!(
        within(5, sleeper.stop_through_handle()).await,
        Ok(Err(StopError::CallingSelf))
    );
    assert!(sleeper.is_alive());
    within(5, sleeper.stop().reason(ExitReason::Shutdown))
        .await
        .unwrap();
    assert_eq!(within(5, sleeper.stop()).await, Err(StopError::NoProc));
}

/// Holds an entry in a table while it lives; its init never finishes.
struct Holder;

/// Removes the entry when dropped.
struct Held(Arc<Mutex<HashSet<&'static str>>>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.lock().unwrap().remove("port");
    }
}

#[gen_server]
impl Holder {
    #[init]
    async fn init(table: Arc<Mutex<HashSet<&'static str>>>) -> Self {
        table.lock().unwrap().insert("port");
        let _held = Held(table);
        std::future::pending::<()>().await;
        Holder
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_timeout_answers_once_the_init_is_gone() {
    let table = Arc::new(Mutex::new(HashSet::new()));
    for _ in 0..20 {
        let started = Holder::start(table.clone())
            .name("fp-holder")
            .init_timeout(Duration::from_millis(5))
            .await;
        assert_eq!(started.unwrap_err(), StartError::Timeout);
        // Free at once: the port, and the name.
        assert!(table.lock().unwrap().is_empty());
        assert_eq!(gensrv::whereis("fp-holder"), None);
    }
}

/// Takes the edge values of every duration the API has.
struct Edges {
    timeouts: u32,
}

/// A timer's message.
#[derive(Clone, Debug)]
struct Tick;

#[gen_server]
impl Edges {
    #[call]
    fn forever(&mut self, ctx: &mut Context<Self>) {
        ctx.set_timeout(Duration::MAX);
        ctx.send_after(Duration::MAX, Tick);
        ctx.send_interval(Duration::MAX, Tick);
    }

    #[call]
    fn at_once(&mut self, ctx: &mut Context<Self>) {
        ctx.send_after(Duration::ZERO, Tick);
    }

    #[call]
    fn zero_interval(&mut self, ctx: &mut Context<Self>) {
        ctx.send_interval(Duration::ZERO, Tick);
    }

    #[call]
    fn timeouts(&self) -> u32 {
        self.timeouts
    }

    #[info]
    fn tick(&mut self, _: Tick) {
        self.timeouts += 100;
    }

    #[info]
    fn timeout(&mut self, _: Timeout) {
        self.timeouts += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_max_means_never_and_zero_is_defined_or_refused_where_called() {
    let edges = Edges::start(Edges { timeouts: 0 }).await.unwrap();
    within(5, edges.forever()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(edges.is_alive());
    assert_eq!(
        within(5, edges.timeouts().timeout(Duration::MAX)).await,
        Ok(0)
    );

    within(5, edges.at_once()).await.unwrap();
    within(5, async {
        while edges.timeouts().await != Ok(100) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;

    match within(5, edges.zero_interval()).await {
        Err(CallError::Exited(ExitReason::Panic(msg))) => {
            assert!(msg.contains("longer than zero"), "{msg}")
        }
        other => panic!("{other:?}"),
    }

    let other = Edges::start(Edges { timeouts: 0 }).await.unwrap();
    within(5, other.stop().timeout(Duration::MAX))
        .await
        .unwrap();
}

/// `now_or_never` for a future, without a dependency.
trait NowOrNever: std::future::Future + Sized {
    fn now_or_never(self) -> Option<Self::Output> {
        let mut cx = std::task::Context::from_waker(Waker::noop());
        match std::pin::pin!(self).poll(&mut cx) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }
}

impl<F: std::future::Future> NowOrNever for F {}

// OTP 24.1's fix: the link stays until the child has ended, so a supervisor killed
// while it stops one child takes the others down with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_killed_mid_shutdown_takes_its_children_down() {
    let waiting = Sleeper::default();
    let waiting_terminated = waiting.terminated.clone();
    let slow = Sleeper {
        terminate_for: Duration::from_secs(1),
        ..Sleeper::default()
    };
    let sup = Supervisor::start(
        Supervisor::new(Strategy::OneForOne)
            .child(
                Sleeper::child_spec(waiting)
                    .with_id("waiting")
                    .with_name("fp-mid-waiting"),
            )
            .child(
                Sleeper::child_spec(slow)
                    .with_id("slow")
                    .with_name("fp-mid-slow"),
            ),
    )
    .await
    .unwrap();
    let waiting = Sleeper::whereis("fp-mid-waiting").unwrap();
    let slow = Sleeper::whereis("fp-mid-slow").unwrap();
    waiting.nap(3_600_000).unwrap();

    // Stops `slow` first (last started), which takes its time in terminate.
    let stopping = tokio::spawn(sup.stop().into_future());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(waiting.is_alive());
    gensrv::exit(&sup, ExitReason::Killed);
    assert_eq!(within(5, sup.exited()).await, ExitReason::Killed);
    assert_eq!(
        within(5, stopping).await.unwrap(),
        Err(StopError::Exited(ExitReason::Killed))
    );
    // The waiting child was never asked to stop: its parent's end ended it, at
    // once, in the middle of its nap.
    assert_eq!(within(1, waiting.exited()).await, ExitReason::Killed);
    assert_eq!(
        terminated_with(&waiting_terminated),
        vec![ExitReason::Killed]
    );
    assert_eq!(within(5, slow.exited()).await, ExitReason::Shutdown);
}

/// Starts a trapping child, linked, and crashes on demand.
struct Parent;

#[gen_server]
impl Parent {
    #[call]
    async fn start_trapping_child(&self, ctx: &mut Context<Self>) -> SleeperRef {
        let child = Sleeper::start(Sleeper::default()).link(ctx).await.unwrap();
        child.trap().await.unwrap();
        child
    }

    #[cast]
    fn crash(&self) {
        panic!("parent crashed");
    }
}

// Semantics 9: a server that traps exits is ended by its parent's exit signal, at
// once, even in the middle of a handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_child_in_a_handler_ends_with_its_parent() {
    let parent = Parent::start(Parent).await.unwrap();
    let child = within(5, parent.start_trapping_child()).await.unwrap();
    child.nap(3_600_000).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    parent.crash().unwrap();
    let panic = ExitReason::Panic("parent crashed".into());
    assert_eq!(within(2, child.exited()).await, panic);
    assert_eq!(within(2, child.exits()).await, Err(CallError::NoProc));
}

/// Panics when dropped.
struct Grenade;

impl Drop for Grenade {
    fn drop(&mut self) {
        panic!("grenade went off");
    }
}

/// Takes grenades, and naps.
struct Bin;

#[gen_server]
impl Bin {
    #[cast]
    async fn nap(&self) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }

    #[cast]
    fn take(&self, grenade: Grenade) {
        std::mem::forget(grenade);
    }

    #[call]
    fn ping(&self) {}
}

// Semantics 11: a panic anywhere, also in the `Drop` of a message still queued
// when the server ends, is its exit reason; the other queued callers are failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_dropping_a_queued_message_is_the_exit_reason() {
    let bin = Bin::start(Bin).await.unwrap();
    bin.nap().unwrap();
    bin.take(Grenade).unwrap();
    let queued = bin.ping().send();
    tokio::time::sleep(Duration::from_millis(20)).await;
    gensrv::exit(&bin, error("emptied"));
    let panic = ExitReason::Panic("grenade went off".into());
    assert_eq!(within(5, bin.exited()).await, panic);
    assert_eq!(within(5, queued).await, Err(CallError::Exited(panic)));
}

// `exited()` waits given up before the end (dropped, timed out, polled from
// several tasks) neither keep the later ones from resolving nor resolve wrongly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exited_waits_given_up_leave_the_others_to_resolve() {
    let server = Sleeper::start(Sleeper::default()).await.unwrap();
    for _ in 0..100 {
        // Registered, then dropped unresolved.
        let waited = tokio::time::timeout(Duration::from_millis(1), server.exited()).await;
        assert!(waited.is_err());
    }
    // The same future polled again after a timeout of the select it is in.
    let mut kept = Box::pin(server.exited());
    for _ in 0..3 {
        tokio::select! {
            _ = &mut kept => panic!("resolved before the end"),
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
    let waiters: Vec<_> = (0..8).map(|_| tokio::spawn(server.exited())).collect();
    tokio::task::yield_now().await;
    server.stop().reason(ExitReason::Shutdown).await.unwrap();
    assert_eq!(within(2, kept).await, ExitReason::Shutdown);
    for waiter in waiters {
        assert_eq!(within(2, waiter).await.unwrap(), ExitReason::Shutdown);
    }
    // Once ended, at once.
    assert_eq!(within(2, server.exited()).await, ExitReason::Shutdown);
}
