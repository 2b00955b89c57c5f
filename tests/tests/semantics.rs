//! DESIGN.md's semantics 1, 2, 3, 4, 6, 7 and 8, each proven by tests that fail
//! when the semantic is broken. Waits are bounded by `within`, and "at once" means
//! well under the 5 s default call timeout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gensrv::{
    CallError, CastError, Context, ExitReason, ReplyTo, StartError, StopError, gen_server,
};
use gensrv_tests::within;

/// What a test server's terminate saw, shared with the test.
type Seen = Arc<Mutex<Vec<String>>>;

fn seen() -> Seen {
    Arc::default()
}

fn log(seen: &Seen, entry: impl Into<String>) {
    seen.lock().unwrap().push(entry.into());
}

/// An info message carrying a number.
struct Note(u32);

/// Records every message it handles, in the order handled.
struct Recorder {
    handled: Vec<u32>,
}

#[gen_server]
impl Recorder {
    #[call]
    fn record_call(&mut self, n: u32) {
        self.handled.push(n);
    }

    #[cast]
    fn record_cast(&mut self, n: u32) {
        self.handled.push(n);
    }

    #[info]
    async fn note(&mut self, note: Note) {
        // An await in between must not let a later message overtake this one.
        tokio::task::yield_now().await;
        self.handled.push(note.0);
    }

    #[call]
    fn handled(&self) -> Vec<u32> {
        self.handled.clone()
    }
}

// Semantic 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_one_task_are_handled_in_order_across_kinds() {
    let recorder = Recorder::start(Recorder { handled: vec![] }).await.unwrap();
    let mut expected = Vec::new();
    let mut pending = Vec::new();
    for n in 0..3000u32 {
        match n % 3 {
            0 => recorder.record_cast(n).unwrap(),
            1 => recorder.send(Note(n)).unwrap(),
            // Not awaited yet: the request is in the mailbox already.
            _ => pending.push(recorder.record_call(n).send()),
        }
        expected.push(n);
    }
    let handled = within(10, recorder.handled()).await.unwrap();
    assert_eq!(handled, expected);
    for reply in pending {
        assert_eq!(within(5, reply).await, Ok(()));
    }
}

// Semantic 1, with several senders: each sender's own order holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_senders_order_holds_when_senders_interleave() {
    let recorder = Recorder::start(Recorder { handled: vec![] }).await.unwrap();
    let mut tasks = Vec::new();
    for sender in 0..4u32 {
        let recorder = recorder.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..500u32 {
                let n = sender * 10_000 + i;
                match i % 3 {
                    0 => recorder.record_cast(n).unwrap(),
                    1 => recorder.send(Note(n)).unwrap(),
                    _ => recorder.record_call(n).await.unwrap(),
                }
            }
        }));
    }
    for task in tasks {
        within(10, task).await.unwrap();
    }
    let handled = recorder.handled().await.unwrap();
    assert_eq!(handled.len(), 2000);
    for sender in 0..4u32 {
        let mine: Vec<u32> = handled
            .iter()
            .copied()
            .filter(|n| n / 10_000 == sender)
            .collect();
        let sent: Vec<u32> = (0..500).map(|i| sender * 10_000 + i).collect();
        assert_eq!(mine, sent, "sender {sender} out of order");
    }
}

/// A server that can be made to die in various ways while calls wait on it.
struct Fragile {
    seen: Seen,
    held: Vec<ReplyTo<u32>>,
}

#[gen_server]
impl Fragile {
    #[call]
    fn value(&self) -> u32 {
        7
    }

    /// Panics after a while, with calls queued behind it.
    #[cast]
    async fn crash_later(&mut self, after: Duration) {
        tokio::time::sleep(after).await;
        panic!("fragile crashed");
    }

    /// Panics while handling this very call.
    #[call]
    async fn crash_now(&mut self) -> u32 {
        tokio::task::yield_now().await;
        panic!("crashed in a call");
    }

