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

mod anchor {
    //! A timer kept pending on each thread, due before any call's deadline.
    //!
    //! Each waiting call arms a tokio timer for its timeout. Inserting a timer due
    //! before every other one makes tokio wake its time driver (a syscall, and on
    //! the multi-thread runtime an idle worker) so that it sleeps less: with the
    //! wheel otherwise empty, that was every call. With this anchor due first, a
    //! call's timer goes into the wheel without waking anyone. The anchor is only
    //! a hint: a thread that moved to another runtime, or a call with a shorter
    //! timeout, just pays the wake-up as before.

    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Waker};
    use std::time::Duration;

    use tokio::task::coop::unconstrained;
    use tokio::time::{Instant, Sleep};

    /// How far ahead the anchor is due: calls with a timeout at least this long
    /// (the default 5 s among them) insert their timer behind it.
    const AHEAD: Duration = Duration::from_secs(1);

    /// Beyond any timeout a call can wait out (what `tokio::time::sleep` clamps to).
    pub(super) const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

    /// This thread's anchor: its runtime, when it is due, and the timer.
    struct Anchor {
        runtime: tokio::runtime::Id,
        due: Instant,
        sleep: Pin<Box<Sleep>>,
    }

    thread_local! {
        static ANCHOR: RefCell<Option<Anchor>> = const { RefCell::new(None) };
    }

    /// Makes sure this thread's anchor is pending, as of `now`.
    pub(super) fn keep(now: Instant) {
        ANCHOR.with_borrow_mut(|anchor| {
            if anchor.as_ref().is_some_and(|anchor| anchor.due > now) {
                return;
            }
            // Once a second at most: the runtime is looked up only here.
            let Ok(runtime) = tokio::runtime::Handle::try_current().map(|h| h.id()) else {
                return;
            };
            let due = now + AHEAD;
            match anchor {
                // A timer of another runtime, perhaps one shut down, is never
                // touched again: only dropped.
                Some(anchor) if anchor.runtime == runtime => {
                    anchor.sleep.as_mut().reset(due);
                    anchor.due = due;
                }
                _ => {
                    *anchor = Some(Anchor {
                        runtime,
                        due,
                        sleep: Box::pin(tokio::time::sleep_until(due)),
                    })
                }
            }
            let Some(anchor) = anchor else { return };
            // Polled once, into the wheel; nobody is woken when it fires. (Outside
            // the task's budget: a poll refused for budget would not register it.)
            let mut cx = Context::from_waker(Waker::noop());
            let _ = Pin::new(&mut unconstrained(anchor.sleep.as_mut())).poll(&mut cx);
        });
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
        #[pin]
        deadline: Option<Sleep>,
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
        if this.deadline.is_none() {
            let now = Instant::now();
            anchor::keep(now);
            // As `tokio::time::sleep`, with the clock read once for both.
            let at = now + (*this.timeout).min(anchor::FAR);
            this.deadline.set(Some(tokio::time::sleep_until(at)));
        }
        if let Some(deadline) = this.deadline.as_pin_mut() {
            ready!(deadline.poll(cx));
        }
        *this.state = State::Failed(None);
        Poll::Ready(Err(CallError::Timeout))
    }
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
