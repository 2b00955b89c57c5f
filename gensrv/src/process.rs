//! The untyped side of a running server: what every process has whatever its type.
//!
//! A `Process<S>` is shared (`Arc`) by the server task, every `ServerRef<S>` and the
//! process table; `dyn AnyProcess` is how untyped code (the table, `Stop`, links,
//! supervisors) reaches it.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll, Waker};

use crate::mailbox::{Envelope, Mailbox, Sys};
use crate::{Down, ExitReason, GenServer, MonitorRef, Pid, StartError, registry};

const RUNNING: u8 = 0;
/// Ending: terminate may be running, the mailbox no longer takes messages.
const EXITING: u8 = 1;
const EXITED: u8 = 2;

/// Bits of `ProcessCore::interrupt`: why the loop must stop handling messages.
const KILLED: u8 = 1;
const SIGNALLED: u8 = 2;
/// Set with `KILLED` by a supervisor's `Shutdown::BrutalKill`: the ordinary way
/// to stop that child, which no crash report is written for (as in OTP).
const SHUTDOWN_KILL: u8 = 4;

pub(crate) struct ProcessCore {
    pid: Pid,
    name: Option<Box<str>>,
    /// The process that started this one linked to it (OTP's parent): its exit
    /// ends this one even when it traps exits.
    parent: Option<Pid>,
    relations: Mutex<Relations>,
    status: AtomicU8,
    /// `KILLED`: `kill` was called, the loop handles no further message.
    /// `SIGNALLED`: an exit signal that ends the process waits in `signal`.
    /// One load per message tells the loop that neither happened.
    interrupt: AtomicU8,
    /// The exit signal that ends the process, and the waker of its task while it
    /// waits (in a handler or for a message): exit signals are out of band.
    signal: Mutex<Signal>,
    /// Whether exit signals from links become `Exit` messages (`Context::trap_exit`).
    trap_exit: AtomicBool,
    /// A handler of this process dropped a `ReplyTo` of its own unsent: see
    /// `orphan_reply`.
    dropped_replies: AtomicBool,
    /// The replies dropped unsent, the exit reason once final, and whoever waits
    /// for it.
    end: Mutex<End>,
    /// What the server has handled, for `sys::statistics`.
    pub(crate) books: Books,
    /// The span the server runs in (its type, pid and name), if a subscriber
    /// wants one: boxed, so that without one it is a null pointer.
    pub(crate) span: Option<Box<tracing::Span>>,
}

/// The counts of `sys::statistics`. Written by the server task only, so each
/// count is a relaxed load and store (no atomic read-modify-write): as cheap as a
/// plain field, and readable from anywhere.
pub(crate) struct Books {
    /// When the process was started, in microseconds since the Unix epoch (8
    /// bytes rather than a `SystemTime`'s 16).
    started: u64,
    calls: AtomicU64,
    casts: AtomicU64,
    infos: AtomicU64,
}

impl Books {
    fn new() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Books {
            started: u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX),
            calls: AtomicU64::new(0),
            casts: AtomicU64::new(0),
            infos: AtomicU64::new(0),
        }
    }

    #[inline]
    fn count(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// A call handled. (By the server task only.)
    #[inline]
    pub(crate) fn call(&self) {
        Self::count(&self.calls);
    }

    /// A cast handled. (By the server task only.)
    #[inline]
    pub(crate) fn cast(&self) {
        Self::count(&self.casts);
    }

    /// Another message handled. (By the server task only.)
    #[inline]
    pub(crate) fn info(&self) {
        Self::count(&self.infos);
    }

    /// When the process was started (to the microsecond).
    pub(crate) fn started(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(self.started)
    }

    /// Calls, casts and other messages handled so far.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.casts.load(Ordering::Relaxed),
            self.infos.load(Ordering::Relaxed),
        )
    }
}

