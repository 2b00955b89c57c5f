//! A server's mailbox, and what travels through it.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll, Waker};

use tokio::time::{Instant, Sleep};

use crate::{Down, ExitReason, GenServer, Pid, TimerRef};

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
    /// A timer's message; dropped if the timer was cancelled meanwhile.
    Timer(Box<(TimerRef, S::Info)>),
    /// The idle timeout elapsed (never queued: made by the loop itself).
    Timeout,
}

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
/// Room left for later: its length is `queue.len()` plus what the task holds
/// taken, which the task could publish in a relaxed atomic as it pops; a bounded
/// capacity would be a check of that length in `send`, for the kinds that may be
/// refused (never `Sys`), with a list of the senders waiting for room (calls),
/// woken by the task as it takes messages.
pub(crate) struct Mailbox<S: GenServer> {
    queue: Mutex<Queue<S>>,
}

struct Queue<S: GenServer> {
    messages: VecDeque<Envelope<S>>,
    /// The server task, while it waits for a message with the queue empty. Taken by
    /// the send that wakes it.
    waker: Option<Waker>,
    /// The process is ending: no message is taken any more.
    closed: bool,
}

impl<S: GenServer> Mailbox<S> {
    pub(crate) fn new() -> Self {
        Mailbox {
            queue: Mutex::new(Queue {
                messages: VecDeque::new(),
                waker: None,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<S>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `envelope`, and wakes the task if it waits for it. Gives the envelope
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
        let (messages, waker) = {
            let mut queue = self.lock();
            queue.closed = true;
            (std::mem::take(&mut queue.messages), queue.waker.take())
        };
        drop(waker);
        messages
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
        if let Some(envelope) = self.taken.pop_front() {
            return Some(envelope);
        }
        let mut queue = self.mailbox.lock();
        std::mem::swap(&mut self.taken, &mut queue.messages);
        drop(queue);
        self.taken.pop_front()
    }

    /// Closes the mailbox and gives every message still in it, in order (see
    /// `Mailbox::drain`).
    pub(crate) fn drain(&mut self) -> VecDeque<Envelope<S>> {
        self.drained = true;
        let rest = self.mailbox.drain();
        if self.taken.is_empty() {
            return rest;
        }
        let mut taken = std::mem::take(&mut self.taken);
        taken.extend(rest);
        taken
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
        return Poll::Ready(envelope);
    }
    let mut queue = mailbox.lock();
    if queue.messages.is_empty() {
        // Under the lock: a send after this sees the waker.
        if !queue
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            queue.waker = Some(cx.waker().clone());
        }
        return Poll::Pending;
    }
    std::mem::swap(taken, &mut queue.messages);
    drop(queue);
    Poll::Ready(taken.pop_front().expect("took a non-empty queue"))
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