    /// Takes its time.
    #[cast]
    async fn pause(&mut self, pause: Duration) {
        tokio::time::sleep(pause).await;
    }

    /// Stops after replying.
    #[call]
    fn stop_after_reply(&mut self, ctx: &mut Context<Self>) -> u32 {
        ctx.stop(ExitReason::Normal);
        1
    }

    /// Keeps the reply in the state.
    #[call]
    fn hold(&mut self, reply: ReplyTo<u32>) {
        self.held.push(reply);
    }

    /// Hands the reply to a task that never answers, and keeps the server alive.
    #[call]
    fn hand_off(&mut self, reply: ReplyTo<u32>) {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let _ = reply.send(0);
        });
    }

    /// Never returns.
    #[call]
    async fn hang(&self) -> u32 {
        std::future::pending::<()>().await;
        0
    }

    #[terminate]
    fn terminate(&mut self, reason: &ExitReason) {
        log(&self.seen, format!("terminate: {reason}"));
    }
}

fn fragile(seen: &Seen) -> Fragile {
    Fragile {
        seen: seen.clone(),
        held: Vec::new(),
    }
}

// Semantic 2: the server dies while the call waits in the mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_queued_on_a_server_that_crashes_fails_at_once() {
    let seen = seen();
    let server = Fragile::start(fragile(&seen)).await.unwrap();
    server.crash_later(Duration::from_millis(50)).unwrap();
    let started = Instant::now();
    let result = within(2, server.value()).await;
    assert_eq!(
        result,
        Err(CallError::Exited(ExitReason::Panic(
            "fragile crashed".into()
        )))
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

// Semantic 2: the server dies while handling the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_handler_panics_fails_at_once_with_the_panic() {
    let server = Fragile::start(fragile(&seen())).await.unwrap();
    let result = within(2, server.crash_now()).await;
    assert_eq!(
        result,
        Err(CallError::Exited(ExitReason::Panic(
            "crashed in a call".into()
        )))
    );
}

// Semantic 2: killed while handling the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_server_killed_while_handling_it_fails_at_once() {
    let server = Fragile::start(fragile(&seen())).await.unwrap();
    let hanging = server.hang().send();
    let queued = server.value().send();
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.kill();
    assert_eq!(
        within(2, hanging).await,
        Err(CallError::Exited(ExitReason::Killed))
    );
    assert_eq!(
        within(2, queued).await,
        Err(CallError::Exited(ExitReason::Killed))
    );
}

/// Does synchronous work, which holds its task on its thread.
struct Busy;

#[gen_server]
impl Busy {
    #[cast]
    fn work(&mut self, time: Duration) {
        std::thread::sleep(time);
    }

    #[call]
    fn ping(&self) -> u32 {
        1
    }
}

// Semantic 2, and `kill`'s "at once": a server killed while its task runs (here
// in a blocking handler, which nothing can interrupt) handles no message after
// that handler, not even one already waiting: a ready mailbox does not make the
// task yield, which is where the abort takes effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_running_handles_no_further_message() {
    let server = Busy::start(Busy).await.unwrap();
    server.work(Duration::from_millis(100)).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let queued = server.ping().send();
    server.kill();
    let after = server.ping().send();
    assert_eq!(
        within(2, queued).await,
        Err(CallError::Exited(ExitReason::Killed))
    );
    assert_eq!(
        within(2, after).await,
        Err(CallError::Exited(ExitReason::Killed))
    );
}

// Semantic 2: a deferred reply kept in the state when the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_call_fails_when_its_server_stops() {
    let server = Fragile::start(fragile(&seen())).await.unwrap();
    let held = server.hold().send();
    server.stop().reason(ExitReason::Shutdown).await.unwrap();
    assert_eq!(
        within(2, held).await,
        Err(CallError::Exited(ExitReason::Shutdown))
    );
}