/// The end of a process, and what its handlers leave for it, under one lock (one
/// lock rather than one each: the process's memory is per server).
#[derive(Default)]
struct End {
    /// Replies a handler dropped unsent (see `orphan_reply`), settled when the
    /// handler returns: `NoReply`, or the exit reason if the handler stopped the
    /// server.
    dropped: Vec<Orphan>,
    /// The processes this one started linked (its children) that were still
    /// linked when it ended: those its end takes down, so that whoever waits for a
    /// whole tree to end can wait for them too.
    children_at_end: Vec<Arc<dyn AnyProcess>>,
    /// The exit reason, once final (set once, by `finish`).
    reason: Option<ExitReason>,
    /// Replies dropped unsent while the process was ending, to be failed with the
    /// exit reason once it is final.
    orphans: Vec<Orphan>,
    /// The `Exited` futures waiting for the reason, by id: each removes its own
    /// entry when dropped, so that waits given up do not pile up on a long-lived
    /// process. (A `Mutex` and a `Vec` cost less than a `tokio::sync::Notify` on
    /// every stop, and keep this one lock.)
    waiters: Vec<(u64, Waker)>,
    next_waiter: u64,
    /// How init went, for the starter (see `Started`): set once init is over,
    /// taken by the starter. (The starter waits on the process itself rather than
    /// on a channel of its own: one allocation less per start. The error is boxed:
    /// it is rare, and the slot is in every process.)
    start: Option<Result<(), Box<StartError>>>,
    /// The starter, while it waits.
    starter: Option<Waker>,
}

/// An exit signal waiting for the server task, and where to wake it.
#[derive(Default)]
struct Signal {
    reason: Option<ExitReason>,
    waker: Option<Waker>,
}

/// Monitors and links, made only when a process first has one, so that a server
/// without any pays nothing for them.
#[derive(Default)]
struct Relations {
    /// The process has ended: nothing new is accepted.
    closed: bool,
    tables: Option<Box<Tables>>,
}

/// Monitors are one-way, so each side keeps its half: the target its watchers,
/// the watcher what it watches.
#[derive(Default)]
struct Tables {
    /// Monitors on this process: the watcher of each.
    watchers: HashMap<MonitorRef, Arc<dyn AnyProcess>>,
    /// Monitors this process holds: the pid of each target, and the target unless
    /// it had ended already (its `Down` is then on its way).
    watching: HashMap<MonitorRef, (Pid, Option<Arc<dyn AnyProcess>>)>,
    /// Links: the other process, unless it had ended when the link was made.
    links: HashMap<Pid, Option<Arc<dyn AnyProcess>>>,
}

impl Relations {
    /// The tables to add to; `None` once the process has ended.
    fn open(&mut self) -> Option<&mut Tables> {
        if self.closed {
            return None;
        }
        Some(self.tables.get_or_insert_with(Box::default))
    }

    /// The tables to look in or remove from, if there are any.
    fn existing(&mut self) -> Option<&mut Tables> {
        self.tables.as_deref_mut()
    }
}

/// A snapshot of a process's relations, for introspection.
pub(crate) struct RelationsInfo {
    pub(crate) links: Vec<Pid>,
    pub(crate) monitors: Vec<Pid>,
    pub(crate) monitored_by: Vec<Pid>,
}

/// A dropped reply, waiting for the reason its server ended.
/// Called with the pid of the server that dropped it and that server's exit reason.
pub(crate) type Orphan = Box<dyn FnOnce(Pid, &ExitReason) + Send>;

impl ProcessCore {
    pub(crate) fn new(pid: Pid, name: Option<String>, parent: Option<Pid>) -> Self {
        ProcessCore {
            pid,
            name: name.map(String::into_boxed_str),
            parent,
            relations: Mutex::default(),
            status: AtomicU8::new(RUNNING),
            interrupt: AtomicU8::new(0),
            signal: Mutex::default(),
            trap_exit: AtomicBool::new(false),
            dropped_replies: AtomicBool::new(false),
            end: Mutex::default(),
            books: Books::new(),
            span: None,
        }
    }

    /// Runs the server in `span`, if it is enabled.
    pub(crate) fn with_span(mut self, span: tracing::Span) -> Self {
        if !span.is_disabled() {
            self.span = Some(Box::new(span));
        }
        self
    }

    #[inline]
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    #[inline]
    pub(crate) fn parent(&self) -> Option<Pid> {
        self.parent
    }

    fn relations(&self) -> std::sync::MutexGuard<'_, Relations> {
        self.relations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a monitor by `watcher` on this process; false if this one has ended.
    pub(crate) fn add_watcher(&self, monitor: MonitorRef, watcher: Arc<dyn AnyProcess>) -> bool {
        match self.relations().open() {
            Some(tables) => {
                tables.watchers.insert(monitor, watcher);
                true
            }
            None => false,
        }
    }

