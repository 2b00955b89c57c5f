//! The server task: init, the receive loop, terminate.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use crate::mailbox::{Envelope, Inbox, Sys};
use crate::process::{self, AnyProcess, Process, ProcessCore};
use crate::sys::{Statistics, Status};
use crate::{Context, Exit, ExitReason, GenServer, Init, ServerRef, StartError};

/// The server task: `run`, and what publishes the end of the process however the
/// task ends, also when it is dropped before it was ever polled (killed at once,
/// or its runtime shut down).
pub(crate) fn task<S: GenServer>(
    process: Arc<Process<S>>,
    arg: S::Arg,
) -> ServerTask<impl Future<Output = ()>, S> {
    ServerTask {
        run: run(process.clone(), arg),
        exit: ExitGuard { process },
    }
}

/// The span the server runs in: its type, pid and name. (Kept by the process only
/// if a subscriber wants it, and entered on each poll only then.)
pub(crate) fn span<S: GenServer>(core: &ProcessCore) -> tracing::Span {
    // A root: a server is a process of its own, not part of whoever started it.
    let span = tracing::info_span!(
        parent: None,
        "gen_server",
        server = std::any::type_name::<S>(),
        pid = %core.pid(),
        name = tracing::field::Empty,
    );
    if let Some(name) = core.name() {
        span.record("name", name);
    }
    span
}

pin_project_lite::pin_project! {
    /// The task's future. Its fields drop in order: the run (with the state, the
    /// mailbox and every queued request), then the guard that publishes the end.
    pub(crate) struct ServerTask<F, S: GenServer> {
        #[pin]
        run: F,
        exit: ExitGuard<S>,
    }

    impl<F, S: GenServer> PinnedDrop for ServerTask<F, S> {
        fn drop(this: Pin<&mut Self>) {
            // Before the run drops: a request dropped with it is then failed with
            // the exit reason, not taken for a reply dropped on purpose.
            this.exit.process.core().begin_exit();
        }
    }
}

impl<F: Future<Output = ()>, S: GenServer> Future for ServerTask<F, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.project();
        let _entered = this
            .exit
            .process
            .core
            .span
            .as_ref()
            .map(|span| span.enter());
        this.run.poll(cx)
    }
}

/// The server's life. A plain function returning an `async move` block rather
/// than an `async fn`, here and in `serve`: an `async fn` keeps a copy of each
/// argument beside the local it moves it into, bytes that every task would carry
/// (the future is the bulk of the task's memory).
#[allow(clippy::manual_async_fn)] // On purpose: see above.
fn run<S: GenServer>(process: Arc<Process<S>>, arg: S::Arg) -> impl Future<Output = ()> {
    async move {
        let mut inbox = Inbox::new(&process.mailbox);
        let mut ctx = Context::new(ServerRef::from_process(process.clone()));

        // In a block of its own, so that what init gave does not stay in the
        // future while the server runs.
        let mut state = {
            let core = &process.core;
            let init = Interruptible::new(catch_panic(S::init(arg, &mut ctx)), core, false).await;
            match init {
                Ok(Ok(Init::Ready(state))) => {
                    core.settle_dropped_replies(false);
                    state
                }
                failed => {
                    let (reason, error) = match failed {
                        Ok(Ok(Init::Ignore)) => (ExitReason::Normal, StartError::Ignored),
                        Ok(Ok(Init::Stop(reason))) | Err(reason) => {
                            (reason.clone(), StartError::Init(reason))
                        }
                        Ok(Err(panic)) => {
                            let reason = ExitReason::Panic(panic);
                            (reason.clone(), StartError::Init(reason))
                        }
                        Ok(Ok(Init::Ready(_))) => unreachable!(),
                    };
                    core.begin_exit();
                    core.settle_dropped_replies(true);
                    // Requests sent during init fail with the reason.
                    let reason = match drop_the_rest(ctx, &mut inbox) {
                        None => reason,
                        Some(panic) => ExitReason::Panic(panic),
                    };
                    // As OTP's proc_lib, which reports a process that ends
                    // abnormally, its init failing too.
                    if !reason.is_normal() && !core.killed_on_shutdown() {
                        crash_report::<S>(
                            core,
                            &reason,
                            Some("init"),
                            "(none: init gave no state)",
                        );
                    }
                    // As OTP's init_it: the name is free before the starter hears
                    // of the failure, so that it can retry at once.
                    core.finish_start(reason, Some(error));
                    return;
                }
            }
        };
        process.core.started();

        // One panic catch around the whole loop, not one per message: the loop only
        // borrows the state, which is still here for terminate after a panic. An
        // exit signal drops the loop, and the handler it was in, at its next
        // `.await`.
        let core = &process.core;
        let reason = match catch_panic(Interruptible::new(
            serve(&mut state, &mut ctx, &mut inbox, core),
            core,
            false,
        ))
        .await
        {
            Ok(Ok(reason)) | Ok(Err(reason)) => reason,
            Err(panic) => ExitReason::Panic(panic),
        };
        // The state as the crash report will show it, taken before terminate
        // consumes it (OTP formats it in its terminate too).
        let status = (!reason.is_normal() || core.is_killed()).then(|| format_status(&state));

        core.begin_exit();
        core.settle_dropped_replies(true);
        process.mailbox.close();
        // The state moves into terminate inside the catch: a panic in its `Drop` is
        // a panic of terminate. A kill, before or during terminate, skips it; an
        // exit signal does not interrupt it.
        let reason = if core.is_killed() {
            // Killed is killed, as in OTP, even if the state's `Drop` panics.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(state)));
            ExitReason::Killed
        } else {
            let terminate = catch_panic(async {
                state.terminate(&reason, &mut ctx).await;
            });
            match Interruptible::new(terminate, core, true).await {
                Ok(Ok(())) => reason,
                Ok(Err(panic)) => ExitReason::Panic(panic),
                Err(killed) => killed,
            }
        };
        // A supervisor's `BrutalKill` is how it stops that child: no crash.
        if !reason.is_normal() && !core.killed_on_shutdown() {
            let status = status.as_deref().unwrap_or("(consumed by terminate)");
            crash_report::<S>(core, &reason, ctx.handler, status);
        }
        // Timers stop, and queued calls fail with the reason published just below.
        let reason = match drop_the_rest(ctx, &mut inbox) {
            None => reason,
            Some(panic) => ExitReason::Panic(panic),
        };
        core.finish(reason);
    }
}

