//! [`Context`]: what a handler can ask of its own server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::mailbox::{Envelope, Sys};
use crate::process::{self, AnyProcess};
use crate::{AsProcess, Down, ExitReason, GenServer, MonitorRef, Pid, ServerRef, TimerRef};

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
    /// `sys::suspend`ed: the loop handles only sys requests and stop.
    pub(crate) suspended: bool,
    /// The handler running, or the one that ran last (OTP's "last message"), for
    /// the crash report. Here rather than in the loop: it must outlive a panic.
    pub(crate) handler: Option<&'static str>,
    /// Boxed: asked once in a server's life, and 8 bytes rather than 32 in every
    /// server's task.
    stop: Option<Box<ExitReason>>,
    timeout: Option<Duration>,
    continuation: Option<S::Info>,
    /// Running timers; few per server, and none for most.
    timers: Vec<Timer>,
}

/// A running timer: its task, and whether it repeats.
struct Timer {
    timer: TimerRef,
    task: AbortHandle,
    repeats: bool,
}

impl<S: GenServer> Context<S> {
    pub(crate) fn new(this: ServerRef<S>) -> Self {
        Context {
            this,
            changed: false,
            suspended: false,
            handler: None,
            stop: None,
            timeout: None,
            continuation: None,
            timers: Vec::new(),
        }
    }

    pub(crate) fn process(&self) -> Arc<dyn AnyProcess> {
        self.this.process().clone()
    }

