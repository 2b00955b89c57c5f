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
//! To a server whose mailbox is bounded
//! ([`Start::mailbox`](crate::Start::mailbox)) and full, the request is sent all
//! the same, into a line of calls waiting for room, first come first in, which
//! the server moves into its mailbox as room comes; while any waits, casts to that
//! server are refused with [`CastError::Full`](crate::CastError::Full), so that
//! none overtakes it. A request still in line when its caller gives up (its call
//! timed out, or was dropped) is skipped: it is not handled.
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
use std::sync::atomic::{AtomicBool, Ordering};
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
    //! it was last armed, and the wakers of the calls that waited on it, its
    //! *epoch*. A call whose deadline is no earlier than the anchor's registers its
    //! waker in the epoch when it first waits. When the anchor fires, the epoch
    //! ends: every waker registered is woken, and each call still waiting then arms
    //! its own tokio timer for its own deadline, on whatever runtime it is polled
    //! on. The epoch decides only when a call gets its timer, never when it times
    //! out. A call polled again for any other reason (a spurious wake-up, a
    //! `select!`, a move to another task or runtime) also leaves the epoch for a
    //! timer of its own, so a waker relied on is always the one the call was last
    //! polled with.
    //!
    //! The epoch keeps *wakers*, not calls: one entry per task (per distinct
    //! waker), kept until the epoch ends, whether or not that task still waits.
    //! So a call leaves nothing to undo when it is answered, and a task calling
    //! again and again (the usual loop, or a few such tasks taking turns on a
    //! thread) finds its waker among the few the thread registered last, kept in
    //! the thread-local beside the anchor, and waits with no lock, no shared
    //! write and no clone. (Registering and unregistering each call under the
    //! epoch's lock, with a reference to the epoch held by each call, cost about a
    //! tenth of a call between servers on many threads.) The price: when an epoch
    //! ends, a task that waited on a call in it but no longer waits is woken once
    //! for nothing (at most once per second per task and thread), and a task's
    //! waker, hence its memory, is kept up to [`AHEAD`] after its call; the clones
    //! of the [`RECENT`] last ones the thread keeps at hand live until its next
    //! epoch begins, at its first call after this one ended (so a thread that
    //! stops calling keeps at most that many tasks' memory, until it exits).
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
    //! - An epoch ends, waking its wakers, when its anchor fires, when the thread
    //!   starts the next epoch (the anchor came due before the driver processed it),
    //!   and when the anchor is dropped (the thread went to another runtime, or
    //!   exits). An epoch that has ended takes no registration, so no call is left
    //!   in an epoch that will not end.
    //! - A waker found among the thread's recent ones is relied on only if the
    //!   epoch has not ended (`Epoch::ended`, set before any of its wakers is
    //!   woken). If it ends after that check, the waker is woken after the call
    //!   returned `Pending` or while it is being polled, and either way the call is
    //!   polled again. If it had ended before the poll began, the wake-up that the
    //!   poll consumed happened after `ended` was set, so the check sees it (the
    //!   executor's wake and poll synchronize; the flag is released before the
    //!   wakes and acquired by the check).
    //! - A call with a deadline before the anchor's, or polled outside a runtime,
    //!   gets its own timer at once, as every call did before.
    //!
    //! Which runtime a call is polled on is asked of tokio (`Handle::try_current`,
    //! which clones and drops the runtime's handle: on a multi-thread runtime, two
    //! atomic writes to a counter every worker writes, a fifth of the time of a
    //! call between servers on many threads). It is not asked when the task's
    //! waker is among the thread's recent ones and the anchor is a multi-thread
    //! runtime's: such an anchor fires (or its runtime shuts down, which fires it)
    //! whatever this thread runs, since that runtime's own workers drive its
    //! timers, so a call may wait on it from any runtime. (A current-thread
    //! runtime's timers run only while a thread is in its `block_on`: its anchor
    //! is relied on only by calls polled on it.) The one difference: a call polled
    //! on a runtime with paused time, by a task whose waker this thread also used
    //! in a multi-thread runtime in the same second (a `LocalSet` moved between
    //! runtimes, say), gets its own timer when the anchor fires in real time
    //! rather than at once, so its timeout may be seen later in paused time than
    //! its deadline (never missed: the timer, due already, fires at once).

    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
    use std::task::{Context, Wake, Waker};
    use std::time::Duration;

    use tokio::task::coop::unconstrained;
    use tokio::time::{Instant, Sleep};

    /// How long an epoch lasts: calls with a timeout at least this long (the
    /// default 5 s among them) start in an epoch rather than with a timer.
    const AHEAD: Duration = Duration::from_secs(1);

    /// How many of the wakers it registered last a thread keeps at hand (a few
    /// callers taking turns on one worker: the scale benchmark has 4 per core).
    const RECENT: usize = 8;

    /// The wakers of the calls that waited in one epoch.
    #[derive(Default)]
    struct Epoch {
        /// The epoch has ended: set (under the lock) before any waker is woken.
        ended: AtomicBool,
        waiters: Mutex<Waiters>,
    }

    #[derive(Default)]
    struct Waiters {
        /// Whether the epoch has ended: no registration is taken any more.
        ended: bool,
        /// One waker per task, by the identity `Waker::will_wake` compares (its
        /// data and vtable pointers): a task is registered once however many calls
        /// it makes. Each key is the identity of the waker it holds, which the
        /// waker keeps alive, so no other waker can have it meanwhile.
        wakers: HashMap<(usize, usize), Waker>,
    }

    /// The identity `Waker::will_wake` compares.
    fn identity(waker: &Waker) -> (usize, usize) {
        (
            waker.data() as usize,
            std::ptr::from_ref(waker.vtable()) as usize,
        )
    }

    impl Epoch {
        fn waiters(&self) -> MutexGuard<'_, Waiters> {
            // Nothing panics with the lock held; should it, the state is still valid.
            self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// Wakes every waker registered, and refuses any further registration.
        fn end(&self) {
            let wakers = {
                let mut waiters = self.waiters();
                waiters.ended = true;
                self.ended.store(true, Ordering::Release);
                std::mem::take(&mut waiters.wakers)
            };
            // Outside the lock: waking, or dropping, a waker may do anything.
            for waker in wakers.into_values() {
                waker.wake();
            }
        }

        /// Registers `waker`; false if the epoch has ended.
        fn register(&self, waker: &Waker) -> bool {
            let mut waiters = self.waiters();
            if waiters.ended {
                return false;
            }
            waiters
                .wakers
                .entry(identity(waker))
                .or_insert_with(|| waker.clone());
            true
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

    /// This thread's anchor: its runtime, when it is due, its epoch and its timer.
    struct Anchor {
        runtime: tokio::runtime::Id,
        /// Whether `runtime` is a multi-thread runtime, whose own workers drive
        /// the anchor's timer.
        multi_thread: bool,
        due: Instant,
        epoch: Arc<Epoch>,
        sleep: Pin<Box<Sleep>>,
        /// The wakers this thread registered in `epoch` last (clones, so that each
        /// stays the identity it was registered with), the latest at `next - 1`.
        recent: [Option<Waker>; RECENT],
        next: usize,
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
            self.recent = Default::default();
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

        /// Whether `waker` is registered in an epoch that has not ended, as one of
        /// the thread's recent ones.
        #[inline]
        fn knows(&self, waker: &Waker) -> bool {
            !self.epoch.ended.load(Ordering::Acquire)
                && self
                    .recent
                    .iter()
                    .any(|known| known.as_ref().is_some_and(|k| k.will_wake(waker)))
        }

        /// Registers `waker` in the epoch, unless the thread did already; false if
        /// the epoch has ended.
        fn register(&mut self, waker: &Waker) -> bool {
            if self.knows(waker) {
                return true;
            }
            if !self.epoch.register(waker) {
                return false;
            }
            // Replaced outside any lock; a waker dropped here is a clone the epoch
            // still holds, so this drops no task.
            self.recent[self.next] = Some(waker.clone());
            self.next = (self.next + 1) % RECENT;
            true
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
    /// ends before `deadline`; false if the call needs a timer of its own.
    pub(super) fn register(now: Instant, deadline: Instant, waker: &Waker) -> bool {
        let registered = ANCHOR.try_with(|anchor| {
            let mut anchor = anchor.try_borrow_mut().ok()?;
            if let Some(anchor) = anchor.as_ref()
                && anchor.multi_thread
                && anchor.due > now
                && anchor.due <= deadline
                && anchor.knows(waker)
            {
                // A task calling again on a multi-thread runtime's worker: no need
                // to know the runtime (see the module docs).
                return Some(Ok(true));
            }
            let Ok(handle) = tokio::runtime::Handle::try_current() else {
                return Some(Ok(false));
            };
            match anchor
                .as_mut()
                .filter(|anchor| anchor.runtime == handle.id() && anchor.due > now)
            {
                Some(anchor) => Some(Ok(anchor.due <= deadline && anchor.register(waker))),
                // No anchor of this runtime that is still to come.
                None => Some(Err(handle)),
            }
        });
        match registered {
            Ok(Some(Ok(registered))) => registered,
            Ok(Some(Err(handle))) => now + AHEAD <= deadline && renew(&handle, now, waker),
            Ok(None) | Err(_) => false,
        }
    }

    /// Arms this thread's anchor on `runtime` from `now`, in a new epoch, and
    /// registers `waker` in it. False while the thread-local is borrowed (only if a
    /// waker woken here comes back) or being destroyed.
    #[cold]
    #[inline(never)]
    fn renew(handle: &tokio::runtime::Handle, now: Instant, waker: &Waker) -> bool {
        let runtime = handle.id();
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
                        multi_thread: matches!(
                            handle.runtime_flavor(),
                            tokio::runtime::RuntimeFlavor::MultiThread
                        ),
                        due,
                        epoch: Arc::new(Epoch::default()),
                        sleep: Box::pin(tokio::time::sleep_until(due)),
                        recent: Default::default(),
                        next: 0,
                    })
                    .arm(due)
                }
            };
            let registered = slot.as_mut().is_some_and(|anchor| anchor.register(waker));
            Some((registered, ended))
        });
        drop(replaced);
        let Some((registered, ended)) = renewed.ok().flatten() else {
            return false;
        };
        ended.end();
        registered
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