/// Drops what an ending server still holds: its context (timers stop) and every
/// message still queued, one by one, so that a message whose `Drop` panics costs
/// neither the others (their callers are failed all the same) nor the end of the
/// server. Gives the first such panic.
///
/// The mailbox is closed under the lock every send takes: a call whose sender got
/// in just before the close is among the messages drained, and is failed here too
/// instead of waiting out its timeout; one after it fails to send.
fn drop_the_rest<S: GenServer>(ctx: Context<S>, inbox: &mut Inbox<'_, S>) -> Option<String> {
    let mut panicked = catch_unwind(AssertUnwindSafe(|| drop(ctx))).err();
    for envelope in inbox.drain() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| drop(envelope))) {
            panicked.get_or_insert(panic);
        }
    }
    panicked.map(panic_message)
}

/// The receive loop, until the server stops; gives the reason. (Not an `async fn`:
/// see `run`.)
#[allow(clippy::manual_async_fn)] // On purpose: see `run`.
fn serve<'a, S: GenServer>(
    state: &'a mut S,
    ctx: &'a mut Context<S>,
    inbox: &'a mut Inbox<'_, S>,
    core: &'a ProcessCore,
) -> impl Future<Output = ExitReason> + 'a {
    async move {
        loop {
            // When the idle timeout set by the last handler elapses, if it is armed.
            let mut idle = None;
            let envelope = if !ctx.changed {
                inbox.recv().await
            } else if let Some(reason) = ctx.take_stop() {
                return reason;
            } else if let Some(info) = ctx.take_continuation() {
                Envelope::Info(info)
            } else if let Some(after) = ctx.take_timeout() {
                match Deadline::after(after) {
                    Deadline::Now => {
                        // OTP's `after 0`: a timeout now, unless a message is already
                        // here. (A zero timer would only fire at the timer's next tick.)
                        match inbox.try_recv() {
                            Some(envelope) => {
                                // Due already; no clock read before the check.
                                idle = Some(Instant::now());
                                envelope
                            }
                            None => Envelope::Timeout,
                        }
                    }
                    Deadline::At(deadline) => {
                        idle = Some(deadline);
                        match inbox.recv_until(deadline).await {
                            Some(envelope) => envelope,
                            None => Envelope::Timeout,
                        }
                    }
                    // Beyond any clock (`Duration::MAX`): OTP's `infinity`, no timeout.
                    Deadline::Never => inbox.recv().await,
                }
            } else {
                continue;
            };
            if core.is_interrupted()
                && let Some(reason) = core.take_interrupt()
            {
                // Killed, or an exit signal ends the server, before its next message
                // (a ready mailbox does not yield to the `Interruptible` around the
                // loop): this one is dropped with the rest, and fails with the reason.
                core.begin_exit();
                return reason;
            }
            if ctx.suspended && envelope.waits_while_suspended() {
                // Handled once resumed, in the order it came.
                inbox.defer(envelope);
                continue;
            }
            // Dispatched here rather than in a function of its own: one async layer
            // (and one copy of every message) less.
            match envelope {
                Envelope::Call(call) => {
                    core.books.call();
                    handling(ctx, S::call_name(&call));
                    state.handle_call(call, ctx).await
                }
                Envelope::Cast(cast) => {
                    core.books.cast();
                    handling(ctx, S::cast_name(&cast));
                    state.handle_cast(cast, ctx).await
                }
                Envelope::Info(info) => {
                    core.books.info();
                    handling(ctx, S::info_name(&info));
                    state.handle_info(info, ctx).await
                }
                Envelope::Timeout => {
                    core.books.info();
                    handling(ctx, "handle_timeout");
                    state.handle_timeout(ctx).await
                }
                Envelope::Timer(timer) => {
                    let (timer, info) = *timer;
                    if ctx.take_timer_message(timer) {
                        core.books.info();
                        handling(ctx, S::info_name(&info));
                        state.handle_info(info, ctx).await;
                    } else {
                        resume_idle(ctx, idle);
                    }
                }
                Envelope::State(f) => {
                    (*f)(state);
                    resume_idle(ctx, idle);
                }
                Envelope::Sys(sys) => match *sys {
                    Sys::Stop(reason) => ctx.stop(reason),
                    Sys::Down(down) => {
                        // Unless demonitored meanwhile.
                        if core.release_monitor(down.monitor).is_some() {
                            core.books.info();
                            handling(ctx, "handle_down");
                            state.handle_down(down, ctx).await;
                        } else {
                            resume_idle(ctx, idle);
                        }
                    }
                    Sys::Exit { from, reason, link } => {
                        // Queued for a server that traps exits; no effect if unlinked
                        // meanwhile.
                        if link && !core.remove_link(from) {
                            resume_idle(ctx, idle);
                        } else if core.traps_exits() && core.parent() != Some(from) {
                            core.books.info();
                            handling(ctx, "handle_exit");
                            state.handle_exit(Exit { pid: from, reason }, ctx).await;
                        } else if core.traps_exits() || reason != ExitReason::Normal {
                            // It stopped trapping since: the signal ends it, as it
                            // would have had it come now. A normal exit does not
                            // propagate, except from the parent of a trapping server.
                            ctx.stop(reason);
                        } else {
                            resume_idle(ctx, idle);
                        }
                    }
                    Sys::Suspend(reply) => {
                        ctx.suspended = true;
                        let _ = reply.send(());
                        resume_idle(ctx, idle);
                    }
                    Sys::Resume(reply) => {
                        ctx.suspended = false;
                        inbox.resume();
                        let _ = reply.send(());
                        resume_idle(ctx, idle);
                    }
                    Sys::Statistics(reply) => {
                        let (calls, casts, infos) = core.books.counts();
                        let _ = reply.send(Statistics {
                            started: core.books.started(),
                            calls,
                            casts,
                            infos,
                            mailbox_len: inbox.len(),
                        });
                        resume_idle(ctx, idle);
                    }
                    Sys::GetStatus(reply) => {
                        let _ = reply.send(Status {
                            pid: core.pid(),
                            name: core.name().map(str::to_owned),
                            server: std::any::type_name::<S>(),
                            suspended: ctx.suspended,
                            mailbox_len: inbox.len(),
                            state: format_status(state),
                        });
                        resume_idle(ctx, idle);
                    }
                },
            }
            if core.has_dropped_replies() {
                core.settle_dropped_replies(ctx.is_stopping());
            }
        }
    }
}