    /// Removes a monitor on this process; false if it was not there (its `Down`
    /// has been sent).
    pub(crate) fn remove_watcher(&self, monitor: MonitorRef) -> bool {
        let mut relations = self.relations();
        relations
            .existing()
            .is_some_and(|tables| tables.watchers.remove(&monitor).is_some())
    }

    /// Records a monitor this process holds.
    pub(crate) fn hold_monitor(
        &self,
        monitor: MonitorRef,
        pid: Pid,
        target: Option<Arc<dyn AnyProcess>>,
    ) {
        if let Some(tables) = self.relations().open() {
            tables.watching.insert(monitor, (pid, target));
        }
    }

    /// Forgets a monitor this process holds; its target, if it was still held.
    pub(crate) fn release_monitor(
        &self,
        monitor: MonitorRef,
    ) -> Option<Option<Arc<dyn AnyProcess>>> {
        let mut relations = self.relations();
        let tables = relations.existing()?;
        tables.watching.remove(&monitor).map(|(_, target)| target)
    }

    /// Adds a link to `other` on this side; false if this process has ended.
    pub(crate) fn add_link(&self, other: Arc<dyn AnyProcess>) -> bool {
        let pid = other.core().pid();
        match self.relations().open() {
            Some(tables) => {
                if pid != self.pid {
                    tables.links.insert(pid, Some(other));
                }
                true
            }
            None => false,
        }
    }

    /// Records a link to a process that had ended: its exit signal (`NoProc`) is
    /// on its way.
    pub(crate) fn add_ended_link(&self, pid: Pid) {
        if let Some(tables) = self.relations().open() {
            tables.links.insert(pid, None);
        }
    }

    /// Removes the link to `pid` on this side; whether there was one.
    pub(crate) fn remove_link(&self, pid: Pid) -> bool {
        let mut relations = self.relations();
        relations
            .existing()
            .is_some_and(|tables| tables.links.remove(&pid).is_some())
    }

    pub(crate) fn relations_info(&self) -> RelationsInfo {
        let mut relations = self.relations();
        match relations.existing() {
            Some(tables) => RelationsInfo {
                links: tables.links.keys().copied().collect(),
                monitors: tables.watching.values().map(|(pid, _)| *pid).collect(),
                monitored_by: tables.watchers.values().map(|w| w.core().pid()).collect(),
            },
            None => RelationsInfo {
                links: Vec::new(),
                monitors: Vec::new(),
                monitored_by: Vec::new(),
            },
        }
    }

