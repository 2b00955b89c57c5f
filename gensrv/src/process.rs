//! The untyped side of a running server: what every process has whatever its type.
//!
//! A `Process<S>` is shared (`Arc`) by the server task, every `ServerRef<S>` and the
//! process table; `dyn AnyProcess` is how untyped code (the table, `Stop`, links,
//! supervisors) reaches it.

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use crate::mailbox::{Envelope, Sys};
use crate::{ExitReason, GenServer, Pid, registry};

const RUNNING: u8 = 0;
/// Ending: terminate may be running, the mailbox no longer takes messages.
const EXITING: u8 = 1;
const EXITED: u8 = 2;

pub(crate) struct ProcessCore {
    pid: Pid,
    name: Option<Box<str>>,
    status: AtomicU8,
    exit: watch::Sender<Option<ExitReason>>,
    abort: Mutex<AbortSlot>,
}

impl ProcessCore {
    pub(crate) fn new(pid: Pid, name: Option<String>) -> Self {
        ProcessCore {
            pid,
            name: name.map(String::into_boxed_str),
            status: AtomicU8::new(RUNNING),
            exit: watch::Sender::new(None),
            abort: Mutex::new(AbortSlot::NotYet),
        }
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Alive as OTP's `is_process_alive/1` means it: not ending and not ended.
    pub(crate) fn is_running(&self) -> bool {
        self.status.load(Ordering::Acquire) == RUNNING
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.status.load(Ordering::Acquire) == EXITED
    }

    /// Marks the process as ending. Must happen before anything that drops a queued
    /// request, so that a caller whose reply channel closes knows to wait for the
    /// exit reason instead of reporting `NoReply`.
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
        self.begin_exit();
        let mut slot = self.abort.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            AbortSlot::Handle(handle) => handle.abort(),
            // Only a server killing itself from `init` gets here before `set_abort`.
            AbortSlot::NotYet | AbortSlot::KillPending => *slot = AbortSlot::KillPending,
        }
    }

    /// Publishes the end of the process: frees its name and table entry, then wakes
    /// everything waiting for its exit. Runs exactly once, from the server task's
    /// exit guard (also when the task is aborted).
    pub(crate) fn finish(&self, reason: ExitReason) {
        self.status.store(EXITED, Ordering::Release);
        registry::remove(self.pid, self.name());
        self.exit.send_replace(Some(reason));
    }

    /// The exit reason, once the process has ended.
    pub(crate) fn exit_reason(&self) -> Option<ExitReason> {
        self.exit.borrow().clone()
    }

    /// Resolves with the exit reason once the process has ended.
    pub(crate) fn exited(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        let mut rx = self.exit.subscribe();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(reason) => reason.clone().unwrap_or(ExitReason::NoProc),
                // The sender lives as long as the process; gone means long gone.
                Err(_) => ExitReason::NoProc,
            }
        }
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
        self.mailbox.send(Envelope::Sys(sys)).is_ok()
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

/// Called when a panic unwinds through a server's handler (from the drop of a
/// `ReplyTo` on the unwinding stack, and where the panic is caught): the server is
/// going down, and callers whose replies are being dropped must learn it before
/// the server gets to record its exit.
pub(crate) fn current_is_panicking() {
    let _ = CURRENT.try_with(|p| p.core().begin_exit());
}