/// Notes the handler about to run, for the crash report; a debug event names it.
#[inline]
fn handling<S: GenServer>(ctx: &mut Context<S>, handler: &'static str) {
    ctx.handler = Some(handler);
    tracing::debug!(handler, "handling");
}

/// The state as the server's `format_status` writes it; a panic there gives a
/// placeholder rather than ending the server (or the crash report).
fn format_status<S: GenServer>(state: &S) -> String {
    catch_unwind(AssertUnwindSafe(|| state.format_status()))
        .unwrap_or_else(|_| "(format_status panicked)".to_owned())
}

/// OTP's crash report: one error event when a server ends abnormally (its init
/// failing too), with its pid, name, type, reason, the handler that ran last and
/// its state as `format_status` writes it (or why there is none).
fn crash_report<S: GenServer>(
    core: &ProcessCore,
    reason: &ExitReason,
    handler: Option<&'static str>,
    status: &str,
) {
    let server = std::any::type_name::<S>();
    let handler = handler.unwrap_or("-");
    match core.name() {
        Some(name) => tracing::error!(
            pid = %core.pid(),
            name,
            server,
            %reason,
            handler,
            status,
            "crash report"
        ),
        None => tracing::error!(
            pid = %core.pid(),
            server,
            %reason,
            handler,
            status,
            "crash report"
        ),
    }
}