    /// Alive as OTP's `is_process_alive/1` means it: not ending and not ended.
    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        self.status.load(Ordering::Acquire) == RUNNING
    }

    /// Whether `kill` was called.
    #[inline]
    pub(crate) fn is_killed(&self) -> bool {
        self.interrupt.load(Ordering::Acquire) & KILLED != 0
    }

    /// Whether the loop must stop: killed, or an exit signal ends the process.
    #[inline]
    pub(crate) fn is_interrupted(&self) -> bool {
        self.interrupt.load(Ordering::Relaxed) != 0
    }

    #[inline]
    pub(crate) fn traps_exits(&self) -> bool {
        self.trap_exit.load(Ordering::Relaxed)
    }

    pub(crate) fn set_trap_exit(&self, trap: bool) {
        self.trap_exit.store(trap, Ordering::Relaxed);
    }

    fn signal_slot(&self) -> MutexGuard<'_, Signal> {
        self.signal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the process with `reason` as soon as its task runs: the loop handles no
    /// further message, and a running handler is dropped at its next `.await`.
    /// The first such signal decides the reason.
    pub(crate) fn signal_exit(&self, reason: ExitReason) {
        let waker = {
            let mut slot = self.signal_slot();
            if slot.reason.is_none() {
                slot.reason = Some(reason);
            }
            self.interrupt.fetch_or(SIGNALLED, Ordering::Release);
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Why the process must end now, if it must: `Killed` once it was killed,
    /// or the exit signal that ends it.
    #[inline]
    pub(crate) fn take_interrupt(&self) -> Option<ExitReason> {
        if self.interrupt.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.take_interrupt_slow()
    }

    #[cold]
    fn take_interrupt_slow(&self) -> Option<ExitReason> {
        if self.is_killed() {
            return Some(ExitReason::Killed);
        }
        self.signal_slot().reason.take()
    }

    /// Where to wake the task when an exit signal comes. Called only when the
    /// waker differs from the one registered last (see `worker::Interruptible`).
    pub(crate) fn register_waker(&self, waker: &Waker) {
        self.signal_slot().waker = Some(waker.clone());
    }

    /// Settles the replies a handler of this process dropped unsent: if the
    /// process is stopping, they are failed with its exit reason once it is final
    /// (OTP's caller of a `{stop, Reason, State}` gets `Reason`); otherwise their
    /// callers get `NoReply` now.
    pub(crate) fn settle_dropped_replies(&self, stopping: bool) {
        if !self.dropped_replies.load(Ordering::Relaxed) {
            return;
        }
        let dropped = {
            let mut end = self.end();
            self.dropped_replies.store(false, Ordering::Relaxed);
            std::mem::take(&mut end.dropped)
        };
        if stopping {
            let mut end = self.end();
            match &end.reason {
                Some(reason) => {
                    let reason = reason.clone();
                    drop(end);
                    for fail in dropped {
                        fail(self.pid, &reason);
                    }
                }
                None => end.orphans.extend(dropped),
            }
        }
        // Otherwise dropped here: each caller gets `NoReply`.
    }

    /// Whether a handler dropped one of its replies unsent (one load per message).
    #[inline]
    pub(crate) fn has_dropped_replies(&self) -> bool {
        self.dropped_replies.load(Ordering::Relaxed)
    }

    /// The children this process took down with it when it ended.
    pub(crate) fn children_at_end(&self) -> Vec<Arc<dyn AnyProcess>> {
        std::mem::take(&mut self.end().children_at_end)
    }

    #[inline]
    pub(crate) fn has_exited(&self) -> bool {
        self.status.load(Ordering::Acquire) == EXITED
    }

    /// Marks the process as ending. Must happen before anything that drops a queued
    /// request: a `ReplyTo` dropped on the task of an ending process is kept, and
    /// failed with the exit reason (see `orphan_reply`), rather than closed, which
    /// its caller would take for `NoReply`.
    #[inline]
    pub(crate) fn begin_exit(&self) {
        let _ = self
            .status
            .compare_exchange(RUNNING, EXITING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Ends the process at once, without running terminate (OTP's `exit(Pid, kill)`):
    /// whatever its task is doing (init, a handler, terminate, waiting for a
    /// message) is dropped at its next `.await`, and the task ends as any other
    /// end does, failing the queued calls and publishing the end. (Aborting the
    /// task instead would drop the mailbox at once, and a call sent just then
    /// could land in it after it was emptied, to wait out its timeout.)
    pub(crate) fn kill(&self) {
        self.kill_with(KILLED);
    }

    /// `kill`, as a supervisor's `Shutdown::BrutalKill` stops its child: an
    /// ordinary stop, with no crash report.
    pub(crate) fn kill_on_shutdown(&self) {
        self.kill_with(KILLED | SHUTDOWN_KILL);
    }

    /// Whether the process was killed by `kill_on_shutdown` (and by no `kill`
    /// before it).
    pub(crate) fn killed_on_shutdown(&self) -> bool {
        self.interrupt.load(Ordering::Acquire) & SHUTDOWN_KILL != 0
    }

    fn kill_with(&self, bits: u8) {
        if self.has_exited() {
            return;
        }
        // Killed before: not on shutdown.
        let bits = if self.is_killed() { KILLED } else { bits };
        self.begin_exit();
        let waker = {
            let slot = self.signal_slot();
            self.interrupt.fetch_or(bits, Ordering::Release);
            slot.waker.clone()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Publishes the end of the process. Runs exactly once, from the server task's
    /// end, or from its exit guard if the task is dropped first. In this order:
    ///
    /// 1. the name and table entry are freed, so that a restart can take the name;
    /// 2. monitors get their `Down`, links their exit signal;
    /// 3. the reason is published: replies the process dropped are failed with it,
    ///    and `exited()` resolves.
    ///
    /// So whoever learns of the end (a caller, an `exited()`) learns it after the
    /// `Down` and exit signals are queued, and a message sent to a watcher after
    /// that is handled after its `Down`.
    pub(crate) fn finish(&self, reason: ExitReason) {
        self.finish_start(reason, None);
    }

    /// `finish`, for a process whose init failed: the starter gets `error` once the
    /// end is published (as OTP's init_it, the name is free before the starter
    /// hears of the failure, so that it can retry at once).
    pub(crate) fn finish_start(&self, reason: ExitReason, error: Option<StartError>) {
        self.status.store(EXITED, Ordering::Release);
        #[cfg(feature = "remote")]
        crate::remote::record_end(self.pid, &reason);
        registry::remove(self.pid, self.name());
        let tables = {
            let mut relations = self.relations();
            // From now on, a monitor or link made through a handle that outlived the
            // process gets `NoProc` at once.
            relations.closed = true;
            relations.tables.take()
        };
        if let Some(tables) = tables {
            self.tell_the_end(*tables, &reason);
        }
        let (orphans, waiters, starter) = {
            // Under the lock `orphan_reply` takes: a reply dropped from now on fails
            // at once instead of waiting here for nobody.
            let mut end = self.end();
            end.reason.get_or_insert_with(|| reason.clone());
            if let Some(error) = error {
                end.start = Some(Err(Box::new(error)));
            }
            (
                std::mem::take(&mut end.orphans),
                std::mem::take(&mut end.waiters),
                end.starter.take(),
            )
        };
        for orphan in orphans {
            orphan(self.pid, &reason);
        }
        for (_, waiter) in waiters {
            waiter.wake();
        }
        if let Some(starter) = starter {
            starter.wake();
        }
    }

    /// Sends the `Down`s and exit signals of an ended process, and forgets the
    /// monitors it held.
    fn tell_the_end(&self, tables: Tables, reason: &ExitReason) {
        for (monitor, (_, target)) in tables.watching {
            if let Some(target) = target {
                target.core().remove_watcher(monitor);
            }
        }
        for (monitor, watcher) in tables.watchers {
            let down = Down {
                monitor,
                pid: self.pid,
                reason: reason.clone(),
            };
            watcher.send_sys(Sys::Down(down));
        }
        // The other side forgets the link when it takes the signal, so that an
        // `unlink` in between can still cancel it.
        let mut children = Vec::new();
        for linked in tables.links.into_values().flatten() {
            exit_signal(&*linked, self.pid, reason.clone(), true);
            if linked.core().parent() == Some(self.pid) {
                children.push(linked);
            }
        }
        if !children.is_empty() {
            // Whatever was there (nothing) dropped outside the lock.
            let before = std::mem::replace(&mut self.end().children_at_end, children);
            drop(before);
        }
    }

    /// The exit reason, once the process has ended.
    /// Init returned the state: tells the starter.
    pub(crate) fn started(&self) {
        let starter = {
            let mut end = self.end();
            end.start = Some(Ok(()));
            end.starter.take()
        };
        if let Some(starter) = starter {
            starter.wake();
        }
    }

    pub(crate) fn exit_reason(&self) -> Option<ExitReason> {
        self.end().reason.clone()
    }

    fn end(&self) -> MutexGuard<'_, End> {
        self.end.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Resolves with the exit reason of `process` once it has ended.
pub(crate) fn exited(process: Arc<dyn AnyProcess>) -> Exited {
    Exited {
        process,
        waiting: None,
    }
}

/// Resolves once the init of `process` is over: `Ok` once it returned the state,
/// the start's error otherwise. For the one that started it.
pub(crate) fn started(process: Arc<dyn AnyProcess>) -> Started {
    Started {
        process,
        waiting: false,
    }
}

/// The future of `started`.
pub(crate) struct Started {
    process: Arc<dyn AnyProcess>,
    /// Its waker is in `End::starter`.
    waiting: bool,
}

impl Future for Started {
    type Output = Result<(), StartError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut end = this.process.core().end();
        let started = match end.start.take() {
            Some(start) => start.map_err(|error| *error),
            // The task ended without a word: it was dropped during init (its
            // runtime shut down). A failed or killed init says so itself.
            None => match &end.reason {
                Some(reason) => Err(StartError::Init(reason.clone())),
                None => {
                    if !end
                        .starter
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        end.starter = Some(cx.waker().clone());
                    }
                    this.waiting = true;
                    return Poll::Pending;
                }
            },
        };
        // Whoever told us took the waker.
        this.waiting = false;
        Poll::Ready(started)
    }
}

/// A start given up (its init timed out, or the `Start` was dropped) does not
/// leave its waker, and with it its task's memory, with the process.
impl Drop for Started {
    fn drop(&mut self) {
        if self.waiting {
            let starter = self.process.core().end().starter.take();
            drop(starter);
        }
    }
}

/// The future of `exited`.
pub(crate) struct Exited {
    process: Arc<dyn AnyProcess>,
    /// Its entry among the process's waiters, once it has one.
    waiting: Option<u64>,
}

impl Future for Exited {
    type Output = ExitReason;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<ExitReason> {
        let this = &mut *self;
        // The check and the registration under the lock `finish` takes: an end
        // comes either before the check or after the registration, and wakes us.
        let mut end = this.process.core().end();
        if let Some(reason) = &end.reason {
            let reason = reason.clone();
            drop(end);
            // `finish` took the entry.
            this.waiting = None;
            return Poll::Ready(reason);
        }
        match this.waiting {
            Some(id) => {
                if let Some((_, waker)) = end.waiters.iter_mut().find(|(i, _)| *i == id)
                    && !waker.will_wake(cx.waker())
                {
                    waker.clone_from(cx.waker());
                }
            }
            None => {
                let id = end.next_waiter;
                end.next_waiter += 1;
                end.waiters.push((id, cx.waker().clone()));
                this.waiting = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for Exited {
    fn drop(&mut self) {
        if let Some(id) = self.waiting {
            let waiter = {
                let mut end = self.process.core().end();
                let at = end.waiters.iter().position(|(i, _)| *i == id);
                at.map(|at| end.waiters.swap_remove(at))
            };
            // Outside the lock: a waker's drop may free a task.
            drop(waiter);
        }
    }
}

/// Resolves once `process` and every process it took down with it (its children
/// still linked to it when it ended, and theirs) have ended: a whole tree.
pub(crate) fn tree_exited(
    process: Arc<dyn AnyProcess>,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        exited(process.clone()).await;
        for child in process.core().children_at_end() {
            tree_exited(child).await;
        }
    })
}

/// Sends an exit signal from `from` to `target` (OTP's exit signals): the end of
/// a linked process (`link`), or `gensrv::exit`.
///
/// - `Killed` sent with `gensrv::exit` kills, whatever the target does.
/// - A target that traps exits gets an `Exit` message in mailbox order, except
///   from its parent, whose exit ends it.
/// - Otherwise `Normal` is ignored (from the parent of a trapping server too is
///   not: it ends it), and any other reason ends the target at once, out of band.
/// - A link's signal has no effect if the link was removed meanwhile.
pub(crate) fn exit_signal(target: &dyn AnyProcess, from: Pid, reason: ExitReason, link: bool) {
    #[cfg(feature = "remote")]
    if let Some(proxy) = target.as_proxy() {
        proxy.exit_signal(from, reason, link);
        return;
    }
    let core = target.core();
    if !link && reason == ExitReason::Killed {
        core.kill();
        return;
    }
    let traps = core.traps_exits();
    let from_parent = core.parent() == Some(from);
    if traps && !from_parent {
        target.send_sys(Sys::Exit { from, reason, link });
        return;
    }
    if link && !core.remove_link(from) {
        return;
    }
    if reason == ExitReason::Normal && !(traps && from_parent) && from != core.pid() {
        return;
    }
    core.signal_exit(reason);
}

/// A process of any server type.
pub(crate) trait AnyProcess: Send + Sync + 'static {
    fn core(&self) -> &ProcessCore;
    /// Puts a system message in the mailbox; false if the mailbox is closed.
    fn send_sys(&self, sys: Sys) -> bool;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// The server's type name.
    fn server_type(&self) -> &'static str;
    /// The messages waiting in the mailbox.
    fn mailbox_len(&self) -> usize;

    /// The stand-in of a process on another node, if this is one.
    #[cfg(feature = "remote")]
    fn as_proxy(&self) -> Option<&crate::remote::Proxy> {
        None
    }

    /// Hands a call from another node to this server: its reply to come.
    #[cfg(feature = "remote")]
    fn remote_call(
        self: Arc<Self>,
        fingerprint: u64,
        body: &[u8],
    ) -> Result<crate::remote::RemoteReply, crate::remote::Refusal> {
        let _ = (fingerprint, body);
        Err(crate::remote::Refusal::NoProc)
    }

    /// Hands a cast from another node to this server.
    #[cfg(feature = "remote")]
    fn remote_cast(
        self: Arc<Self>,
        fingerprint: u64,
        body: &[u8],
    ) -> Result<(), crate::remote::Refusal> {
        let _ = (fingerprint, body);
        Err(crate::remote::Refusal::NoProc)
    }
}

/// A server's process: what every process has, and its mailbox, in the one
/// allocation its `Arc` makes.
pub(crate) struct Process<S: GenServer> {
    pub(crate) core: ProcessCore,
    pub(crate) mailbox: Mailbox<S>,
}

impl<S: GenServer> AnyProcess for Process<S> {
    fn core(&self) -> &ProcessCore {
        &self.core
    }

    fn send_sys(&self, sys: Sys) -> bool {
        self.mailbox.send(Envelope::Sys(Box::new(sys))).is_ok()
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn server_type(&self) -> &'static str {
        std::any::type_name::<S>()
    }

    fn mailbox_len(&self) -> usize {
        self.mailbox.len()
    }

    #[cfg(feature = "remote")]
    fn remote_call(
        self: Arc<Self>,
        fingerprint: u64,
        body: &[u8],
    ) -> Result<crate::remote::RemoteReply, crate::remote::Refusal> {
        let vtable = crate::remote::vtable_for::<S>(fingerprint)?;
        (vtable.dispatch_call)(&crate::ServerRef::from_process(self), body)
    }

    #[cfg(feature = "remote")]
    fn remote_cast(
        self: Arc<Self>,
        fingerprint: u64,
        body: &[u8],
    ) -> Result<(), crate::remote::Refusal> {
        let vtable = crate::remote::vtable_for::<S>(fingerprint)?;
        (vtable.dispatch_cast)(&crate::ServerRef::from_process(self), body)
    }
}

tokio::task_local! {
    /// The process whose task is running, if any.
    static CURRENT: Arc<dyn AnyProcess>;
}

/// Runs a server task with itself as the current process.
pub(crate) fn scope<F: Future>(
    process: Arc<dyn AnyProcess>,
    task: F,
) -> tokio::task::futures::TaskLocalFuture<Arc<dyn AnyProcess>, F> {
    CURRENT.scope(process, task)
}

/// The pid of the server whose task is running, if the caller is one.
pub(crate) fn current_pid() -> Option<Pid> {
    CURRENT.try_with(|p| p.core().pid()).ok()
}

/// Marks the current server as ending: a panic unwinds through its handler. Called
/// where the panic is caught, before the handler's future (and any `ReplyTo` in it)
/// is dropped.
pub(crate) fn current_is_panicking() {
    let _ = CURRENT.try_with(|p| p.core().begin_exit());
}

/// Takes a reply dropped unsent. On the task of a server that is ending, the
/// server fails it with its exit reason once that is final: the caller gets
/// `Exited(reason)`. Dropped by a handler of a running server (also while a panic
/// unwinds it), it waits for the handler to return: the caller gets the exit
/// reason if the handler stopped the server or the panic ended it (the loop
/// settles it as stopping then), `NoReply` if the server goes on (a panic that
/// the handler, or `replace_state`, caught). Anywhere else
/// the reply was dropped on purpose, and `fail` is dropped: the caller gets
/// `NoReply`.
///
/// A reply may be dropped on the task of a server other than the one called (a
/// `ReplyTo` handed on): `fail` then reports that server's pid, and the caller,
/// which knows whom it called, takes it for `NoReply`.
pub(crate) fn orphan_reply(fail: impl FnOnce(Pid, &ExitReason) + Send + 'static) {
    let _ = CURRENT.try_with(|p| {
        let core = p.core();
        if core.is_running() {
            // Dropped by a handler, or with a message it took: `NoReply`, unless
            // the handler stops the server (see `settle_dropped_replies`).
            core.end().dropped.push(Box::new(fail));
            core.dropped_replies.store(true, Ordering::Relaxed);
            return;
        }
        let mut end = core.end();
        match &end.reason {
            Some(reason) => {
                let reason = reason.clone();
                drop(end);
                fail(core.pid(), &reason);
            }
            None => end.orphans.push(Box::new(fail)),
        }
    });
}
