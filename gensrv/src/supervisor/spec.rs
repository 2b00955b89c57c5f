//! [`ChildSpec`]: how a supervisor starts, restarts and stops one child.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use std::marker::PhantomData;

use crate::pid::ProcessHandle;
use crate::process::{AnyProcess, Process};
use crate::{GenServer, Pid, ServerRef, Start, StartError};

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
/// and restart), by [`ChildSpec::new`] for a hand-written server, or by
/// [`ChildSpec::typed`], which also tells `start_child` the child's handle type;
/// the `with_` methods set the rest, and the getters of the same names without
/// `with_` read them. Every start links the child to its supervisor.
///
/// ```
/// use std::time::Duration;
/// use gensrv::gen_server;
/// use gensrv::supervisor::{ChildKind, ChildSpec, Restart, Shutdown};
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
///     .with_id("lru")
///     .with_name("cache")
///     .with_restart(Restart::Transient)
///     .with_shutdown(Shutdown::Timeout(Duration::from_secs(1)));
/// assert_eq!(spec.id(), "lru");
/// assert_eq!(spec.name(), Some("cache"));
/// assert_eq!(spec.restart(), Restart::Transient);
/// assert_eq!(spec.shutdown(), Shutdown::Timeout(Duration::from_secs(1)));
/// assert_eq!(spec.kind(), ChildKind::Worker);
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
    /// A spec that starts an `S` with `arg` (cloned for every start): what the
    /// generated `Foo::child_spec(arg)` gives, for a hand-written server. Its id
    /// is the type's name; it is permanent, and stops with a 5 s timeout (a
    /// worker) or without one (a supervisor), as in OTP.
    pub fn new<S: GenServer>(arg: S::Arg) -> Self
    where
        S::Arg: Clone,
    {
        Self::build::<S, S::Arg>(arg)
    }

    /// [`new`](ChildSpec::new), typed: a supervisor's `start_child` gives the
    /// child's handle (`S::Ref`, e.g. `FooRef`) rather than its pid. See
    /// [`TypedChildSpec`].
    pub fn typed<S: GenServer>(arg: S::Arg) -> TypedChildSpec<S>
    where
        S::Arg: Clone,
    {
        TypedChildSpec {
            spec: Self::new::<S>(arg),
            server: PhantomData,
        }
    }

    /// What the generated `Foo::child_spec` starts from, with the argument's type
    /// as a parameter, so that it requires `Clone` only where it is used. Not a
    /// public API.
    #[doc(hidden)]
    pub fn __new<S, A>(arg: A) -> __UnnamedChildSpec
    where
        S: GenServer,
        A: crate::__private::Is<S::Arg> + Clone + Send + 'static,
    {
        __UnnamedChildSpec(Self::build::<S, A>(arg))
    }

    fn build<S, A>(arg: A) -> Self
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
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// When the child is restarted.
    pub fn with_restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How the child is stopped.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Registers every incarnation of the child under `name`, so that clients find
    /// the current one with `Foo::whereis(name)` across restarts.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The child's id within its supervisor.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the child is restarted.
    pub fn restart(&self) -> Restart {
        self.restart
    }

    /// How the child is stopped.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown
    }

    /// The name each incarnation of the child is registered under, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the child is a worker or a supervisor.
    pub fn kind(&self) -> ChildKind {
        self.kind
    }

    /// Starts the child linked to `parent`; `None` if its init ignored the start.
    pub(crate) fn start(&self, parent: Arc<dyn AnyProcess>) -> StartFuture {
        (self.start)(self.name.clone(), parent)
    }
}

/// The spec the generated `Foo::child_spec` makes before it sets the id. Not a
/// public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct __UnnamedChildSpec(ChildSpec);

impl __UnnamedChildSpec {
    /// The spec, with its id.
    pub fn id(self, id: impl Into<String>) -> ChildSpec {
        self.0.with_id(id)
    }
}

