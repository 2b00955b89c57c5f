//! Every handler form `#[gen_server]` accepts, and what `Context` does.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gensrv::{
    CallError, Context, ExitReason, Init, ReplyTo, StartError, StopError, Timeout, gen_server,
};
use gensrv_tests::within;

/// A message of its own, for info handlers.
#[derive(Debug)]
struct Bump(i64);

/// A continuation message.
#[derive(Debug)]
struct Then(&'static str);

/// Exercises sync and async handlers, `&self` and `&mut self`, with and without a
/// context.
struct Forms {
    n: i64,
    log: Vec<String>,
}

#[gen_server]
impl Forms {
    #[init]
    fn init(n: i64) -> Self {
        Forms { n, log: vec![] }
    }

    #[call]
    fn sync_ref(&self) -> i64 {
        self.n
    }

    #[call]
    async fn async_ref(&self, add: i64) -> i64 {
        tokio::task::yield_now().await;
        self.n + add
    }

    #[call]
    fn sync_mut(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }

    #[call]
    async fn async_mut_ctx(&mut self, by: i64, ctx: &mut Context<Self>) -> (i64, gensrv::Pid) {
        tokio::task::yield_now().await;
        self.n += by;
        (self.n, ctx.pid())
    }

    #[call]
    fn two_args(&self, a: String, b: Vec<u8>) -> String {
        format!("{a}{}", b.len())
    }

    /// A call with no reply value still answers `()`.
    #[call]
    fn unit(&mut self) {
        self.log.push("unit".into());
    }

    #[cast]
    fn cast_sync(&mut self, by: i64) {
        self.n += by;
    }

    #[cast]
    async fn cast_async_ctx(&mut self, by: i64, ctx: &mut Context<Self>) {
        tokio::task::yield_now().await;
        self.n += by;
        ctx.continue_with(Then("after cast"));
    }

    #[info]
    fn bump(&mut self, bump: Bump) {
        self.n += bump.0;
    }

    #[info]
    async fn then(&mut self, then: Then) {
        self.log.push(then.0.to_string());
    }

    #[call]
    fn log(&self) -> Vec<String> {
        self.log.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_handler_form_is_dispatched() {
    let forms = Forms::start(10).await.unwrap();
    assert_eq!(forms.sync_ref().await, Ok(10));
    assert_eq!(forms.async_ref(5).await, Ok(15));
    assert_eq!(forms.sync_mut(1).await, Ok(11));
    assert_eq!(forms.async_mut_ctx(1).await, Ok((12, forms.pid())));
    assert_eq!(
        forms.two_args("x".into(), vec![1, 2]).await,
        Ok("x2".into())
    );
    assert_eq!(forms.unit().await, Ok(()));
    forms.cast_sync(100).unwrap();
    forms.cast_async_ctx(1000).unwrap();
    forms.send(Bump(10_000)).unwrap();
    assert_eq!(forms.sync_ref().await, Ok(11_112));
    assert_eq!(forms.log().await.unwrap(), vec!["unit", "after cast"]);
}

/// Shows that a continuation runs before anything already queued.
struct Continues {
    order: Vec<&'static str>,
}

#[gen_server]
impl Continues {
    #[cast]
    async fn first(&mut self, ctx: &mut Context<Self>) {
        // Let the test queue `second` behind us before we return.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.order.push("first");
        ctx.continue_with(Then("continuation"));
    }

    #[cast]
    fn second(&mut self) {
        self.order.push("second");
    }

    #[info]
    fn then(&mut self, then: Then) {
        self.order.push(then.0);
    }

    #[call]
    fn order(&self) -> Vec<&'static str> {
        self.order.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_runs_before_the_queued_messages() {
    let server = Continues::start(Continues { order: vec![] }).await.unwrap();
    server.first().unwrap();
    server.second().unwrap();
    let order = within(2, server.order()).await.unwrap();
    assert_eq!(order, vec!["first", "continuation", "second"]);
}

/// Counts idle timeouts.
struct Idle {
    timeouts: u32,
    after: Duration,
}

#[gen_server]
impl Idle {
    #[init]
    fn init(after: Duration, ctx: &mut Context<Self>) -> Self {
        // OTP's `{ok, State, Timeout}`.
        ctx.set_timeout(after);
        Idle { timeouts: 0, after }
    }

    #[info]
    fn timeout(&mut self, _: Timeout, ctx: &mut Context<Self>) {
        self.timeouts += 1;
        if self.timeouts < 3 {
            ctx.set_timeout(self.after);
        }
    }

    #[call]
    fn timeouts(&self) -> u32 {
        self.timeouts
    }

    /// Any message disarms the timeout; this one re-arms it.
    #[cast]
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        ctx.set_timeout(self.after);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timeout_fires_when_no_message_comes_and_only_then() {
    let idle = Idle::start(Duration::from_millis(30)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Re-armed twice by the handler, then not again.
    assert_eq!(idle.timeouts().await, Ok(3));

    // A message before the deadline disarms it.
    let busy = Idle::start(Duration::from_millis(200)).await.unwrap();
    assert_eq!(busy.timeouts().await, Ok(0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(busy.timeouts().await, Ok(0));
    busy.rearm().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(busy.timeouts().await, Ok(1));
}

/// Stops itself after three zero idle timeouts.
struct Spinner {
    left: u32,
}

#[gen_server]
impl Spinner {
    #[init]
    fn init(ctx: &mut Context<Self>) -> Self {
        ctx.set_timeout(Duration::ZERO);
        Spinner { left: 3 }
    }

    #[info]
    fn timeout(&mut self, _: Timeout, ctx: &mut Context<Self>) {
        self.left -= 1;
        if self.left == 0 {
            ctx.stop(ExitReason::Normal);
        } else {
            ctx.set_timeout(Duration::ZERO);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_timeout_fires_once_the_mailbox_is_empty() {
    let spinner = Spinner::start().await.unwrap();
    assert_eq!(within(2, spinner.exited()).await, ExitReason::Normal);
}

/// A server without an info handler for `Timeout`: the timeout is dropped.
struct Deaf;

#[gen_server]
impl Deaf {
    #[init]
    fn init(ctx: &mut Context<Self>) -> Self {
        ctx.set_timeout(Duration::ZERO);
        Deaf
    }

    #[call]
    fn alive(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_without_handler_is_dropped() {
    let deaf = Deaf::start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(deaf.alive().await, Ok(true));
}

/// Its own type named `Timeout`, which is not the runtime's.
mod own_timeout {
    use gensrv::gen_server;

    /// Not `gensrv::Timeout`.
    pub struct Timeout(pub u8);

    /// Handles its own `Timeout`.
    pub struct Alarm {
        pub rang: Vec<u8>,
    }

    #[gen_server]
    impl Alarm {
        #[init]
        fn init(ctx: &mut gensrv::Context<Self>) -> Self {
            ctx.set_timeout(std::time::Duration::ZERO);
            Alarm { rang: vec![] }
        }

        #[info]
        fn ring(&mut self, t: Timeout) {
            self.rang.push(t.0);
        }

        #[call]
        fn rang(&self) -> Vec<u8> {
            self.rang.clone()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_info_type_named_like_a_runtime_message_is_still_the_users() {
    let alarm = own_timeout::Alarm::start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    alarm.send(own_timeout::Timeout(7)).unwrap();
    // The runtime's timeout did not reach `ring`; the user's message did.
    assert_eq!(alarm.rang().await, Ok(vec![7]));
}

/// What terminate received, shared with the test.
type Terminated = Arc<Mutex<Option<String>>>;

/// Terminates by value, with a context.
struct ByValue {
    out: Terminated,
}

#[gen_server]
impl ByValue {
    #[call]
    fn stop_with(&mut self, reason: ExitReason, ctx: &mut Context<Self>) {
        ctx.stop(reason);
    }

    #[terminate]
    async fn terminate(self, reason: &ExitReason, ctx: &mut Context<Self>) {
        tokio::task::yield_now().await;
        *self.out.lock().unwrap() = Some(format!("{} {reason}", ctx.pid()));
    }
}

/// Terminates without looking at the reason.
struct NoReason {
    out: Terminated,
}

#[gen_server]
impl NoReason {
    #[terminate]
    fn terminate(&mut self) {
        *self.out.lock().unwrap() = Some("done".into());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_runs_in_each_form_with_the_reason() {
    let out = Terminated::default();
    let server = ByValue::start(ByValue { out: out.clone() }).await.unwrap();
    let pid = server.pid();
    assert_eq!(
        server.stop_with(ExitReason::Error("bye".into())).await,
        Ok(())
    );
    assert_eq!(
        within(2, server.exited()).await,
        ExitReason::Error("bye".into())
    );
    assert_eq!(
        out.lock().unwrap().clone(),
        Some(format!("{pid} error: bye"))
    );

    let out = Terminated::default();
    let server = NoReason::start(NoReason { out: out.clone() })
        .await
        .unwrap();
    server.stop().await.unwrap();
    assert_eq!(out.lock().unwrap().clone(), Some("done".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_skips_terminate() {
    let out = Terminated::default();
    let server = NoReason::start(NoReason { out: out.clone() })
        .await
        .unwrap();
    server.kill();
    assert_eq!(within(2, server.exited()).await, ExitReason::Killed);
    assert_eq!(out.lock().unwrap().clone(), None);
}

/// Hangs in terminate.
struct Stubborn;

#[gen_server]
impl Stubborn {
    #[terminate]
    async fn terminate(&mut self) {
        std::future::pending::<()>().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_a_timeout_kills_a_server_that_does_not_end() {
    let server = Stubborn::start(Stubborn).await.unwrap();
    let stopped = server
        .stop()
        .reason(ExitReason::Shutdown)
        .timeout(Duration::from_millis(50))
        .await;
    assert_eq!(stopped, Err(StopError::Timeout));
    assert_eq!(within(2, server.exited()).await, ExitReason::Killed);
}

/// Init in each of its forms.
struct Inits;

#[gen_server]
impl Inits {
    #[init]
    async fn init(how: u8) -> Init<Self> {
        match how {
            0 => Init::Ready(Inits),
            1 => Init::Ignore,
            _ => Init::Stop(ExitReason::Shutdown),
        }
    }
}

/// Init returning a `Result`.
struct Fallible;

#[gen_server]
impl Fallible {
    #[init]
    fn init(ok: bool) -> Result<Self, std::io::Error> {
        if ok {
            Ok(Fallible)
        } else {
            Err(std::io::Error::other("no luck"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_may_return_the_state_a_result_or_an_init() {
    assert!(Inits::start(0).await.is_ok());
    assert_eq!(Inits::start(1).await.unwrap_err(), StartError::Ignored);
    assert_eq!(
        Inits::start(2).await.unwrap_err(),
        StartError::Init(ExitReason::Shutdown)
    );
    assert!(Fallible::start(true).await.is_ok());
    assert_eq!(
        Fallible::start(false).await.unwrap_err(),
        StartError::Init(ExitReason::Error("no luck".into()))
    );
}

/// Defers replies and answers from another task.
struct Deferring;

#[gen_server]
impl Deferring {
    #[call]
    fn later(&self, value: u32, delay: Duration, reply: ReplyTo<u32>) {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = reply.send(value);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_reply_can_come_from_another_task_out_of_order() {
    let server = Deferring::start(Deferring).await.unwrap();
    let slow = server.later(1, Duration::from_millis(100)).send();
    let fast = server.later(2, Duration::ZERO).send();
    assert_eq!(within(2, fast).await, Ok(2));
    assert_eq!(within(2, slow).await, Ok(1));
    // The server was free meanwhile: the reply came from elsewhere.
    let timed_out = server
        .later(3, Duration::from_secs(10))
        .timeout(Duration::from_millis(20));
    assert_eq!(timed_out.await, Err(CallError::Timeout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_compare_hash_and_print_by_pid() {
    let a = Forms::start(0).name("forms-a").await.unwrap();
    let b = Forms::start(0).await.unwrap();
    assert_eq!(a, a.clone());
    assert_ne!(a, b);
    // Handles hash and compare by pid, which never changes, whatever the process holds.
    #[allow(clippy::mutable_key_type)]
    let set: HashSet<_> = [a.clone(), a.clone(), b.clone()].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert_eq!(
        format!("{a:?}"),
        format!("FormsRef({}, \"forms-a\")", a.pid())
    );
    assert_eq!(format!("{b:?}"), format!("FormsRef({})", b.pid()));
    assert_eq!(Forms::whereis("forms-a"), Some(a.clone()));
    assert_eq!(a.name(), Some("forms-a"));
    // A name held by a server of another type is not that type's.
    assert!(Idle::whereis("forms-a").is_none());
    // The generic handle converts both ways.
    let generic: gensrv::ServerRef<Forms> = a.clone().into();
    assert_eq!(FormsRef::from(generic), a);
}

/// Counts the zero timeouts it gets before its first call.
struct Eager {
    timeouts_before_call: u32,
}

#[gen_server]
impl Eager {
    #[init]
    fn init(ctx: &mut Context<Self>) -> Self {
        ctx.set_timeout(Duration::ZERO);
        Eager {
            timeouts_before_call: 0,
        }
    }

    #[info]
    fn timeout(&mut self, _: Timeout) {
        self.timeouts_before_call += 1;
    }

    #[call]
    fn timeouts(&self) -> u32 {
        self.timeouts_before_call
    }
}

// OTP's `{ok, State, 0}`: the timeout comes as soon as init has returned with an
// empty mailbox, not at the timer's next tick. On one thread the server goes on
// from its init to its first receive before the starter resumes, so the call
// below is sent after that receive: a zero timer would lose to it every time,
// the mailbox check wins every time. (On several threads the two race, as in OTP.)
#[tokio::test(flavor = "current_thread")]
async fn a_zero_timeout_from_init_comes_before_a_call_sent_after_start() {
    let mut fired = 0;
    for _ in 0..100 {
        let eager = Eager::start().await.unwrap();
        fired += within(2, eager.timeouts()).await.unwrap();
        eager.stop().await.unwrap();
    }
    assert_eq!(fired, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pid_gives_a_typed_handle_only_for_its_own_type() {
    let forms = Forms::start(1).await.unwrap();
    let found = gensrv::ServerRef::<Forms>::from_pid(forms.pid()).map(FormsRef::from);
    assert_eq!(found, Some(forms.clone()));
    assert!(gensrv::ServerRef::<Deaf>::from_pid(forms.pid()).is_none());
    forms.stop().await.unwrap();
    assert!(gensrv::ServerRef::<Forms>::from_pid(forms.pid()).is_none());
}
