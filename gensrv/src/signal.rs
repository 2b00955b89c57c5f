//! The runtime's own info messages, and the references that name monitors and
//! timers.
//!
//! An `#[info]` handler taking one of these message types receives it; a server
//! without such a handler has it logged (at debug level) and dropped.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv::{gen_server, Context, Down, ExitReason, MonitorRef, Pid};
//!
//! /// Watches other servers and remembers how they ended.
//! #[derive(Default)]
//! struct Watcher {
//!     ended: Vec<(Pid, ExitReason)>,
//! }
//!
//! #[gen_server]
//! impl Watcher {
//!     #[call]
//!     fn watch(&mut self, pid: Pid, ctx: &mut Context<Self>) -> MonitorRef {
//!         ctx.monitor(&pid)
//!     }
//!
//!     #[info]
//!     fn down(&mut self, down: Down) {
//!         self.ended.push((down.pid, down.reason));
//!     }
//!
//!     #[call]
//!     fn ended(&self) -> Vec<(Pid, ExitReason)> {
//!         self.ended.clone()
//!     }
//! }
//!
//! struct Worker;
//!
//! #[gen_server]
//! impl Worker {}
//!
//! let watcher = Watcher::start(Watcher::default()).await.unwrap();
//! let worker = Worker::start(Worker).await.unwrap();
//! watcher.watch(worker.pid()).await.unwrap();
//! worker.stop().reason(ExitReason::Shutdown).await.unwrap();
//! assert_eq!(watcher.ended().await.unwrap(), vec![(worker.pid(), ExitReason::Shutdown)]);
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{ExitReason, Pid};

/// The idle timeout set with [`Context::set_timeout`](crate::Context::set_timeout)
/// elapsed with no message arriving (OTP's `timeout` info message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timeout;

/// A monitored process ended (OTP's `{'DOWN', Ref, process, Pid, Reason}`).
///
/// Sent once per monitor set with [`Context::monitor`](crate::Context::monitor),
/// unless the monitor is removed first with
/// [`Context::demonitor`](crate::Context::demonitor).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Down {
    /// The monitor, as `monitor` returned it.
    pub monitor: MonitorRef,
    /// The process that ended.
    pub pid: Pid,
    /// Why it ended; `NoProc` if it had ended before the monitor was set.
    pub reason: ExitReason,
}

/// A linked process ended, and this server traps exits (OTP's
/// `{'EXIT', Pid, Reason}`); see [`Context::trap_exit`](crate::Context::trap_exit).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Exit {
    /// The linked process.
    pub pid: Pid,
    /// Why it ended.
    pub reason: ExitReason,
}

static NEXT_REF: AtomicU64 = AtomicU64::new(1);

fn next_ref() -> u64 {
    NEXT_REF.fetch_add(1, Ordering::Relaxed)
}

/// Names one monitor: what [`Context::monitor`](crate::Context::monitor) returns,
/// and what the resulting [`Down`] carries. Unique for the life of the program.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MonitorRef(u64);

impl MonitorRef {
    pub(crate) fn next() -> Self {
        MonitorRef(next_ref())
    }
}

impl fmt::Debug for MonitorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<monitor.{}>", self.0)
    }
}

/// Names one timer: what [`Context::send_after`](crate::Context::send_after) and
/// [`Context::send_interval`](crate::Context::send_interval) return, to cancel it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerRef(u64);

impl TimerRef {
    pub(crate) fn next() -> Self {
        TimerRef(next_ref())
    }
}

impl fmt::Debug for TimerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<timer.{}>", self.0)
    }
}
