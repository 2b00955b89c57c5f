//! Calls: a request that gets a reply.
//!
//! A client handle's call method puts the request in the server's mailbox and
//! returns a [`Call`], which is awaited to the reply:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use gensrv::{gen_server, CallError};
//!
//! struct Adder;
//!
//! #[gen_server]
//! impl Adder {
//!     /// Adds two numbers.
//!     #[call]
//!     fn add(&self, a: i32, b: i32) -> i32 {
//!         a + b
//!     }
//!
//!     /// Takes its time.
//!     #[call]
//!     async fn slow(&self) {
//!         tokio::time::sleep(Duration::from_secs(60)).await;
//!     }
//! }
//!
//! let adder = Adder::start(Adder).await.unwrap();
//! assert_eq!(adder.add(2, 3).await, Ok(5));
//! let slow = adder.slow().timeout(Duration::from_millis(10)).await;
//! assert_eq!(slow, Err(CallError::Timeout));
//! # }
//! ```
//!
//! # When the request is sent
//!
//! The request is in the mailbox when the handle's method returns, before the
//! `Call` is awaited: the order in which a task calls the methods of a handle is
//! the order in which the server handles the messages, and a server never waits
//! for a client to poll. (`Call<R>` names only the reply type, so it cannot hold an
//! unsent message of the server's type without boxing it; sending at once keeps
//! every call to one mailbox send and one oneshot.) Dropping a `Call` unawaited
//! drops only the reply. [`Call::send`] gives a [`PendingReply`], a plain future
//! to keep, select on, or await later, like OTP's `send_request`/`receive_response`.
//!
//! # When the server dies
//!
//! A caller never waits on a dead server: if the server ends before or while
//! handling the request, the call fails at once with `Exited(reason)` (or `NoProc`
//! if there was no server), as OTP's call does by monitoring the server.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use crate::process::{self, AnyProcess};
use crate::{CallError, ExitReason, Pid};

mod epoch {
    //! Where a waiting call's timeout waits until it needs a timer of its own.
    //!
    //! Most calls are answered within microseconds, long before their timeout
    //! (5 s by default). Giving each its own tokio timer means inserting it in
    //! tokio's wheel and removing it again, each under the driver's lock: that was
    //! most of what a call cost beyond its oneshot.
    //! Instead each thread keeps one tokio timer, the *anchor*, due [`AHEAD`] after
    //! it was last armed, and the wakers of the calls waiting on it, its *epoch*.
    //! A call whose deadline is no earlier than the anchor's registers its waker in
    //! the epoch (a slot in a vector behind a lock only its thread normally takes)
    //! when it first waits, and frees the slot when it is answered or dropped. (A
    //! freed slot keeps its waker until it is taken again or the epoch ends, so
    //! that a task calling in a loop reuses it without a clone.) When the anchor
    //! fires, the epoch ends: the calls still registered are woken, and each then
    //! arms its own tokio timer for its own deadline, on whatever runtime it is
    //! polled on. The epoch decides only when a call gets its timer, never
    //! when it times out. A call polled again for any other reason (a spurious
    //! wake-up, a `select!`, a move to another task or runtime) also leaves the
    //! epoch for a timer of its own, so a registered waker is always the one the
    //! call was last polled with.
    //!
    //! The anchor also keeps those timers cheap: inserting a timer due before every
    //! other one makes tokio wake its time driver (a syscall, and on the
    //! multi-thread runtime an idle worker) so that it sleeps less. Every call that
    //! waits re-arms the anchor if it has fired, so a call's own timer (a timeout
    //! shorter than the anchor's, or the rest of a long one) usually goes in behind
    //! it without waking anyone.
    //!
    //! Why no call is left waiting past its deadline:
    //! - The anchor is a plain tokio timer of the runtime the thread runs (checked
    //!   at each registration), so paused time (auto-advance included) and runtime
    //!   shutdown (which fires every timer) apply to it as to any timer. A thread
    //!   that goes to another runtime starts a new anchor there; the old one is
    //!   dropped, never touched again.
    //! - The anchor's waker only takes the epoch's wakers and wakes them: it never
    //!   touches a timer, so it is safe wherever the time driver calls it (on any
    //!   thread, and during shutdown).
    //! - An epoch ends, waking its calls, when its anchor fires, when the thread
    //!   starts the next epoch (the anchor came due before the driver processed it),
    //!   and when the anchor is dropped (the thread went to another runtime, or
    //!   exits). An epoch that has ended takes no registration, so no call is left
    //!   in an epoch that will not end.
    //! - A call with a deadline before the anchor's, or polled outside a runtime,
    //!   gets its own timer at once, as every call did before.

    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
    use std::task::{Context, Wake, Waker};
    use std::time::Duration;