/// When an idle timeout elapses. (Worked out apart from the loop, so that the
/// `Duration` it comes from is not kept in the loop's future while it waits.)
enum Deadline {
    Now,
    At(Instant),
    Never,
}

impl Deadline {
    fn after(after: Duration) -> Self {
        if after.is_zero() {
            Deadline::Now
        } else {
            match Instant::now().checked_add(after) {
                Some(deadline) => Deadline::At(deadline),
                None => Deadline::Never,
            }
        }
    }
}

/// Re-arms the idle timeout, for the time left, after a runtime message that was
/// dropped unseen: a `Down` after `demonitor`, a cancelled timer's message, an exit
/// signal that was unlinked or does not propagate. As in OTP, where these never
/// reach the mailbox, they are no message to the server and do not disarm it.
fn resume_idle<S: GenServer>(ctx: &mut Context<S>, idle: Option<Instant>) {
    if let Some(deadline) = idle {
        ctx.set_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

/// Publishes the end of the server if the task ends without `run` doing it: its
/// runtime shut down, before or after the task was first polled.
pub(crate) struct ExitGuard<S: GenServer> {
    process: Arc<Process<S>>,
}

impl<S: GenServer> Drop for ExitGuard<S> {
    fn drop(&mut self) {
        let core = self.process.core();
        if !core.has_exited() {
            // A task dropped before its first poll never made its `Inbox`.
            for envelope in self.process.mailbox.drain() {
                let _ = catch_unwind(AssertUnwindSafe(|| drop(envelope)));
            }
            core.finish(ExitReason::Killed);
        }
    }
}

pin_project_lite::pin_project! {
    /// Polls a future unless the server was killed or an exit signal has come to
    /// end it (only a kill, with `kill_only`): then gives the reason, and the
    /// future is dropped with the handler it was in.
    struct Interruptible<'a, F> {
        #[pin]
        inner: F,
        core: &'a ProcessCore,
        kill_only: bool,
        // The waker registered with the process last: tokio gives a task the same
        // one each poll, so registering costs one comparison after the first.
        waker: Option<Waker>,
    }
}

impl<'a, F> Interruptible<'a, F> {
    fn new(inner: F, core: &'a ProcessCore, kill_only: bool) -> Self {
        Interruptible {
            inner,
            core,
            kill_only,
            waker: None,
        }
    }
}

impl<F> Interruptible<'_, F> {
    fn interrupted(core: &ProcessCore, kill_only: bool) -> Option<ExitReason> {
        if kill_only {
            return core.is_killed().then_some(ExitReason::Killed);
        }
        let reason = core.take_interrupt()?;
        core.begin_exit();
        Some(reason)
    }
}

impl<F: Future> Future for Interruptible<'_, F> {
    type Output = Result<F::Output, ExitReason>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(reason) = Self::interrupted(this.core, *this.kill_only) {
            return Poll::Ready(Err(reason));
        }
        match this.inner.poll(cx) {
            Poll::Ready(output) => Poll::Ready(Ok(output)),
            Poll::Pending => {
                if !this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    this.core.register_waker(cx.waker());
                    *this.waker = Some(cx.waker().clone());
                    // A signal that came before the waker was there woke nobody.
                    if let Some(reason) = Self::interrupted(this.core, *this.kill_only) {
                        return Poll::Ready(Err(reason));
                    }
                }
                Poll::Pending
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// Polls a future, turning a panic in it into `Err(message)`.
    struct CatchUnwind<F> {
        #[pin]
        inner: F,
    }
}

fn catch_panic<F: Future>(inner: F) -> CatchUnwind<F> {
    CatchUnwind { inner }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                // The server is going down. Say so before the handler's future, and
                // any ReplyTo it holds, is dropped: such a ReplyTo is then failed
                // with the exit reason, not taken for one dropped on purpose.
                process::current_is_panicking();
                Poll::Ready(Err(panic_message(payload)))
            }
        }
    }
}

pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(msg) => *msg,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(msg) => msg.to_string(),
            Err(_) => "non-string panic payload".to_string(),
        },
    }
}
