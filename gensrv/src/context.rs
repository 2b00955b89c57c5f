//! [`Context`]: what a handler can ask of its own server.

use std::fmt;
use std::time::Duration;

use crate::{ExitReason, GenServer, Pid, ServerRef};

/// A server's view of itself, passed to any handler that takes
/// `ctx: &mut Context<Self>` as its last argument.
///
/// What a handler sets here takes effect when the handler returns: the server
/// stops, arms its idle timeout, or handles a continuation before its next message.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use gensrv::{gen_server, Context, ExitReason, Timeout};
///
/// /// Counts down, then stops.
/// struct Countdown(u32);
///
/// #[gen_server]
/// impl Countdown {
///     #[init]
///     fn init(from: u32, ctx: &mut Context<Self>) -> Self {
///         ctx.set_timeout(Duration::from_millis(1));
///         Countdown(from)
///     }
///
///     #[info]
///     fn tick(&mut self, _: Timeout, ctx: &mut Context<Self>) {
///         self.0 -= 1;
///         if self.0 == 0 {
///             ctx.stop(ExitReason::Normal);
///         } else {
///             ctx.set_timeout(Duration::from_millis(1));
///         }
///     }
/// }
///
/// let countdown = Countdown::start(3).await.unwrap();
/// assert_eq!(countdown.exited().await, ExitReason::Normal);
/// # }
/// ```
pub struct Context<S: GenServer> {
    this: ServerRef<S>,
    /// Whether a handler asked for anything below: the loop checks this one flag
    /// per message, not each field.
    pub(crate) changed: bool,
    stop: Option<ExitReason>,
    timeout: Option<Duration>,
    continuation: Option<S::Info>,
}

impl<S: GenServer> Context<S> {
    pub(crate) fn new(this: ServerRef<S>) -> Self {
        Context {
            this,
            changed: false,
            stop: None,
            timeout: None,
            continuation: None,
        }
    }

    pub(crate) fn take_stop(&mut self) -> Option<ExitReason> {
        self.stop.take()
    }

    pub(crate) fn take_continuation(&mut self) -> Option<S::Info> {
        self.continuation.take()
    }

    /// The idle timeout, once the rest is done: the loop's last request.
    pub(crate) fn take_timeout(&mut self) -> Option<Duration> {
        self.changed = false;
        self.timeout.take()
    }

    /// This server's pid.
    pub fn pid(&self) -> Pid {
        self.this.pid()
    }

    /// This server's own client handle (e.g. `RegistryRef`), to give to others.
    ///
    /// Calling it from its own handler fails with
    /// [`CallError::CallingSelf`](crate::CallError::CallingSelf); casting and sending
    /// to it queues a message behind those already waiting.
    pub fn this(&self) -> S::Ref {
        S::Ref::from(self.this.clone())
    }

    /// Ends the server once this handler returns; terminate runs with `reason`.
    ///
    /// A call handler that stops still has its reply delivered first (OTP's
    /// `{stop, Reason, Reply, State}`). Messages still queued are dropped and their
    /// callers get [`CallError::Exited`](crate::CallError::Exited).
    pub fn stop(&mut self, reason: ExitReason) {
        self.stop = Some(reason);
        self.changed = true;
    }

    /// Arms the idle timeout: if no message arrives within `after` of this handler
    /// returning, the server gets a [`Timeout`](crate::Timeout) info message.
    ///
    /// As in OTP, it covers only the wait for the next message: any message disarms
    /// it, and a handler that wants it again sets it again. `Duration::ZERO` means
    /// "as soon as the mailbox is empty".
    pub fn set_timeout(&mut self, after: Duration) {
        self.timeout = Some(after);
        self.changed = true;
    }

    /// Handles `info` as soon as this handler returns, before anything already in
    /// the mailbox (OTP's `{continue, Continue}`): a way to split long work, or to
    /// finish initialising after `start` has returned.
    pub fn continue_with(&mut self, info: impl Into<S::Info>) {
        self.continuation = Some(info.into());
        self.changed = true;
    }
}

impl<S: GenServer> fmt::Debug for Context<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("pid", &self.pid())
            .field("stop", &self.stop)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