    use tokio::task::coop::unconstrained;
    use tokio::time::{Instant, Sleep};

    /// How long an epoch lasts: calls with a timeout at least this long (the
    /// default 5 s among them) start in an epoch rather than with a timer.
    const AHEAD: Duration = Duration::from_secs(1);

    /// The calls waiting in one epoch.
    #[derive(Default)]
    struct Epoch {
        waiters: Mutex<Waiters>,
    }

    #[derive(Default)]
    struct Waiters {
        /// Whether the epoch has ended: no registration is taken any more.
        ended: bool,
        /// The calls registered, by key.
        slots: Vec<Slot>,
        /// The free keys, the one freed last at the end.
        free: Vec<usize>,
    }

    /// One call's place in an epoch.
    struct Slot {
        /// The waker of the call registered, or of the one registered last in a
        /// free slot: a task that calls again and again (the usual loop) takes
        /// the same slot back without cloning its waker anew.
        waker: Waker,
        /// Whether a call is registered (the slot is not free).
        taken: bool,
    }

    impl Epoch {
        fn waiters(&self) -> MutexGuard<'_, Waiters> {
            // Nothing panics with the lock held; should it, the state is still valid.
            self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// Wakes every call registered, and refuses any further registration.
        fn end(&self) {
            let slots = {
                let mut waiters = self.waiters();
                waiters.ended = true;
                waiters.free = Vec::new();
                std::mem::take(&mut waiters.slots)
            };
            // Outside the lock: waking, or dropping, a waker may do anything.
            for slot in slots {
                if slot.taken {
                    slot.waker.wake();
                }
            }
        }
    }

    /// The anchor's waker: ends the epoch. Called by the time driver; touches no timer.
    impl Wake for Epoch {
        fn wake(self: Arc<Self>) {
            self.end();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.end();
        }
    }

    /// A call's place in an epoch; leaves it when dropped.
    pub(super) struct Registration {
        epoch: Arc<Epoch>,
        key: usize,
    }

    impl Drop for Registration {
        fn drop(&mut self) {
            let mut waiters = self.epoch.waiters();
            if !waiters.ended {
                // The waker stays, for the next registration of the same task.
                waiters.slots[self.key].taken = false;
                waiters.free.push(self.key);
            }
        }
    }

    /// This thread's anchor: its runtime, when it is due, its epoch and its timer.
    struct Anchor {
        runtime: tokio::runtime::Id,
        due: Instant,
        epoch: Arc<Epoch>,
        sleep: Pin<Box<Sleep>>,
    }

    impl Anchor {
        /// Starts a new epoch due at `due`, with the timer polled once into the
        /// wheel with the epoch as its waker. (Outside the task's budget: a poll
        /// refused for budget would not register it.) Gives back the epoch before,
        /// to be ended.
        #[must_use]
        fn arm(&mut self, due: Instant) -> Arc<Epoch> {
            self.sleep.as_mut().reset(due);
            self.due = due;
            let epoch = Arc::new(Epoch::default());
            let waker = Waker::from(epoch.clone());
            let mut cx = Context::from_waker(&waker);
            if Pin::new(&mut unconstrained(self.sleep.as_mut()))
                .poll(&mut cx)
                .is_ready()
            {
                // Cannot happen (it is due in the future); if it did, no call waits on it.
                epoch.end();
            }
            std::mem::replace(&mut self.epoch, epoch)
        }
    }

    impl Drop for Anchor {
        fn drop(&mut self) {
            // Its timer is dropped with it and will not fire: wake its calls now.
            self.epoch.end();
        }
    }

    thread_local! {
        static ANCHOR: RefCell<Option<Anchor>> = const { RefCell::new(None) };
    }