/// The caller's end of a call: the reply, or why there is none (boxed: a rare
/// path that should not make every reply bigger).
type Reply<R> = Result<R, Box<Failure>>;

/// Why a call's reply did not come.
pub(crate) enum Failure {
    /// The reply was dropped on the task of the server `pid` as it ended with
    /// this reason.
    Ended(Pid, ExitReason),
    /// The call failed on another node, or on its way there.
    #[cfg(feature = "remote")]
    Error(CallError),
}

struct Waiting<R> {
    reply: oneshot::Receiver<Reply<R>>,
    /// The server called.
    pid: Pid,
    /// The server, for a deferred call only: its reply may outlive it elsewhere.
    server: Option<Arc<dyn AnyProcess>>,
    /// For a request waiting in line for room in a full bounded mailbox: tells
    /// the server, when this call is done or dropped, that its caller no longer
    /// waits, so that a request still in line is skipped. (Kept for its `Drop`.)
    _in_line: Option<GiveUp>,
}

/// Sets its flag when dropped: the caller gave up on a request in line.
struct GiveUp(Arc<AtomicBool>);

impl Drop for GiveUp {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl<R> Call<R> {
    pub(crate) fn sent(
        reply: oneshot::Receiver<Reply<R>>,
        pid: Pid,
        server: Option<Arc<dyn AnyProcess>>,
    ) -> Self {
        Call {
            outcome: Ok(Waiting {
                reply,
                pid,
                server,
                _in_line: None,
            }),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A call whose request waits in line for room in a full bounded mailbox;
    /// `abandoned` is set once its caller no longer waits.
    pub(crate) fn in_line(
        reply: oneshot::Receiver<Reply<R>>,
        pid: Pid,
        server: Option<Arc<dyn AnyProcess>>,
        abandoned: Arc<AtomicBool>,
    ) -> Self {
        Call {
            outcome: Ok(Waiting {
                reply,
                pid,
                server,
                _in_line: Some(GiveUp(abandoned)),
            }),
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
            return Poll::Ready(outcome);
        }
        let deadline = match *this.deadline {
            Some(deadline) => deadline,
            None => {
                let now = Instant::now();
                // As `tokio::time::sleep`, with the clock read once for both.
                let deadline = now + (*this.timeout).min(FAR);
                *this.deadline = Some(deadline);
                if epoch::register(now, deadline, cx.waker()) {
                    // Until the epoch ends, or any other wake-up.
                    return Poll::Pending;
                }
                deadline
            }
        };
        if this.timer.is_none() {
            // Polled again while in an epoch (its end, or any other wake-up), or
            // not in one: a timer of its own from now on.
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
        Poll::Ready(Ok(Err(failure))) => {
            return Poll::Ready(Err(match *failure {
                Failure::Ended(pid, reason) if pid == waiting.pid => CallError::Exited(reason),
                // Handed to another server, which ended without replying: the
                // server called may well run on.
                Failure::Ended(..) => CallError::NoReply,
                #[cfg(feature = "remote")]
                Failure::Error(error) => error,
            }));
        }
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

    /// Fails the call with `error`, whatever it is: how a call to another node
    /// gets what happened to it there, or on the way.
    #[cfg(feature = "remote")]
    pub(crate) fn fail_with(mut self, error: CallError) {
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Err(Box::new(Failure::Error(error))));
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
                let _ = sender.send(Err(Box::new(Failure::Ended(pid, reason.clone()))));
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
