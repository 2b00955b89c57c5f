//! [`ChildSpec`]: how a supervisor starts, restarts and stops one child.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::process::AnyProcess;
use crate::{GenServer, Pid, Start, StartError};

/// When a supervisor restarts a child that ended (OTP's restart types).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Restart {
    /// Always (the default).
    #[default]
    Permanent,
    /// Only after an abnormal end: not after `Normal` or `Shutdown`.
    Transient,
    /// Never; its spec is forgotten once it ends.
    Temporary,
}

impl Restart {
    /// Whether a child that ended with `reason` is restarted.
    pub(crate) fn restarts_after(self, reason: &crate::ExitReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => !reason.is_normal(),
            Restart::Temporary => false,
        }
    }
}

/// How a supervisor stops a child (OTP's shutdown values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shutdown {
    /// Asks the child to stop with reason `Shutdown` (its terminate runs), and
    /// kills it if it has not ended after this long. Workers default to 5 s.
    Timeout(Duration),
    /// Kills the child at once; its terminate does not run.
    BrutalKill,
    /// Asks the child to stop and waits as long as it takes: the default for a
    /// child that is itself a supervisor, which first stops its own children.
    Infinity,
}

/// Whether a child is a worker or a supervisor (OTP's child type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildKind {
    /// Any server that is not a supervisor.
    Worker,
    /// A [`Supervisor`](super::Supervisor) or
    /// [`DynamicSupervisor`](super::DynamicSupervisor).
    Supervisor,
}

type StartFuture = Pin<Box<dyn Future<Output = Result<Option<Started>, StartError>> + Send>>;
type StartFn = dyn Fn(Option<String>, Arc<dyn AnyProcess>) -> StartFuture + Send + Sync;

/// A child started by a supervisor: the process, linked to the supervisor.
pub(crate) type Started = Arc<dyn AnyProcess>;

/// How to start one child, and how to treat it when it ends: OTP's child
/// specification.
///
/// Made by the generated `Foo::child_spec(arg)` (`arg` is cloned for every start
/// and restart), or by [`ChildSpec::new`] for a hand-written server; the builder
/// methods set the rest. Every start links the child to its supervisor.
///
/// ```
/// use std::time::Duration;
/// use gensrv::gen_server;
/// use gensrv::supervisor::{ChildSpec, Restart, Shutdown};
///
/// struct Cache;
///
/// #[gen_server]
/// impl Cache {
///     #[init]
///     fn init(capacity: usize) -> Self {
///         let _ = capacity;
///         Cache
///     }
/// }
///
/// let spec: ChildSpec = Cache::child_spec(100)
///     .id("cache")
///     .name("cache")
///     .restart(Restart::Transient)
///     .shutdown(Shutdown::Timeout(Duration::from_secs(1)));
/// assert_eq!(spec.get_id(), "cache");
/// ```
#[derive(Clone)]
pub struct ChildSpec {
    id: String,
    start: Arc<StartFn>,
    restart: Restart,
    shutdown: Shutdown,
    name: Option<String>,
    kind: ChildKind,
}

impl ChildSpec {
    /// A spec that starts an `S` with `arg` (cloned for every start). Its id is the
    /// type's name; it is permanent, and stops with a 5 s timeout (a worker) or
    /// without one (a supervisor), as in OTP.
    pub fn new<S: GenServer>(arg: S::Arg) -> Self
    where
        S::Arg: Clone,
    {
        Self::__new::<S, S::Arg>(arg)
    }