    /// Registers a call first waiting at `now` with `waker`, if this thread's epoch
    /// ends before `deadline`; `None` if the call needs a timer of its own.
    pub(super) fn register(now: Instant, deadline: Instant, waker: &Waker) -> Option<Registration> {
        let runtime = tokio::runtime::Handle::try_current().ok()?.id();
        let armed = ANCHOR.with_borrow(|anchor| {
            let anchor = anchor
                .as_ref()
                .filter(|anchor| anchor.runtime == runtime && anchor.due > now)?;
            Some((anchor.due <= deadline).then(|| anchor.epoch.clone()))
        });
        let epoch = match armed {
            Some(epoch) => epoch?,
            None => renew(runtime, now).filter(|_| now + AHEAD <= deadline)?,
        };
        let mut waiters = epoch.waiters();
        if waiters.ended {
            return None;
        }
        // The slot freed last, whose waker is likely this one (a task calling in a
        // loop), else a new one. A waker replaced is dropped outside the lock.
        let (key, replaced) = match waiters.free.pop() {
            Some(key) => {
                let slot = &mut waiters.slots[key];
                slot.taken = true;
                let replaced = (!slot.waker.will_wake(waker))
                    .then(|| std::mem::replace(&mut slot.waker, waker.clone()));
                (key, replaced)
            }
            None => {
                waiters.slots.push(Slot {
                    waker: waker.clone(),
                    taken: true,
                });
                (waiters.slots.len() - 1, None)
            }
        };
        drop(waiters);
        drop(replaced);
        Some(Registration { epoch, key })
    }

    /// Arms this thread's anchor on `runtime` from `now`, in a new epoch, and gives
    /// that epoch. `None` while the thread-local is borrowed (only if a waker woken
    /// here comes back) or being destroyed.
    #[cold]
    #[inline(never)]
    fn renew(runtime: tokio::runtime::Id, now: Instant) -> Option<Arc<Epoch>> {
        let due = now + AHEAD;
        // The epoch or anchor replaced is ended (or dropped, ending its epoch) once
        // the thread-local is released, as a waker it wakes may do anything.
        let mut replaced = None;
        let renewed = ANCHOR.try_with(|slot| {
            let mut slot = slot.try_borrow_mut().ok()?;
            let ended = match &mut *slot {
                Some(anchor) if anchor.runtime == runtime => anchor.arm(due),
                // A timer of another runtime, perhaps one shut down, is never
                // touched again: only dropped.
                _ => {
                    replaced = slot.take();
                    slot.insert(Anchor {
                        runtime,
                        due,
                        epoch: Arc::new(Epoch::default()),
                        sleep: Box::pin(tokio::time::sleep_until(due)),
                    })
                    .arm(due)
                }
            };
            let epoch = slot.as_ref().map(|anchor| anchor.epoch.clone());
            Some((epoch, ended))
        });
        drop(replaced);
        let (epoch, ended) = renewed.ok().flatten()?;
        ended.end();
        epoch
    }
}

/// The default call timeout, as OTP's.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A call on its way: await it for the reply (`Result<R, CallError>`).
///
/// Made by a client handle's call method (or [`ServerRef::call`](crate::ServerRef::call));
/// the request is already in the server's mailbox. See the [module docs](self).
#[must_use = "the request is sent; await the call to get the reply"]
pub struct Call<R> {
    outcome: Result<Waiting<R>, CallError>,
    timeout: Duration,
}

/// The caller's end of a call: the reply, or the server on whose task the reply
/// was dropped as it ended, and its exit reason (boxed: a rare path that should
/// not make every reply bigger).
type Reply<R> = Result<R, Box<(Pid, ExitReason)>>;

struct Waiting<R> {
    reply: oneshot::Receiver<Reply<R>>,
    /// The server called.
    pid: Pid,
    /// The server, for a deferred call only: its reply may outlive it elsewhere.
    server: Option<Arc<dyn AnyProcess>>,
}