// Semantic 2: a deferred reply held by another task when the server dies: the
// caller watches the server, not only its reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_call_handed_off_fails_when_its_server_dies() {
    let server = Fragile::start(fragile(&seen())).await.unwrap();
    let handed_off = server.hand_off().send();
    // The handler has run once a later call is answered.
    assert_eq!(server.value().await, Ok(7));
    server.kill();
    assert_eq!(
        within(2, handed_off).await,
        Err(CallError::Exited(ExitReason::Killed))
    );
}

// Semantic 2 (and 8): calls and casts to a server that has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_casts_to_an_ended_server_fail_with_noproc() {
    let server = Fragile::start(fragile(&seen())).await.unwrap();
    server.stop().await.unwrap();
    assert!(!server.is_alive());
    assert_eq!(within(1, server.value()).await, Err(CallError::NoProc));
    assert_eq!(server.crash_later(Duration::ZERO), Err(CastError::NoProc));
    assert_eq!(server.stop().await, Err(StopError::NoProc));
}

// Semantic 8: requests still queued when the server stops get an error, not silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_queued_behind_a_stop_fail_with_the_exit_reason() {
    let server = Fragile::start(fragile(&seen())).await.unwrap();
    // Keeps the server busy while the requests below are queued.
    server.pause(Duration::from_millis(100)).unwrap();
    let first = server.stop_after_reply().send();
    let queued: Vec<_> = (0..10).map(|_| server.value().send()).collect();
    assert_eq!(
        within(2, first).await,
        Ok(1),
        "the stopping call still gets its reply"
    );
    for reply in queued {
        assert_eq!(
            within(2, reply).await,
            Err(CallError::Exited(ExitReason::Normal))
        );
    }
}

/// Replies after a delay it is told.
struct Slow;

#[gen_server]
impl Slow {
    #[call]
    async fn echo_after(&self, id: u32, delay: Duration) -> u32 {
        tokio::time::sleep(delay).await;
        id
    }

    /// Replies later, and tells whether the caller was still there.
    #[call]
    async fn late(&self, delay: Duration, reply: ReplyTo<u32>, ctx: &mut Context<Self>) {
        let _ = ctx;
        tokio::time::sleep(delay).await;
        let delivered = reply.send(1).is_ok();
        DELIVERED.lock().unwrap().push(delivered);
    }
}

static DELIVERED: Mutex<Vec<bool>> = Mutex::new(Vec::new());

// Semantic 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_after_the_timeout_is_dropped_not_taken_by_the_next_call() {
    let slow = Slow::start(Slow).await.unwrap();
    let timed_out = slow
        .echo_after(1, Duration::from_millis(200))
        .timeout(Duration::from_millis(20))
        .await;
    assert_eq!(timed_out, Err(CallError::Timeout));
    // The late reply of call 1 arrives while call 2 waits.
    let next = within(2, slow.echo_after(2, Duration::ZERO)).await;
    assert_eq!(next, Ok(2));
    let third = within(2, slow.echo_after(3, Duration::ZERO)).await;
    assert_eq!(third, Ok(3));

    // And the replier learns that nobody took it.
    let timed_out = slow
        .late(Duration::from_millis(100))
        .timeout(Duration::from_millis(10))
        .await;
    assert_eq!(timed_out, Err(CallError::Timeout));
    assert_eq!(slow.echo_after(4, Duration::ZERO).await, Ok(4));
    assert_eq!(DELIVERED.lock().unwrap().as_slice(), &[false]);
}

/// Sleeps when dropped: holds a window open while a panic unwinds.
struct SlowDrop;

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Panics in a sync call handler holding its `ReplyTo` and a `SlowDrop`.
struct Unwinder;

#[gen_server]
impl Unwinder {
    #[call]
    fn panic_holding(&self, slow: SlowDrop, reply: ReplyTo<u32>) {
        // Parameters drop in reverse order: `reply`, then `slow`, as this unwinds.
        let _ = (&slow, &reply);
        panic!("unwinding")
    }
}