    /// Whether the handler that ran last asked the server to stop.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stop.is_some()
    }

    /// Whether a message of `timer` is still wanted; forgets a one-shot timer.
    pub(crate) fn take_timer_message(&mut self, timer: TimerRef) -> bool {
        match self.timers.iter().position(|t| t.timer == timer) {
            Some(i) if self.timers[i].repeats => true,
            Some(i) => {
                self.timers.swap_remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn take_stop(&mut self) -> Option<ExitReason> {
        self.stop.take().map(|reason| *reason)
    }

    pub(crate) fn take_continuation(&mut self) -> Option<S::Info> {
        self.continuation.take()
    }

    /// The idle timeout, once the rest is done: the loop's last request.
    pub(crate) fn take_timeout(&mut self) -> Option<Duration> {
        self.changed = false;
        self.timeout.take()
    }

    /// This server's pid (OTP's `self()`).
    pub fn pid(&self) -> Pid {
        self.this.pid()
    }

    /// This server's own client handle (e.g. `RegistryRef`), to give to others
    /// (OTP's `self()`, typed).
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
    /// `{stop, Reason, Reply, State}`); a deferred call whose `ReplyTo` the handler
    /// dropped gets `Exited(reason)` (OTP's `{stop, Reason, State}`). Messages
    /// still queued are dropped and their callers get
    /// [`CallError::Exited`](crate::CallError::Exited).
    pub fn stop(&mut self, reason: ExitReason) {
        self.stop = Some(Box::new(reason));
        self.changed = true;
    }

    /// Arms the idle timeout: if no message arrives within `after` of this handler
    /// returning, the server gets a [`Timeout`](crate::Timeout) info message.
    ///
    /// As in OTP, it covers only the wait for the next message: any message disarms
    /// it, and a handler that wants it again sets it again. `Duration::ZERO` means
    /// "as soon as the mailbox is empty"; a timeout too long for the clock
    /// (`Duration::MAX`, OTP's `infinity`) never elapses.
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

/// Monitors, links and exit signals.
impl<S: GenServer> Context<S> {
    /// Monitors `target` (OTP's `erlang:monitor/2`): when it ends, this server gets
    /// a [`Down`] info message with this reference, exactly once. If `target` has
    /// already ended, the `Down` comes at once, with reason `NoProc`. Each call sets
    /// a new monitor, and each monitor fires.
    pub fn monitor<P: AsProcess + ?Sized>(&mut self, target: &P) -> MonitorRef {
        let monitor = MonitorRef::next();
        let pid = target.as_pid();
        let me = self.process();
        let target = target.__process().map(|handle| handle.0);
        // A process on a node that is gone: `NoConnection`, as OTP's monitor of
        // a pid whose node cannot be reached.
        let reason = match target.as_ref().and_then(|t| t.core().exit_reason()) {
            Some(ExitReason::NoConnection) => ExitReason::NoConnection,
            _ => ExitReason::NoProc,
        };
        let watched = target.filter(|t| t.core().add_watcher(monitor, me.clone()));
        let ended = watched.is_none();
        me.core().hold_monitor(monitor, pid, watched);
        if ended {
            me.send_sys(Sys::Down(Down {
                monitor,
                pid,
                reason,
            }));
        }
        monitor
    }

    /// Removes a monitor (OTP's `demonitor/2` with `[flush, info]`): no [`Down`]
    /// for it is handled afterwards, even one already in the mailbox. Returns
    /// `true` if the monitor was removed before its target ended, `false` if there
    /// was no such monitor or its `Down` had been sent (and is now dropped).
    pub fn demonitor(&mut self, monitor: MonitorRef) -> bool {
        match self.this.process().core.release_monitor(monitor) {
            Some(Some(target)) => target.core().remove_watcher(monitor),
            // Set on a process that had ended: its `Down` was sent at once.
            Some(None) | None => false,
        }
    }

    /// Links this server and `target` (OTP's `link/1`): when either ends, the other
    /// gets an exit signal. An abnormal end ends the other with the same reason
    /// (its terminate runs), unless it [traps exits](Context::trap_exit); a
    /// `Normal` end does not propagate. Linking to a process that has ended sends
    /// this server an exit signal with reason `NoProc`, as in OTP. Linking twice is
    /// one link.
    pub fn link<P: AsProcess + ?Sized>(&mut self, target: &P) {
        let me = self.process();
        let pid = target.as_pid();
        let target = target.__process().map(|handle| handle.0);
        let reason = match target.as_ref().and_then(|t| t.core().exit_reason()) {
            Some(ExitReason::NoConnection) => ExitReason::NoConnection,
            _ => ExitReason::NoProc,
        };
        let linked = match target {
            Some(target) => {
                let linked =
                    target.core().add_link(me.clone()) && me.core().add_link(target.clone());
                // A process on another node: its node links it to this one there.
                #[cfg(feature = "remote")]
                if let (true, Some(proxy)) = (linked, target.as_proxy()) {
                    proxy.linked(me.core().pid());
                }
                linked
            }
            None => false,
        };
        if !linked {
            me.core().add_ended_link(pid);
            process::exit_signal(&*me, pid, reason, true);
        }
    }

    /// Sends `target` an exit signal from this server (OTP's `exit/2`); see
    /// [`gensrv::exit`](crate::exit()) for what it does. Sent to this server
    /// itself, a reason other than `Normal` ends it as soon as this handler awaits
    /// or returns (or comes as an [`Exit`](crate::Exit) message if it traps exits).
    pub fn exit<P: AsProcess + ?Sized>(&mut self, target: &P, reason: ExitReason) {
        crate::exit::send_exit(target, self.pid(), reason);
    }

    /// Removes the link with `target`, on both sides (OTP's `unlink/1`): from then
    /// on it has no effect on this server, even if its exit signal is already in
    /// the mailbox.
    pub fn unlink<P: AsProcess + ?Sized>(&mut self, target: &P) {
        let me = self.process();
        let pid = target.as_pid();
        me.core().remove_link(pid);
        if let Some(target) = target.__process() {
            target.0.core().remove_link(me.core().pid());
            #[cfg(feature = "remote")]
            if let Some(proxy) = target.0.as_proxy() {
                proxy.unlinked(me.core().pid());
            }
        }
    }

    /// Whether exit signals from linked processes become [`Exit`](crate::Exit) info
    /// messages (`true`) instead of ending this server (`false`, the default): OTP's
    /// `process_flag(trap_exit, ..)`. Either way a `Normal` exit of a linked
    /// process does not end this one, and [`ServerRef::kill`] cannot be trapped.
    ///
    /// As in OTP's gen_server, a server that traps exits still ends when the
    /// process that started it linked (with [`Start::link`](crate::Start::link))
    /// ends, with the same reason.
    pub fn trap_exit(&mut self, trap: bool) {
        self.this.process().core.set_trap_exit(trap);
    }
}

/// Timers.
impl<S: GenServer> Context<S> {
    /// Sends `message` to this server after `after` (OTP's `erlang:send_after/3`),
    /// as an info message. Returns the timer, to cancel it. `Duration::ZERO` sends
    /// it at once; a delay too long for the clock (`Duration::MAX`) never does.
    pub fn send_after(&mut self, after: Duration, message: impl Into<S::Info>) -> TimerRef {
        let timer = TimerRef::next();
        let process = self.this.process().clone();
        let info = message.into();
        let deadline = Instant::now().checked_add(after);
        let task = tokio::spawn(async move {
            let Some(deadline) = deadline else {
                return std::future::pending().await;
            };
            tokio::time::sleep_until(deadline).await;
            let _ = process
                .mailbox
                .send(Envelope::Timer(Box::new((timer, info))));
        });
        self.timers.push(Timer {
            timer,
            task: task.abort_handle(),
            repeats: false,
        });
        timer
    }

    /// Sends `message` to this server every `every`, the first time after `every`
    /// (OTP's `timer:send_interval/2`). The ticks keep to their schedule: a late
    /// tick does not delay the next ones, so no drift accumulates, and ticks
    /// missed meanwhile are skipped. Returns the timer, to cancel it. An interval
    /// too long for the clock (`Duration::MAX`) never ticks.
    ///
    /// # Panics
    ///
    /// If `every` is zero, here, where it is called: such an interval would flood
    /// the mailbox.
    #[track_caller]
    pub fn send_interval<M>(&mut self, every: Duration, message: M) -> TimerRef
    where
        M: Into<S::Info> + Clone + Send + 'static,
    {
        assert!(
            !every.is_zero(),
            "send_interval: the interval must be longer than zero"
        );
        let timer = TimerRef::next();
        let process = self.this.process().clone();
        let task = tokio::spawn(async move {
            let mut next = Instant::now().checked_add(every);
            while let Some(at) = next {
                tokio::time::sleep_until(at).await;
                let tick = Envelope::Timer(Box::new((timer, message.clone().into())));
                if process.mailbox.send(tick).is_err() {
                    return;
                }
                next = next_tick(at, every, Instant::now());
            }
        });
        self.timers.push(Timer {
            timer,
            task: task.abort_handle(),
            repeats: true,
        });
        timer
    }

    /// Cancels a timer: no message of it is handled after this returns, even one
    /// already in the mailbox. Returns `true` if the timer was cancelled before it
    /// sent its message (always, for an interval), `false` if there was no such
    /// timer or its message had been sent (and is now dropped), as OTP's
    /// `erlang:cancel_timer/1` tells.
    pub fn cancel_timer(&mut self, timer: TimerRef) -> bool {
        match self.timers.iter().position(|t| t.timer == timer) {
            Some(i) => {
                let timer = self.timers.swap_remove(i);
                let sent = !timer.repeats && timer.task.is_finished();
                timer.task.abort();
                !sent
            }
            None => false,
        }
    }
}

/// The tick of an interval after the one due `at`: one period later, or, if that
/// has passed already, the next one still ahead on the same schedule. `None` past
/// the end of the clock.
fn next_tick(at: Instant, every: Duration, now: Instant) -> Option<Instant> {
    let next = at.checked_add(every)?;
    if next > now {
        return Some(next);
    }
    let late = now.duration_since(at).as_nanos() % every.as_nanos();
    let late = Duration::new((late / 1_000_000_000) as u64, (late % 1_000_000_000) as u32);
    now.checked_add(every - late)
}

/// Timers die with their server.
impl<S: GenServer> Drop for Context<S> {
    fn drop(&mut self) {
        for timer in self.timers.drain(..) {
            timer.task.abort();
        }
    }
}

impl<S: GenServer> fmt::Debug for Context<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("pid", &self.pid())
            .field("stop", &self.stop)
            .field("timeout", &self.timeout)
            .field("trap_exit", &self.this.process().core.traps_exits())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}
