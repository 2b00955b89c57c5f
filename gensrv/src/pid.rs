//! Process identifiers.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The untyped identifier of a server process, unique for the life of the program.
///
/// Every server gets a fresh `Pid` when it starts; a `Pid` is never reused, so a
/// restarted server has a new one. It prints like Erlang's: `<0.42>`, where `0`
/// is this node; with the `remote` feature, a pid of a server on another node
/// prints that node's number here (`<3.42>`, as Erlang numbers the nodes it
/// knows), and `node()` names the node.
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

/// The low bits of a pid are its number on its node; the high ones its node's
/// slot in this process's table of nodes (0: this node).
const INDEX_BITS: u32 = 48;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

impl Pid {
    /// Where an exit signal sent from outside any server (with
    /// [`gensrv::exit`](crate::exit())) comes from: `<0.0>`, never a server's pid.
    pub const EXTERNAL: Pid = Pid(0);

    /// Its number on its node, unique there for the life of the program.
    pub(crate) fn index(self) -> u64 {
        self.0 & INDEX_MASK
    }

    /// Its node's slot: 0 for this node.
    pub(crate) fn slot(self) -> u16 {
        (self.0 >> INDEX_BITS) as u16
    }

    /// The pid numbered `index` on the node in `slot`.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn from_parts(slot: u16, index: u64) -> Pid {
        Pid((u64::from(slot) << INDEX_BITS) | (index & INDEX_MASK))
    }

    /// Whether the process runs in this OS process (always, without the
    /// `remote` feature).
    pub fn is_local(self) -> bool {
        self.slot() == 0
    }

    /// The node the process runs on; `None` for this one (feature `remote`).
    #[cfg(feature = "remote")]
    pub fn node(self) -> Option<crate::remote::NodeId> {
        crate::remote::node_of(self)
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
        write!(f, "<{}.{}>", self.slot(), self.index())
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
        #[cfg(feature = "remote")]
        if !self.is_local() {
            return crate::remote::proxy_of(*self).map(ProcessHandle);
        }
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
