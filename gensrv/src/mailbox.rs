//! A server's mailbox, and what travels through it.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll, Waker};

use tokio::time::{Instant, Sleep};

use crate::sys::{Statistics, Status};
use crate::{Down, ExitReason, GenServer, Pid, ReplyTo, TimerRef};

/// One message in a server's mailbox. A single queue carries every kind, so that
/// messages from one sender are handled in the order sent, whatever their kind.
///
/// Rare runtime messages are boxed, so that they do not make every message bigger
/// than the server's own: a small cast stays a 16-byte move.
pub(crate) enum Envelope<S: GenServer> {
    Call(S::Call),
    Cast(S::Cast),
    Info(S::Info),
    Sys(Box<Sys>),
    /// `get_state` or `replace_state`: runs on the state between two messages,
    /// also while the server is suspended.
    State(Box<OnState<S>>),
    /// A timer's message; dropped if the timer was cancelled meanwhile.
    Timer(Box<(TimerRef, S::Info)>),
    /// The idle timeout elapsed (never queued: made by the loop itself).
    Timeout,
}

impl<S: GenServer> Envelope<S> {
    /// Whether a suspended server leaves it in the mailbox: everything but sys
    /// requests and stop.
    pub(crate) fn waits_while_suspended(&self) -> bool {
        match self {
            Envelope::State(_) => false,
            Envelope::Sys(sys) => matches!(**sys, Sys::Down(_) | Sys::Exit { .. }),
            _ => true,
        }
    }
}

/// What `get_state` or `replace_state` runs on the state. (Boxed once more in
/// `Envelope::State`: a thin pointer, so that the envelope stays as small as the
/// server's own messages make it.)
pub(crate) type OnState<S> = Box<dyn FnOnce(&mut S) + Send>;

/// Messages of the runtime, not of the server's own protocol.
pub(crate) enum Sys {
    /// `ServerRef::stop`: handled in mailbox order, like OTP's `sys:terminate`.
    Stop(ExitReason),
    /// A monitored process ended; dropped if the monitor was removed meanwhile.
    Down(Down),
    /// An exit signal for a server that traps exits: a linked process ended
    /// (`link`; no effect if the link was removed meanwhile), or `gensrv::exit`.
    Exit {
        from: Pid,
        reason: ExitReason,
        link: bool,
    },
    /// `suspend`: from now on only `Sys` and `State` messages are handled, the
    /// others wait in order.
    Suspend(ReplyTo<()>),
    /// `resume`: what waited is handled first, in order.
    Resume(ReplyTo<()>),
    Statistics(ReplyTo<Statistics>),
    GetStatus(ReplyTo<Status>),
}

/// A server's mailbox, kept inline in its `Process`: a queue under a lock, where
/// the server task is woken when a message comes while it waits for one. (Rather
/// than tokio's unbounded mpsc channel, which allocates about 1 KB per server,
/// a cache-padded channel and a first block of 32 slots, before any message.)
///
/// Every sender takes the same lock, so the queue keeps each sender's order, and a
/// send cannot race with the close: once `close` (or `drain`) has run, no message
/// gets in, and whatever got in before is drained by the task (`Inbox::drain`),
/// with no send still under way to wait for.
///
/// It allocates nothing until its first message. The task takes the whole queue in
/// one lock (into `Inbox::taken`), so that a burst of messages costs it one lock,
/// not one per message. A send wakes the task only when it waits in `recv` (the
/// waker is taken), so that messages sent while a handler runs wake nobody.
///
/// Its length is `queue.len()` plus what the task holds, which the task publishes
/// in a relaxed atomic as it takes messages (under the lock when it takes the
/// queue). A bounded mailbox checks that length under the lock for casts, info
/// messages and calls (never the runtime's own messages); a call that finds no
/// room waits in line in the mailbox, and the task moves it in as room comes.
pub(crate) struct Mailbox<S: GenServer> {
    queue: Mutex<Queue<S>>,
    /// The messages the task holds out of the queue (taken, or put aside while
    /// suspended), as of its last change: with the queue's length, the mailbox's.
    held: AtomicUsize,
}