// Semantic 2 and 4: while the panic unwinds, the call's ReplyTo is dropped 200 ms
// before the server can record its exit; the caller must still get the panic, not
// `NoReply`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_whose_reply_is_dropped_by_an_unwinding_panic_gets_the_panic() {
    let server = Unwinder::start(Unwinder).await.unwrap();
    let result = within(2, server.panic_holding(SlowDrop)).await;
    assert_eq!(
        result,
        Err(CallError::Exited(ExitReason::Panic("unwinding".into())))
    );
}

/// A server whose terminate reports to the test.
struct Crashy {
    seen: Seen,
}

#[gen_server]
impl Crashy {
    #[call]
    fn ok(&self) -> bool {
        true
    }

    #[call]
    fn panic_in_call(&self) -> bool {
        panic!("boom in call")
    }

    #[cast]
    fn panic_in_cast(&mut self) {
        panic!("boom in cast")
    }

    #[info]
    fn panic_in_info(&mut self, _: Note) {
        panic!("boom in info")
    }

    #[terminate]
    async fn terminate(self, reason: &ExitReason) {
        log(&self.seen, format!("terminate: {reason}"));
    }
}

// Semantic 4, for each kind of handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_ends_only_its_server_runs_terminate_and_frees_the_name() {
    for (kind, message) in [
        ("call", "boom in call"),
        ("cast", "boom in cast"),
        ("info", "boom in info"),
    ] {
        let seen = seen();
        let name = format!("crashy-{kind}");
        let crashy = Crashy::start(Crashy { seen: seen.clone() })
            .name(name.as_str())
            .await
            .unwrap();
        let bystander = Crashy::start(Crashy {
            seen: Seen::default(),
        })
        .await
        .unwrap();
        match kind {
            "call" => assert_eq!(
                within(2, crashy.panic_in_call()).await,
                Err(CallError::Exited(ExitReason::Panic(message.into())))
            ),
            "cast" => crashy.panic_in_cast().unwrap(),
            _ => crashy.send(Note(0)).unwrap(),
        }
        let reason = within(2, crashy.exited()).await;
        assert_eq!(reason, ExitReason::Panic(message.into()));
        assert_eq!(
            *seen.lock().unwrap(),
            vec![format!("terminate: panic: {message}")]
        );
        assert_eq!(gensrv::whereis(&name), None);
        assert!(Crashy::whereis(&name).is_none());
        // The runtime and the other servers go on.
        assert_eq!(within(2, bystander.ok()).await, Ok(true));
        assert_eq!(within(2, crashy.ok()).await, Err(CallError::NoProc));
    }
}

/// Panics in terminate.
struct BadTerminate;

#[gen_server]
impl BadTerminate {
    #[terminate]
    fn terminate(&mut self) {
        panic!("terminate failed");
    }
}

// Semantic 4, and OTP's rule that a crash in terminate becomes the exit reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_terminate_becomes_the_exit_reason() {
    let server = BadTerminate::start(BadTerminate).await.unwrap();
    let panic = ExitReason::Panic("terminate failed".into());
    // As OTP's gen_server:stop, which fails with the real reason.
    assert_eq!(
        within(5, server.stop()).await,
        Err(gensrv::StopError::Exited(panic.clone()))
    );
    assert_eq!(server.exited().await, panic);
}

/// Counts how often its init ran; init fails when told to.
struct Named;

static INITS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[gen_server]
impl Named {
    #[init]
    async fn init(how: (&'static str, &'static str)) -> gensrv::Init<Self> {
        let (tag, outcome) = how;
        INITS.lock().unwrap().push(tag.to_string());
        match outcome {
            "ok" => gensrv::Init::Ready(Named),
            "ignore" => gensrv::Init::Ignore,
            "slow" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                gensrv::Init::Ready(Named)
            }
            "panic" => panic!("init panicked"),
            _ => gensrv::Init::Stop(ExitReason::Error(outcome.to_string())),
        }
    }
}