    /// [`new`](ChildSpec::new), with the argument's type as a parameter, so that
    /// the generated `Foo::child_spec` requires `Clone` only where it is used. Not
    /// a public API.
    #[doc(hidden)]
    pub fn __new<S, A>(arg: A) -> Self
    where
        S: GenServer,
        A: crate::__private::Is<S::Arg> + Clone + Send + 'static,
    {
        // Behind a mutex, so that the spec is `Sync` whatever the argument is.
        let arg = Mutex::new(arg);
        let start = move |name: Option<String>, parent: Arc<dyn AnyProcess>| -> StartFuture {
            let arg = arg.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let arg = crate::__private::Is::into_is(arg);
            let mut start = Start::<S>::new(arg).link_to(parent);
            if let Some(name) = name {
                start = start.name(name);
            }
            Box::pin(async move {
                match start.spawn().await {
                    Ok(server) => Ok(Some(server.process().clone() as Started)),
                    // Not a failure: the child is simply not running.
                    Err(StartError::Ignored) => Ok(None),
                    Err(error) => Err(error),
                }
            })
        };
        let kind = if super::is_supervisor::<S>() {
            ChildKind::Supervisor
        } else {
            ChildKind::Worker
        };
        ChildSpec {
            id: short_type_name::<S>().to_string(),
            start: Arc::new(start),
            restart: Restart::Permanent,
            shutdown: match kind {
                ChildKind::Worker => Shutdown::Timeout(Duration::from_secs(5)),
                ChildKind::Supervisor => Shutdown::Infinity,
            },
            name: None,
            kind,
        }
    }

    /// Names the child within its supervisor (unique there); what
    /// `terminate_child`, `restart_child` and `delete_child` take.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// When the child is restarted.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How the child is stopped.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Registers every incarnation of the child under `name`, so that clients find
    /// the current one with `Foo::whereis(name)` across restarts.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The child's id.
    pub fn get_id(&self) -> &str {
        &self.id
    }

    /// When the child is restarted.
    pub fn get_restart(&self) -> Restart {
        self.restart
    }

    /// How the child is stopped.
    pub fn get_shutdown(&self) -> Shutdown {
        self.shutdown
    }

    /// Whether the child is a worker or a supervisor.
    pub fn get_kind(&self) -> ChildKind {
        self.kind
    }

    /// Starts the child linked to `parent`; `None` if its init ignored the start.
    pub(crate) fn start(&self, parent: Arc<dyn AnyProcess>) -> StartFuture {
        (self.start)(self.name.clone(), parent)
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// `Bucket` for `kv::bucket::Bucket<T>`.
fn short_type_name<S>() -> &'static str {
    let name = std::any::type_name::<S>();
    let name = name.split('<').next().unwrap_or(name);
    name.rsplit("::").next().unwrap_or(name)
}

/// What a supervisor reports of one child.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildInfo {
    /// Its id.
    pub id: String,
    /// Its pid, if it runs (`None`: ended, terminated, restarting, or its init
    /// ignored the start).
    pub pid: Option<Pid>,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Its restart type.
    pub restart: Restart,
    /// Whether a restart of it failed and the supervisor is to try again (OTP's
    /// `restarting` in place of the pid); it runs no process meanwhile.
    pub restarting: bool,
}

/// A supervisor's children, counted (OTP's `count_children/1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildCount {
    /// Child specs, running, restarting or not.
    pub specs: usize,
    /// Children running now (not those restarting).
    pub active: usize,
    /// Children (running, restarting or not) that are supervisors.
    pub supervisors: usize,
    /// Children (running, restarting or not) that are workers.
    pub workers: usize,
}

/// Why a supervisor operation on a child failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChildError {
    /// No child has that id (or pid).
    #[error("no such child")]
    NotFound,
    /// The child runs; terminate it first.
    #[error("child is running")]
    Running,
    /// A restart of the child failed and the supervisor is to try again;
    /// terminate it first.
    #[error("child is restarting")]
    Restarting,
    /// A child spec with that id exists, not running.
    #[error("child spec already present")]
    AlreadyPresent,
    /// A child with that id runs already, as this process.
    #[error("child already started as {0}")]
    AlreadyStarted(Pid),
    /// The dynamic supervisor has as many children as it may.
    #[error("too many children")]
    MaxChildren,
    /// The child's start failed.
    #[error("child failed to start: {0}")]
    Start(StartError),
}