struct Queue<S: GenServer> {
    messages: VecDeque<Envelope<S>>,
    /// The server task, while it waits for a message with the queue empty. Taken by
    /// the send that wakes it.
    waker: Option<Waker>,
    /// The process is ending: no message is taken any more.
    closed: bool,
    /// The messages the task put aside while the server is suspended, in the
    /// order they came: handled first once it resumes. (Here rather than in the
    /// task: rare, and the task's memory is counted in 128-byte steps; boxed, as
    /// most servers are never suspended.)
    #[allow(clippy::box_collection)] // 8 bytes per server rather than 32; see above.
    deferred: Option<Box<VecDeque<Envelope<S>>>>,
    /// The limit of a bounded mailbox (`Start::mailbox`), and the calls waiting
    /// for room in it; boxed, as most mailboxes have none.
    bound: Option<Box<Bound<S>>>,
}

/// A bounded mailbox's capacity, and the calls that found it full: in line,
/// first come first in, from the moment they were sent (so a sender's later
/// call queues behind its earlier one), and moved into the mailbox by the
/// server itself as room comes, so that no caller has to be polled for its call
/// to go in. While any call waits, casts and info messages are refused: they
/// would otherwise overtake it.
struct Bound<S: GenServer> {
    capacity: usize,
    waiting: VecDeque<(Envelope<S>, Arc<AtomicBool>)>,
}

/// Why a message was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The process is ending.
    Closed,
    /// A bounded mailbox is full, or calls wait for room in it.
    Full,
}

impl<S: GenServer> Queue<S> {
    fn deferred_len(&self) -> usize {
        self.deferred.as_ref().map_or(0, |deferred| deferred.len())
    }

    /// The messages in the mailbox, `held` being what the task holds out of it.
    fn len(&self, held: usize) -> usize {
        self.messages.len() + self.deferred_len() + held
    }

    /// Whether a bounded mailbox takes no more casts or info messages now.
    fn is_full(&self, held: usize) -> bool {
        self.bound
            .as_ref()
            .is_some_and(|bound| !bound.waiting.is_empty() || self.len(held) >= bound.capacity)
    }

    /// Moves the calls waiting for room into the mailbox, as many as there is
    /// room for (the task holding `held`), skipping those whose caller gave up
    /// (timed out, or dropped the call): those are given back, to be dropped
    /// outside the lock.
    fn admit_waiting(&mut self, held: usize) -> Vec<Envelope<S>> {
        let mut given_up = Vec::new();
        let len = self.len(held);
        let Some(bound) = self.bound.as_mut() else {
            return given_up;
        };
        let mut room = bound.capacity.saturating_sub(len);
        while room > 0 {
            let Some((call, abandoned)) = bound.waiting.pop_front() else {
                break;
            };
            if abandoned.load(Ordering::Acquire) {
                given_up.push(call);
            } else {
                self.messages.push_back(call);
                room -= 1;
            }
        }
        given_up
    }

    /// The calls still waiting for room, when the mailbox is drained.
    fn take_waiting(&mut self) -> VecDeque<Envelope<S>> {
        match self.bound.as_mut() {
            Some(bound) => bound.waiting.drain(..).map(|(call, _)| call).collect(),
            None => VecDeque::new(),
        }
    }
}

impl<S: GenServer> Mailbox<S> {
    /// A mailbox, bounded to `capacity` messages if given.
    pub(crate) fn new(capacity: Option<usize>) -> Self {
        Mailbox {
            queue: Mutex::new(Queue {
                messages: VecDeque::new(),
                waker: None,
                closed: false,
                deferred: None,
                bound: capacity.map(|capacity| {
                    Box::new(Bound {
                        capacity,
                        waiting: VecDeque::new(),
                    })
                }),
            }),
            held: AtomicUsize::new(0),
        }
    }

    /// The messages waiting: queued, or held by the task and not handled yet.
    pub(crate) fn len(&self) -> usize {
        self.lock().len(self.held.load(Ordering::Relaxed))
    }

