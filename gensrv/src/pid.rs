//! Process identifiers.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The untyped identifier of a server process, unique for the life of the program.
///
/// Every server gets a fresh `Pid` when it starts; a `Pid` is never reused, so a
/// restarted server has a new one. It prints like Erlang's: `<0.42>`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use gensrv::{gen_server, Pid};
///
/// struct Echo;
///
/// #[gen_server]
/// impl Echo {
///     #[call]
///     fn echo(&self, text: String) -> String {
///         text
///     }
/// }
///
/// let a = Echo::start(Echo).await.unwrap();
/// let b = Echo::start(Echo).await.unwrap();
/// let (pa, pb): (Pid, Pid) = (a.pid(), b.pid());
/// assert_ne!(pa, pb);
/// assert!(pa.to_string().starts_with("<0."));
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(u64);

impl Pid {
    /// Where an exit signal sent from outside any server (with
    /// [`gensrv::exit`](crate::exit())) comes from: `<0.0>`, never a server's pid.
    pub const EXTERNAL: Pid = Pid(0);

    /// Its number, unique for the life of the program.
    pub(crate) fn index(self) -> u64 {
        self.0
    }

    pub(crate) fn next() -> Pid {
        // Starts above the handful of pids an Erlang node gives its system processes,
        // only so that printed pids look familiar.
        static NEXT: AtomicU64 = AtomicU64::new(64);
        Pid(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<0.{}>", self.0)
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Anything that names a process: a [`Pid`], a [`ServerRef`](crate::ServerRef), or a
/// generated handle (`FooRef`). What [`Context::monitor`](crate::Context::monitor)
/// and [`Context::link`](crate::Context::link) take.
pub trait AsProcess {
    /// The process's pid.
    fn as_pid(&self) -> Pid;

    /// The running process, if it still runs. Not a public API.
    #[doc(hidden)]
    fn __process(&self) -> Option<ProcessHandle>;
}

/// A running process of any type. Not a public API.
#[doc(hidden)]
#[derive(Clone)]
pub struct ProcessHandle(pub(crate) std::sync::Arc<dyn crate::process::AnyProcess>);

impl fmt::Debug for ProcessHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.core().pid(), f)
    }
}

impl AsProcess for Pid {
    fn as_pid(&self) -> Pid {
        *self
    }

    fn __process(&self) -> Option<ProcessHandle> {
        crate::registry::by_pid(*self).map(ProcessHandle)
    }
}

impl<P: AsProcess + ?Sized> AsProcess for &P {
    fn as_pid(&self) -> Pid {
        (**self).as_pid()
    }

    fn __process(&self) -> Option<ProcessHandle> {
        (**self).__process()
    }
}