fn inits_of(tag: &str) -> usize {
    INITS.lock().unwrap().iter().filter(|t| *t == tag).count()
}

// Semantic 6: a taken name fails without running init.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_with_a_taken_name_fails_without_running_init() {
    let first = Named::start(("taken-1", "ok")).name("taken").await.unwrap();
    let second = Named::start(("taken-2", "ok")).name("taken").await;
    assert_eq!(second.unwrap_err(), StartError::AlreadyStarted(first.pid()));
    assert_eq!(inits_of("taken-2"), 0);
    assert_eq!(Named::whereis("taken"), Some(first.clone()));
    // The name is free once its server has ended.
    first.stop().await.unwrap();
    assert_eq!(gensrv::whereis("taken"), None);
    let third = Named::start(("taken-3", "ok")).name("taken").await.unwrap();
    assert_eq!(gensrv::whereis("taken"), Some(third.pid()));
}

// Semantic 6: a failed init frees the name before start returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_init_frees_the_name_before_start_returns() {
    for (outcome, error) in [
        ("no db", StartError::Init(ExitReason::Error("no db".into()))),
        (
            "panic",
            StartError::Init(ExitReason::Panic("init panicked".into())),
        ),
        ("ignore", StartError::Ignored),
    ] {
        let name = format!("retry-{outcome}");
        let failed = Named::start(("retry", outcome)).name(name.as_str()).await;
        assert_eq!(failed.unwrap_err(), error);
        assert_eq!(gensrv::whereis(&name), None);
        let retried = Named::start(("retry", "ok")).name(name.as_str()).await;
        assert!(retried.is_ok(), "retry after {outcome}: {retried:?}");
    }
}

// Semantic 6, with OTP's init timeout: the slow server is killed, its name freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_timeout_kills_the_server_and_frees_the_name() {
    let failed = Named::start(("slow", "slow"))
        .name("slow")
        .init_timeout(Duration::from_millis(20))
        .await;
    assert_eq!(failed.unwrap_err(), StartError::Timeout);
    assert_eq!(gensrv::whereis("slow"), None);
    let retried = Named::start(("slow-retry", "ok")).name("slow").await;
    assert!(retried.is_ok());
}

/// Calls itself.
struct Narcissus;

#[gen_server]
impl Narcissus {
    #[call]
    async fn call_myself(&self, ctx: &mut Context<Self>) -> Result<u32, CallError> {
        ctx.this().answer().await
    }

    #[call]
    fn answer(&self) -> u32 {
        42
    }
}

// Semantic 7.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_calling_itself_fails_with_calling_self() {
    let server = Narcissus::start(Narcissus).await.unwrap();
    let result = within(2, server.call_myself()).await;
    assert_eq!(result, Ok(Err(CallError::CallingSelf)));
    // It is still serving.
    assert_eq!(server.answer().await, Ok(42));
}

// Semantic 8, for info messages too, and for a dropped deferred reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_silently() {
    let server = Crashy::start(Crashy { seen: seen() }).await.unwrap();
    server.kill();
    assert_eq!(within(2, server.exited()).await, ExitReason::Killed);
    assert_eq!(server.send(Note(1)), Err(CastError::NoProc));
    assert_eq!(server.panic_in_cast(), Err(CastError::NoProc));

    let dropper = Dropper::start(Dropper).await.unwrap();
    let started = Instant::now();
    assert_eq!(within(2, dropper.forget()).await, Err(CallError::NoReply));
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// Drops deferred replies.
struct Dropper;

#[gen_server]
impl Dropper {
    #[call]
    fn forget(&self, reply: ReplyTo<u32>) {
        drop(reply);
    }
}
