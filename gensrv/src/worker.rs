//! The server task: init, the receive loop, terminate.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::mailbox::{Envelope, Sys};
use crate::process::{self, AnyProcess, Process, ProcessCore};
use crate::{Context, Exit, ExitReason, GenServer, Init, ServerRef, StartError};

pub(crate) async fn run<S: GenServer>(
    process: Arc<Process<S>>,
    inbox: mpsc::UnboundedReceiver<Envelope<S>>,
    arg: S::Arg,
    ack: oneshot::Sender<Result<(), StartError>>,
) {
    // Declared first so that it is dropped last, after the state and the mailbox,
    // also when the task is aborted by `kill`.
    let mut exit = ExitGuard {
        process: process.clone(),
        reason: None,
    };
    // Moved into a local declared after the guard: an async fn's parameters are
    // dropped after its locals, so the parameter itself would close the mailbox
    // only after a killed server's end is published, and a send in between would
    // succeed on a server that has ended.
    let mut inbox = inbox;
    let mut ctx = Context::new(ServerRef::from_process(process.clone()));

    let mut state = match catch_panic(S::init(arg, &mut ctx)).await {
        Ok(Init::Ready(state)) => state,
        failed => {
            let (reason, error) = match failed {
                Ok(Init::Ignore) => (ExitReason::Normal, StartError::Ignored),
                Ok(Init::Stop(reason)) => (reason.clone(), StartError::Init(reason)),
                Err(panic) => {
                    let reason = ExitReason::Panic(panic);
                    (reason.clone(), StartError::Init(reason))
                }
                Ok(Init::Ready(_)) => unreachable!(),
            };
            process.core.begin_exit();
            // Requests sent during init fail with the reason.
            drop(inbox);
            // As OTP's init_it: free the name before the starter hears of the
            // failure, so that it can retry at once.
            exit.finish_now(reason);
            let _ = ack.send(Err(error));
            return;
        }
    };
    let _ = ack.send(Ok(()));

    // One panic catch around the whole loop, not one per message: the loop only
    // borrows the state, which is still here for terminate after a panic.
    let reason = match catch_panic(serve(&mut state, &mut ctx, &mut inbox, &process.core)).await {
        Ok(reason) => reason,
        Err(panic) => ExitReason::Panic(panic),
    };

    process.core.begin_exit();
    inbox.close();
    let reason = match catch_panic(state.terminate(&reason, &mut ctx)).await {
        Ok(()) => reason,
        Err(panic) => ExitReason::Panic(panic),
    };
    if !reason.is_normal() {
        match process.core.name() {
            Some(name) => {
                tracing::error!(pid = %ctx.pid(), name, %reason, "server ended abnormally")
            }
            None => tracing::error!(pid = %ctx.pid(), %reason, "server ended abnormally"),
        }
    }
    // Queued calls fail now, with the reason recorded just below.
    drop(inbox);
    exit.reason = Some(reason);
}

/// The receive loop, until the server stops; gives the reason.
async fn serve<S: GenServer>(
    state: &mut S,
    ctx: &mut Context<S>,
    inbox: &mut mpsc::UnboundedReceiver<Envelope<S>>,
    core: &ProcessCore,
) -> ExitReason {
    loop {
        // When the idle timeout set by the last handler elapses, if it is armed.
        let mut idle = None;
        let envelope = if !ctx.changed {
            match inbox.recv().await {
                Some(envelope) => envelope,
                // Never: the context holds a sender.
                None => return ExitReason::Normal,
            }
        } else if let Some(reason) = ctx.take_stop() {
            return reason;
        } else if let Some(info) = ctx.take_continuation() {
            Envelope::Info(info)
        } else if let Some(after) = ctx.take_timeout() {
            if after.is_zero() {
                // OTP's `after 0`: a timeout now, unless a message is already here.
                // (A zero timer would only fire at the timer's next tick.)
                match inbox.try_recv() {
                    Ok(envelope) => {
                        // Due already; no clock read before the check.
                        idle = Some(Instant::now());
                        envelope
                    }
                    Err(mpsc::error::TryRecvError::Empty) => Envelope::Timeout,
                    Err(mpsc::error::TryRecvError::Disconnected) => return ExitReason::Normal,
                }
            } else {
                let deadline = Instant::now() + after;
                idle = Some(deadline);
                match tokio::time::timeout_at(deadline, inbox.recv()).await {
                    Ok(Some(envelope)) => envelope,
                    Ok(None) => return ExitReason::Normal,
                    Err(_) => Envelope::Timeout,
                }
            }
        } else {
            continue;
        };
        if core.is_killed() {
            // Killed while this task was running: the abort takes effect only when
            // the task yields, and a ready mailbox does not yield. No message is
            // handled after `kill`; this one, and those behind it, are dropped
            // with the task (waiting here for the abort), and their callers get
            // `Exited(Killed)`.
            return std::future::pending().await;
        }
        // Dispatched here rather than in a function of its own: one async layer
        // (and one copy of every message) less.
        match envelope {
            Envelope::Call(call) => state.handle_call(call, ctx).await,
            Envelope::Cast(cast) => state.handle_cast(cast, ctx).await,
            Envelope::Info(info) => state.handle_info(info, ctx).await,
            Envelope::Timeout => state.handle_timeout(ctx).await,
            Envelope::Timer(timer) => {
                let (timer, info) = *timer;
                if ctx.take_timer_message(timer) {
                    state.handle_info(info, ctx).await;
                } else {
                    resume_idle(ctx, idle);
                }
            }
            Envelope::Sys(sys) => match *sys {
                Sys::Stop(reason) => ctx.stop(reason),
                Sys::Down(down) => {
                    // Unless demonitored meanwhile.
                    if core.release_monitor(down.monitor).is_some() {
                        state.handle_down(down, ctx).await;
                    } else {
                        resume_idle(ctx, idle);
                    }
                }
                Sys::Exit { from, reason } => {
                    // Unless unlinked meanwhile.
                    if core.remove_link(from) {
                        if ctx.traps_exits() && core.parent() != Some(from) {
                            state.handle_exit(Exit { pid: from, reason }, ctx).await;
                        } else if ctx.traps_exits() || reason != ExitReason::Normal {
                            // OTP: a normal exit does not propagate, except from the
                            // parent of a server that traps exits.
                            ctx.stop(reason);
                        } else {
                            resume_idle(ctx, idle);
                        }
                    } else {
                        resume_idle(ctx, idle);
                    }
                }
            },
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

/// Publishes the end of the server when the task ends, however it ends.
struct ExitGuard<S: GenServer> {
    process: Arc<Process<S>>,
    reason: Option<ExitReason>,
}

impl<S: GenServer> ExitGuard<S> {
    fn finish_now(&mut self, reason: ExitReason) {
        self.process.core().finish(reason);
    }
}

impl<S: GenServer> Drop for ExitGuard<S> {
    fn drop(&mut self) {
        if !self.process.core().has_exited() {
            // No reason recorded means the task did not get to the end of `run`: it
            // was aborted, by `kill` or by the runtime shutting down.
            let reason = self.reason.take().unwrap_or(ExitReason::Killed);
            self.process.core().finish(reason);
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

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(msg) => *msg,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(msg) => msg.to_string(),
            Err(_) => "non-string panic payload".to_string(),
        },
    }
}