    fn lock(&self) -> MutexGuard<'_, Queue<S>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a cast, an info message or a call from a client, unless a bounded
    /// mailbox is full: gives it back with the reason if not queued (to be dropped
    /// outside the lock). Wakes the task if it waits for it.
    pub(crate) fn send_message(&self, envelope: Envelope<S>) -> Result<(), (Refused, Envelope<S>)> {
        let waker = {
            let mut queue = self.lock();
            if queue.closed {
                return Err((Refused::Closed, envelope));
            }
            if queue.is_full(self.held.load(Ordering::Relaxed)) {
                return Err((Refused::Full, envelope));
            }
            queue.messages.push_back(envelope);
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Queues a call. In a full bounded mailbox, it waits in line for room
    /// instead (`Ok(Some(abandoned))`: set it if the caller gives up, and the
    /// server skips the call). Gives it back if the mailbox is closed.
    pub(crate) fn send_call(
        &self,
        envelope: Envelope<S>,
    ) -> Result<Option<Arc<AtomicBool>>, Envelope<S>> {
        let (waker, abandoned) = {
            let mut queue = self.lock();
            if queue.closed {
                return Err(envelope);
            }
            if queue.is_full(self.held.load(Ordering::Relaxed)) {
                let abandoned = Arc::new(AtomicBool::new(false));
                let bound = queue
                    .bound
                    .as_mut()
                    .expect("only a bounded mailbox is full");
                bound.waiting.push_back((envelope, abandoned.clone()));
                return Ok(Some(abandoned));
            }
            queue.messages.push_back(envelope);
            (queue.waker.take(), None)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(abandoned)
    }

    /// Queues a message of the runtime (stop, sys requests, `Down`s, exit
    /// signals, timers' messages): never refused for room, so that a full mailbox
    /// holds up no shutdown. Wakes the task if it waits for it. Gives the envelope
    /// back if the mailbox is closed (the caller drops it, outside the lock).
    pub(crate) fn send(&self, envelope: Envelope<S>) -> Result<(), Envelope<S>> {
        let waker = {
            let mut queue = self.lock();
            if queue.closed {
                return Err(envelope);
            }
            queue.messages.push_back(envelope);
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Takes no message any more: sends fail from now on. What is queued stays
    /// there for `drain`.
    pub(crate) fn close(&self) {
        let waker = {
            let mut queue = self.lock();
            queue.closed = true;
            // The task's waker is no use any more (and would keep its memory).
            queue.waker.take()
        };
        drop(waker);
    }

    /// Closes the mailbox and gives every message still queued, in order. Nothing
    /// can come in after: a send that raced with the close either got in before it
    /// (and is here) or failed. The messages are to be dropped outside the lock,
    /// since a message's `Drop` may send to this very mailbox.
    pub(crate) fn drain(&self) -> VecDeque<Envelope<S>> {
        let (mut deferred, mut messages) = self.drain_parts();
        deferred.append(&mut messages);
        deferred
    }

    /// `drain`, as what was put aside and what is queued.
    fn drain_parts(&self) -> (VecDeque<Envelope<S>>, VecDeque<Envelope<S>>) {
        let (deferred, mut messages, waker, mut waiting) = {
            let mut queue = self.lock();
            queue.closed = true;
            (
                queue.deferred.take().map(|d| *d).unwrap_or_default(),
                std::mem::take(&mut queue.messages),
                queue.waker.take(),
                queue.take_waiting(),
            )
        };
        drop(waker);
        // The calls waiting for room came after every message queued.
        messages.append(&mut waiting);
        (deferred, messages)
    }
}

/// The server task's end of its mailbox.
pub(crate) struct Inbox<'a, S: GenServer> {
    mailbox: &'a Mailbox<S>,
    /// Messages taken from the queue in one lock, handled before the next lock.
    taken: VecDeque<Envelope<S>>,
    /// The timer of `recv_until`, made the first time it is needed and reset after
    /// that: boxed, so that a server that never sets an idle timeout does not carry
    /// a tokio `Sleep` (112 bytes) in its task.
    idle: Option<Pin<Box<Sleep>>>,
    /// `drain` has run: nothing is left to drop.
    drained: bool,
}

impl<'a, S: GenServer> Inbox<'a, S> {
    pub(crate) fn new(mailbox: &'a Mailbox<S>) -> Self {
        Inbox {
            mailbox,
            taken: VecDeque::new(),
            idle: None,
            drained: false,
        }
    }

    /// Puts `envelope` aside until `resume` (the server is suspended).
    pub(crate) fn defer(&mut self, envelope: Envelope<S>) {
        let refused = {
            let mut queue = self.mailbox.lock();
            if queue.closed {
                Some(envelope)
            } else {
                queue.deferred.get_or_insert_default().push_back(envelope);
                None
            }
        };
        // Never while the task runs; dropped outside the lock all the same.
        drop(refused);
    }

    /// Makes what was put aside the next messages, in the order they came.
    pub(crate) fn resume(&mut self) {
        let mut queue = self.mailbox.lock();
        if let Some(mut deferred) = queue.deferred.take() {
            deferred.append(&mut self.taken);
            self.taken = *deferred;
            // Under the lock: counted, in one place or the other, all along.
            self.publish();
        }
    }

    /// The messages waiting, exactly (from the task itself).
    pub(crate) fn len(&self) -> usize {
        let queue = self.mailbox.lock();
        queue.messages.len() + queue.deferred_len() + self.taken.len()
    }

    /// Tells `Mailbox::len` how many messages the task holds.
    fn publish(&self) {
        self.mailbox.held.store(self.taken.len(), Ordering::Relaxed);
    }

    /// The next message, once there is one. (The mailbox is closed only by the
    /// task itself, when it stops receiving.)
    pub(crate) fn recv(&mut self) -> impl Future<Output = Envelope<S>> + '_ {
        std::future::poll_fn(|cx| poll_recv(self.mailbox, &mut self.taken, cx))
    }

    /// The next message, or `None` if none came by `deadline`. A message already
    /// here is given even if the deadline has passed.
    pub(crate) fn recv_until(
        &mut self,
        deadline: Instant,
    ) -> impl Future<Output = Option<Envelope<S>>> + '_ {
        let Inbox {
            mailbox,
            taken,
            idle,
            ..
        } = self;
        let idle = match idle {
            Some(idle) => {
                idle.as_mut().reset(deadline);
                idle
            }
            None => idle.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(envelope) = poll_recv(mailbox, taken, cx) {
                return Poll::Ready(Some(envelope));
            }
            idle.as_mut().poll(cx).map(|()| None)
        })
    }

    /// The next message if there is one now.
    pub(crate) fn try_recv(&mut self) -> Option<Envelope<S>> {
        if self.taken.is_empty() {
            let mut queue = self.mailbox.lock();
            std::mem::swap(&mut self.taken, &mut queue.messages);
            // Under the lock, as in `poll_recv`.
            let envelope = self.taken.pop_front();
            self.publish();
            return envelope;
        }
        let envelope = self.taken.pop_front();
        self.publish();
        envelope
    }

    /// Closes the mailbox and gives every message still in it, in order (see
    /// `Mailbox::drain`).
    pub(crate) fn drain(&mut self) -> VecDeque<Envelope<S>> {
        self.drained = true;
        // Put aside before taken, taken before queued: the order they came.
        let (mut all, mut queued) = self.mailbox.drain_parts();
        all.append(&mut self.taken);
        all.append(&mut queued);
        self.publish();
        all
    }
}

/// The next message, once there is one: first what was taken already, then the
/// whole queue at once.
fn poll_recv<S: GenServer>(
    mailbox: &Mailbox<S>,
    taken: &mut VecDeque<Envelope<S>>,
    cx: &mut TaskContext<'_>,
) -> Poll<Envelope<S>> {
    if let Some(envelope) = taken.pop_front() {
        // A relaxed store, as cheap as a plain one: `Mailbox::len` sees the
        // message go.
        mailbox.held.store(taken.len(), Ordering::Relaxed);
        return Poll::Ready(envelope);
    }
    let mut queue = mailbox.lock();
    // Nothing is held now: calls waiting for room in a bounded mailbox go in, as
    // many as there is room for, behind what is queued.
    let given_up = match &queue.bound {
        Some(bound) if !bound.waiting.is_empty() => queue.admit_waiting(0),
        _ => Vec::new(),
    };
    let polled = if queue.messages.is_empty() {
        // Under the lock: a send after this sees the waker.
        if !queue
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            queue.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    } else {
        std::mem::swap(taken, &mut queue.messages);
        let envelope = taken.pop_front().expect("took a non-empty queue");
        // Under the lock: a sender checking a bounded mailbox's room counts what
        // was just taken (a moment later, it would see the queue empty and room
        // for a whole capacity more).
        mailbox.held.store(taken.len(), Ordering::Relaxed);
        Poll::Ready(envelope)
    };
    drop(queue);
    for call in given_up {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(call)));
    }
    polled
}

/// A task dropped before it drained its mailbox (its runtime shut down) still
/// closes it and drops what is queued, each message on its own. (One dropped before
/// its first poll has no `Inbox` yet: its `ExitGuard` drains the mailbox.)
impl<S: GenServer> Drop for Inbox<'_, S> {
    fn drop(&mut self) {
        if self.drained {
            return;
        }
        for envelope in self.drain() {
            let _ = catch_unwind(AssertUnwindSafe(|| drop(envelope)));
        }
    }
}
