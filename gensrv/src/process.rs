//! The untyped side of a running server: what every process has whatever its type.
//!
//! A `Process<S>` is shared (`Arc`) by the server task, every `ServerRef<S>` and the
//! process table; `dyn AnyProcess` is how untyped code (the table, `Stop`, links,
//! supervisors) reaches it.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;

use crate::mailbox::{Envelope, Sys};
use crate::{Down, ExitReason, GenServer, MonitorRef, Pid, registry};

const RUNNING: u8 = 0;
/// Ending: terminate may be running, the mailbox no longer takes messages.
const EXITING: u8 = 1;
const EXITED: u8 = 2;

pub(crate) struct ProcessCore {
    pid: Pid,
    name: Option<Box<str>>,
    /// The process that started this one linked to it (OTP's parent): its exit
    /// ends this one even when it traps exits.
    parent: Option<Pid>,
    relations: Mutex<Relations>,
    status: AtomicU8,
    /// `kill` was called: the loop handles no further message.
    killed: AtomicBool,
    exit_reason: OnceLock<ExitReason>,
    exit_notify: Notify,
    abort: Mutex<AbortSlot>,
    /// Replies dropped unsent while the process was ending, to be failed with the
    /// exit reason once it is final.
    orphans: Mutex<Vec<Orphan>>,
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
pub(crate) type Orphan = Box<dyn FnOnce(&ExitReason) + Send>;

impl ProcessCore {
    pub(crate) fn new(pid: Pid, name: Option<String>, parent: Option<Pid>) -> Self {
        ProcessCore {
            pid,
            name: name.map(String::into_boxed_str),
            parent,
            relations: Mutex::default(),
            status: AtomicU8::new(RUNNING),
            killed: AtomicBool::new(false),
            exit_reason: OnceLock::new(),
            exit_notify: Notify::new(),
            abort: Mutex::new(AbortSlot::NotYet),
            orphans: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

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
    pub(crate) fn is_running(&self) -> bool {
        self.status.load(Ordering::Acquire) == RUNNING
    }

    /// Whether `kill` was called.
    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.status.load(Ordering::Acquire) == EXITED
    }

    /// Marks the process as ending. Must happen before anything that drops a queued
    /// request: a `ReplyTo` dropped on the task of an ending process is kept, and
    /// failed with the exit reason (see `orphan_reply`), rather than closed, which
    /// its caller would take for `NoReply`.
    pub(crate) fn begin_exit(&self) {
        let _ = self
            .status
            .compare_exchange(RUNNING, EXITING, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn set_abort(&self, handle: AbortHandle) {
        let mut slot = self.abort.lock().unwrap_or_else(PoisonError::into_inner);
        if let AbortSlot::KillPending = *slot {
            handle.abort();
        }
        *slot = AbortSlot::Handle(handle);
    }

    /// Ends the process at once, without running terminate (OTP's `exit(Pid, kill)`).
    pub(crate) fn kill(&self) {
        if self.has_exited() {
            return;
        }
        self.killed.store(true, Ordering::Release);
        self.begin_exit();
        let mut slot = self.abort.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            AbortSlot::Handle(handle) => handle.abort(),
            // Only a server killing itself from `init` gets here before `set_abort`.
            AbortSlot::NotYet | AbortSlot::KillPending => *slot = AbortSlot::KillPending,
        }
    }

    /// Publishes the end of the process. Runs exactly once, from the server task's
    /// exit guard (also when the task is aborted). In this order:
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
        self.status.store(EXITED, Ordering::Release);
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
        let orphans = {
            // Under the lock `orphan_reply` takes: a reply dropped from now on fails
            // at once instead of waiting here for nobody.
            let mut orphans = self.orphans.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = self.exit_reason.set(reason.clone());
            std::mem::take(&mut *orphans)
        };
        for orphan in orphans {
            orphan(&reason);
        }
        self.exit_notify.notify_waiters();
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
        for linked in tables.links.into_values().flatten() {
            linked.send_sys(Sys::Exit {
                from: self.pid,
                reason: reason.clone(),
            });
        }
    }

    /// The exit reason, once the process has ended.
    pub(crate) fn exit_reason(&self) -> Option<ExitReason> {
        self.exit_reason.get().cloned()
    }
}

/// Resolves with the exit reason of `process` once it has ended.
pub(crate) async fn exited(process: Arc<dyn AnyProcess>) -> ExitReason {
    let core = process.core();
    loop {
        let notified = core.exit_notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so that an exit in between still wakes us.
        notified.as_mut().enable();
        if let Some(reason) = core.exit_reason.get() {
            return reason.clone();
        }
        notified.await;
    }
}

/// How to abort the server task; the task is spawned after the process exists.
enum AbortSlot {
    NotYet,
    KillPending,
    Handle(AbortHandle),
}

/// A process of any server type.
pub(crate) trait AnyProcess: Send + Sync + 'static {
    fn core(&self) -> &ProcessCore;
    /// Puts a system message in the mailbox; false if the mailbox is closed.
    fn send_sys(&self, sys: Sys) -> bool;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

pub(crate) struct Process<S: GenServer> {
    pub(crate) core: ProcessCore,
    pub(crate) mailbox: mpsc::UnboundedSender<Envelope<S>>,
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

/// Takes a reply dropped unsent. On the task of a server that is ending (or
/// panicking, which will end it), the server fails it with its exit reason once
/// that is final: the caller gets `Exited(reason)`. Anywhere else the reply was
/// dropped on purpose, and `fail` is dropped: the caller gets `NoReply`.
pub(crate) fn orphan_reply(fail: impl FnOnce(&ExitReason) + Send + 'static) {
    let _ = CURRENT.try_with(|p| {
        let core = p.core();
        if std::thread::panicking() {
            core.begin_exit();
        }
        if core.is_running() {
            return;
        }
        let mut orphans = core.orphans.lock().unwrap_or_else(PoisonError::into_inner);
        match core.exit_reason.get() {
            Some(reason) => {
                let reason = reason.clone();
                drop(orphans);
                fail(&reason);
            }
            None => orphans.push(Box::new(fail)),
        }
    });
}