/// A [`ChildSpec`] that knows its server's type, `S`: a supervisor's
/// `start_child` answers with the child's typed handle (`S::Ref`, e.g. `FooRef`)
/// instead of its pid. Made by [`ChildSpec::typed`]; it converts into a
/// `ChildSpec` (which [`Supervisor::child`](super::Supervisor::child) takes), and
/// derefs to one for the getters.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use gensrv::gen_server;
/// use gensrv::supervisor::{ChildSpec, DynamicSupervisor, Restart};
///
/// #[derive(Clone)]
/// struct Conn;
///
/// #[gen_server]
/// impl Conn {
///     #[call]
///     fn ping(&self) -> &'static str {
///         "pong"
///     }
/// }
///
/// let sup = DynamicSupervisor::start(DynamicSupervisor::new()).await.unwrap();
/// let spec = ChildSpec::typed::<Conn>(Conn).with_restart(Restart::Temporary);
/// let conn: ConnRef = sup.start_child(spec).await.unwrap().unwrap();
/// assert_eq!(conn.ping().await, Ok("pong"));
/// # }
/// ```
pub struct TypedChildSpec<S> {
    spec: ChildSpec,
    server: PhantomData<fn() -> S>,
}

impl<S: GenServer> TypedChildSpec<S> {
    /// See [`ChildSpec::with_id`].
    pub fn with_id(self, id: impl Into<String>) -> Self {
        self.map(|spec| spec.with_id(id))
    }

    /// See [`ChildSpec::with_restart`].
    pub fn with_restart(self, restart: Restart) -> Self {
        self.map(|spec| spec.with_restart(restart))
    }

    /// See [`ChildSpec::with_shutdown`].
    pub fn with_shutdown(self, shutdown: Shutdown) -> Self {
        self.map(|spec| spec.with_shutdown(shutdown))
    }

    /// See [`ChildSpec::with_name`].
    pub fn with_name(self, name: impl Into<String>) -> Self {
        self.map(|spec| spec.with_name(name))
    }

    fn map(self, f: impl FnOnce(ChildSpec) -> ChildSpec) -> Self {
        TypedChildSpec {
            spec: f(self.spec),
            server: PhantomData,
        }
    }
}

impl<S> Clone for TypedChildSpec<S> {
    fn clone(&self) -> Self {
        TypedChildSpec {
            spec: self.spec.clone(),
            server: PhantomData,
        }
    }
}

impl<S> std::ops::Deref for TypedChildSpec<S> {
    type Target = ChildSpec;

    fn deref(&self) -> &ChildSpec {
        &self.spec
    }
}

impl<S> From<TypedChildSpec<S>> for ChildSpec {
    fn from(typed: TypedChildSpec<S>) -> Self {
        typed.spec
    }
}

impl<S> fmt::Debug for TypedChildSpec<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TypedChildSpec").field(&self.spec).finish()
    }
}

/// What a supervisor's `start_child` takes, and what it answers with for the
/// started child: a [`ChildSpec`] gives the child's [`Pid`], a
/// [`TypedChildSpec<S>`] its typed handle, `S::Ref`. Sealed.
pub trait StartChild: Into<ChildSpec> + sealed::Sealed {
    /// The started child, as the caller gets it.
    type Handle: Send + 'static;

    /// The handle of the process just started. Not a public API.
    #[doc(hidden)]
    fn __handle(child: ProcessHandle) -> Self::Handle;
}

impl StartChild for ChildSpec {
    type Handle = Pid;

    fn __handle(child: ProcessHandle) -> Pid {
        child.0.core().pid()
    }
}

impl<S: GenServer> StartChild for TypedChildSpec<S> {
    type Handle = S::Ref;

    fn __handle(child: ProcessHandle) -> S::Ref {
        let process = child
            .0
            .into_any()
            .downcast::<Process<S>>()
            .unwrap_or_else(|_| unreachable!("a typed spec starts a server of its type"));
        S::Ref::from(ServerRef::from_process(process))
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::ChildSpec {}
    impl<S> Sealed for super::TypedChildSpec<S> {}
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
    /// The name each of its incarnations is registered under, if any.
    pub name: Option<String>,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Its restart type.
    pub restart: Restart,
    /// How it is stopped.
    pub shutdown: Shutdown,
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