impl<R> Call<R> {
    pub(crate) fn sent(
        reply: oneshot::Receiver<Reply<R>>,
        pid: Pid,
        server: Option<Arc<dyn AnyProcess>>,
    ) -> Self {
        Call {
            outcome: Ok(Waiting { reply, pid, server }),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub(crate) fn failed(error: CallError) -> Self {
        Call {
            outcome: Err(error),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Waits at most `timeout` for the reply, counted from when the call is awaited
    /// (or from [`send`](Call::send)), instead of the default 5 s: the `Timeout` of
    /// OTP's `gen_server:call/3`. `Duration::MAX` waits as long as it takes (OTP's
    /// `infinity`); `Duration::ZERO` takes only a reply that is already there.
    /// Either way a dead server fails the call at once.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts the timeout now and gives the reply as a future to await later (OTP's
    /// `gen_server:send_request/2`; awaiting it is `receive_response/2`).
    pub fn send(self) -> PendingReply<R> {
        PendingReply {
            state: match self.outcome {
                Ok(waiting) => State::Waiting(waiting, None),
                Err(error) => State::Failed(Some(error)),
            },
            timeout: self.timeout,
            deadline: None,
            registration: None,
            timer: None,
        }
    }
}

impl<R> IntoFuture for Call<R> {
    type Output = Result<R, CallError>;
    type IntoFuture = PendingReply<R>;

    fn into_future(self) -> PendingReply<R> {
        self.send()
    }
}

impl<R> fmt::Debug for Call<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut call = f.debug_struct("Call");
        match &self.outcome {
            Ok(_) => call.field("sent", &true),
            Err(error) => call.field("error", error),
        };
        call.field("timeout", &self.timeout).finish()
    }
}

type ExitFuture = Pin<Box<dyn Future<Output = ExitReason> + Send>>;

pin_project_lite::pin_project! {
    /// The reply to a call that has been sent; resolves to `Result<R, CallError>`.
    ///
    /// Returned by [`Call::send`], and what awaiting a [`Call`] awaits.
    #[must_use = "futures do nothing unless awaited"]
    pub struct PendingReply<R> {
        state: State<R>,
        timeout: Duration,
        // When the call times out, from its first poll on.
        deadline: Option<Instant>,
        // Its place in this thread's epoch while it waits without a timer.
        registration: Option<epoch::Registration>,
        // Its timer, once it has one.
        #[pin]
        timer: Option<Sleep>,
    }
}

enum State<R> {
    Waiting(Waiting<R>, Option<ExitFuture>),
    Failed(Option<CallError>),
}

impl<R> Future for PendingReply<R> {
    type Output = Result<R, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let (waiting, exit) = match this.state {
            State::Failed(error) => {
                let error = error.take().expect("PendingReply polled after completion");
                return Poll::Ready(Err(error));
            }
            State::Waiting(waiting, exit) => (waiting, exit),
        };
        if let Poll::Ready(outcome) = poll_reply(waiting, exit, cx) {
            *this.registration = None;
            return Poll::Ready(outcome);
        }
        let deadline = match *this.deadline {
            Some(deadline) => deadline,
            None => {
                let now = Instant::now();
                // As `tokio::time::sleep`, with the clock read once for both.
                let deadline = now + (*this.timeout).min(FAR);
                *this.deadline = Some(deadline);
                *this.registration = epoch::register(now, deadline, cx.waker());
                if this.registration.is_some() {
                    return Poll::Pending;
                }
                deadline
            }
        };
        if this.timer.is_none() {
            // Polled again while in an epoch (its end, or any other wake-up), or
            // not in one: a timer of its own from now on.
            *this.registration = None;
            this.timer.set(Some(tokio::time::sleep_until(deadline)));
        }
        if let Some(timer) = this.timer.as_pin_mut() {
            ready!(timer.poll(cx));
        }
        *this.state = State::Failed(None);
        Poll::Ready(Err(CallError::Timeout))
    }
}

/// Beyond any timeout a call can wait out (what `tokio::time::sleep` clamps to).
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Polls for the reply, and a deferred call's server for its exit.
fn poll_reply<R>(
    waiting: &mut Waiting<R>,
    exit: &mut Option<ExitFuture>,
    cx: &mut Context<'_>,
) -> Poll<Result<R, CallError>> {
    match Pin::new(&mut waiting.reply).poll(cx) {
        Poll::Ready(Ok(Ok(reply))) => return Poll::Ready(Ok(reply)),
        // The server ended before replying; it failed the reply with its reason.
        Poll::Ready(Ok(Err(ended))) if ended.0 == waiting.pid => {
            return Poll::Ready(Err(CallError::Exited(ended.1)));
        }
        // Handed to another server, which ended without replying: the server
        // called may well run on.
        Poll::Ready(Ok(Err(_))) => return Poll::Ready(Err(CallError::NoReply)),
        // Dropped unsent by a server that goes on, or by any other task.
        Poll::Ready(Err(_)) => return Poll::Ready(Err(CallError::NoReply)),
        Poll::Pending => {}
    }
    // A deferred reply may be held outside the server, so nothing fails it when
    // the server dies: watch the server itself, as OTP's call monitors it.
    if let Some(server) = &waiting.server {
        let exit = exit.get_or_insert_with(|| Box::pin(process::exited(server.clone())));
        if let Poll::Ready(reason) = exit.as_mut().poll(cx) {
            return Poll::Ready(Err(CallError::Exited(reason)));
        }
    }
    Poll::Pending
}

impl<R> fmt::Debug for PendingReply<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingReply")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where the reply to one call goes.
///
/// Every call message carries one. A `#[call]` handler that returns a value has it
/// sent for it; a handler that takes a `ReplyTo<T>` argument (and returns nothing)
/// defers the reply, OTP's `{noreply, State}` followed by `gen_server:reply/2`: it
/// can keep the `ReplyTo` in its state, or hand it to another task, and
/// [`send`](ReplyTo::send) the reply from anywhere, later. The caller keeps waiting
/// (up to its timeout) until then, and gets [`CallError::NoReply`] at once if the
/// `ReplyTo` is dropped unsent.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use gensrv::{gen_server, ReplyTo};
///
/// /// Answers `wait` calls when `open` is cast, in order.
/// #[derive(Default)]
/// struct Gate {
///     waiting: Vec<ReplyTo<u32>>,
/// }
///
/// #[gen_server]
/// impl Gate {
///     /// Waits until the gate opens; gives the caller's place in the queue.
///     #[call]
///     fn wait(&mut self, reply: ReplyTo<u32>) {
///         self.waiting.push(reply);
///     }
///
///     /// Opens the gate.
///     #[cast]
///     fn open(&mut self) {
///         for (place, reply) in self.waiting.drain(..).enumerate() {
///             let _ = reply.send(place as u32);
///         }
///     }
/// }
///
/// let gate = Gate::start(Gate::default()).await.unwrap();
/// let first = gate.wait().send();
/// let second = gate.wait().send();
/// gate.open().unwrap();
/// assert_eq!(first.await, Ok(0));
/// assert_eq!(second.await, Ok(1));
/// # }
/// ```
pub struct ReplyTo<R: Send + 'static> {
    sender: Option<oneshot::Sender<Reply<R>>>,
}

impl<R: Send + 'static> ReplyTo<R> {
    pub(crate) fn new(sender: oneshot::Sender<Reply<R>>) -> Self {
        ReplyTo {
            sender: Some(sender),
        }
    }

    /// Sends the reply (OTP's `gen_server:reply/2`). Gives it back as `Err(reply)`
    /// if the caller no longer waits (its call timed out, or it dropped the call);
    /// that reply is never taken for another call's.
    pub fn send(mut self, reply: R) -> Result<(), R> {
        match self.sender.take() {
            Some(sender) => sender.send(Ok(reply)).map_err(|unsent| match unsent {
                Ok(reply) => reply,
                Err(_) => unreachable!("only a reply is sent here"),
            }),
            None => Err(reply),
        }
    }

    /// Whether the caller has stopped waiting.
    pub fn is_closed(&self) -> bool {
        self.sender.as_ref().is_none_or(oneshot::Sender::is_closed)
    }
}

impl<R: Send + 'static> Drop for ReplyTo<R> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            process::orphan_reply(move |pid, reason| {
                let _ = sender.send(Err(Box::new((pid, reason.clone()))));
            });
        }
    }
}

impl<R: Send + 'static> fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyTo")
            .field("closed", &self.is_closed())
            .finish()
    }
}
