//! [`ChildSpec`]: how a supervisor starts, restarts and stops one child.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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
type StartFn =
    dyn Fn(Option<String>, Option<usize>, Arc<dyn AnyProcess>) -> StartFuture + Send + Sync;

/// A child started by a supervisor: the process, linked to the supervisor.
pub(crate) type Started = Arc<dyn AnyProcess>;

/// The settings both kinds of spec have, and their getters: written once.
macro_rules! settings_methods {
    () => {
        /// Names the child within its supervisor (unique there); what
        /// `terminate_child`, `restart_child` and `delete_child` take.
        pub fn with_id(mut self, id: impl Into<String>) -> Self {
            self.settings.id = id.into();
            self
        }

        /// When the child is restarted.
        pub fn with_restart(mut self, restart: Restart) -> Self {
            self.settings.restart = restart;
            self
        }

        /// How the child is stopped.
        pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
            self.settings.shutdown = shutdown;
            self
        }

        /// Registers every incarnation of the child under `name`, so that clients find
        /// the current one with `Foo::whereis(name)` across restarts.
        pub fn with_name(mut self, name: impl Into<String>) -> Self {
            self.settings.name = Some(name.into());
            self
        }

        /// Bounds the child's mailbox to `capacity` messages, in every incarnation
        /// (see [`Start::mailbox`](crate::Start::mailbox)); unbounded by default.
        ///
        /// # Panics
        ///
        /// If `capacity` is 0.
        pub fn with_mailbox(mut self, capacity: usize) -> Self {
            assert!(capacity > 0, "a bounded mailbox holds at least one message");
            self.settings.mailbox = Some(capacity);
            self
        }

        /// The bound of the child's mailbox, if it has one.
        pub fn mailbox(&self) -> Option<usize> {
            self.settings.mailbox
        }

        /// The child's id within its supervisor.
        pub fn id(&self) -> &str {
            &self.settings.id
        }

        /// When the child is restarted.
        pub fn restart(&self) -> Restart {
            self.settings.restart
        }

        /// How the child is stopped.
        pub fn shutdown(&self) -> Shutdown {
            self.settings.shutdown
        }

        /// The name each incarnation of the child is registered under, if any.
        pub fn name(&self) -> Option<&str> {
            self.settings.name.as_deref()
        }

        /// Whether the child is a worker or a supervisor.
        pub fn kind(&self) -> ChildKind {
            self.settings.kind
        }
    };
}

/// How to start one child, and how to treat it when it ends: OTP's child
/// specification.
///
/// Made from the generated `Foo::child_spec(arg)` (a [`TypedChildSpec`], which
/// converts into a `ChildSpec`), or by [`ChildSpec::new`] for a hand-written
/// server; `arg` is cloned for every start and restart. The `with_` methods set
/// the rest, and the getters of the same names without `with_` read them. Every
/// start links the child to its supervisor.
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
///     .with_shutdown(Shutdown::Timeout(Duration::from_secs(1)))
///     .into();
/// assert_eq!(spec.id(), "lru");
/// assert_eq!(spec.name(), Some("cache"));
/// assert_eq!(spec.restart(), Restart::Transient);
/// assert_eq!(spec.shutdown(), Shutdown::Timeout(Duration::from_secs(1)));
/// assert_eq!(spec.kind(), ChildKind::Worker);
/// ```
#[derive(Clone)]
pub struct ChildSpec {
    settings: Settings,
    start: Arc<StartFn>,
}

/// What a spec says besides how to start the child.
#[derive(Clone, Debug)]
struct Settings {
    id: String,
    restart: Restart,
    shutdown: Shutdown,
    name: Option<String>,
    kind: ChildKind,
    mailbox: Option<usize>,
}

impl Settings {
    /// OTP's defaults: the type's name as the id; permanent; a 5 s shutdown
    /// timeout for a worker, none for a supervisor.
    fn of<S: GenServer>() -> Self {
        let kind = if super::is_supervisor::<S>() {
            ChildKind::Supervisor
        } else {
            ChildKind::Worker
        };
        Settings {
            id: short_type_name::<S>().to_string(),
            restart: Restart::Permanent,
            shutdown: match kind {
                ChildKind::Worker => Shutdown::Timeout(Duration::from_secs(5)),
                ChildKind::Supervisor => Shutdown::Infinity,
            },
            name: None,
            kind,
            mailbox: None,
        }
    }
}

impl ChildSpec {
    /// A spec that starts an `S` with `arg` (cloned for every start), for a
    /// hand-written server: what the generated `Foo::child_spec(arg)` converts
    /// into. Its id is the type's name; it is permanent, and stops with a 5 s
    /// timeout (a worker) or without one (a supervisor), as in OTP. For a spec
    /// that gives `start_child` the child's handle rather than its pid, see
    /// [`TypedChildSpec::new`].
    pub fn new<S: GenServer>(arg: S::Arg) -> Self
    where
        S::Arg: Clone,
    {
        TypedChildSpec::<S>::new(arg).into()
    }

    fn build<S: GenServer>(arg: S::Arg, settings: Settings) -> Self
    where
        S::Arg: Clone,
    {
        // Behind a mutex, so that the spec is `Sync` whatever the argument is.
        let arg = Mutex::new(arg);
        let start = move |name: Option<String>,
                          mailbox: Option<usize>,
                          parent: Arc<dyn AnyProcess>|
              -> StartFuture {
            let arg = arg.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let mut start = Start::<S>::new(arg).link_to(parent);
            if let Some(name) = name {
                start = start.name(name);
            }
            if let Some(capacity) = mailbox {
                start = start.mailbox(capacity);
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
        ChildSpec {
            settings,
            start: Arc::new(start),
        }
    }

    settings_methods!();

    /// Starts the child linked to `parent`; `None` if its init ignored the start.
    pub(crate) fn start(&self, parent: Arc<dyn AnyProcess>) -> StartFuture {
        (self.start)(self.settings.name.clone(), self.settings.mailbox, parent)
    }
}

/// A child spec that knows its server's type, `S`: a supervisor's `start_child`
/// answers with the child's typed handle (`S::Ref`, e.g. `FooRef`) instead of
/// its pid. What the generated `Foo::child_spec(arg)` gives; [`new`] makes one
/// for a hand-written server.
///
/// It has the `with_` methods and getters of a [`ChildSpec`], and converts into
/// one (which [`Supervisor::child`](super::Supervisor::child) takes). It holds
/// the start argument, which every start and restart of the child gets a clone
/// of: a supervisor takes the spec only if `S::Arg` is `Clone`.
///
/// [`new`]: TypedChildSpec::new
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use gensrv::gen_server;
/// use gensrv::supervisor::{DynamicSupervisor, Restart};
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
/// let spec = Conn::child_spec(Conn).with_restart(Restart::Temporary);
/// let conn: ConnRef = sup.start_child(spec).await.unwrap().unwrap();
/// assert_eq!(conn.ping().await, Ok("pong"));
/// # }
/// ```
pub struct TypedChildSpec<S: GenServer> {
    arg: S::Arg,
    settings: Settings,
}

impl<S: GenServer> TypedChildSpec<S> {
    /// A spec that starts an `S` with `arg`, for a hand-written server: what the
    /// generated `Foo::child_spec(arg)` gives, with the defaults of
    /// [`ChildSpec::new`].
    pub fn new(arg: S::Arg) -> Self {
        TypedChildSpec {
            arg,
            settings: Settings::of::<S>(),
        }
    }

    settings_methods!();
}

impl<S: GenServer> Clone for TypedChildSpec<S>
where
    S::Arg: Clone,
{
    fn clone(&self) -> Self {
        TypedChildSpec {
            arg: self.arg.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<S: GenServer> From<TypedChildSpec<S>> for ChildSpec
where
    S::Arg: Clone,
{
    fn from(typed: TypedChildSpec<S>) -> Self {
        ChildSpec::build::<S>(typed.arg, typed.settings)
    }
}

impl<S: GenServer> fmt::Debug for TypedChildSpec<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TypedChildSpec")
            .field(&DebugSettings(&self.settings))
            .finish()
    }
}

/// What a supervisor's `start_child` takes, and what it answers with for the
/// started child: a [`ChildSpec`] gives the child's [`Pid`], a
/// [`TypedChildSpec<S>`] its typed handle, `S::Ref`. Sealed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a child spec a supervisor can start",
    label = "not a `ChildSpec` nor a `TypedChildSpec`",
    note = "make one with `Foo::child_spec(arg)`, `ChildSpec::new` or `TypedChildSpec::new`"
)]
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

impl<S: GenServer> StartChild for TypedChildSpec<S>
where
    S::Arg: Clone,
{
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
    impl<S: crate::GenServer> Sealed for super::TypedChildSpec<S> {}
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DebugSettings(&self.settings).fmt(f)
    }
}

/// A spec's settings, shown as a `ChildSpec`.
struct DebugSettings<'a>(&'a Settings);

impl fmt::Debug for DebugSettings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Settings {
            id,
            restart,
            shutdown,
            name,
            kind,
            mailbox,
        } = self.0;
        f.debug_struct("ChildSpec")
            .field("id", id)
            .field("restart", restart)
            .field("shutdown", shutdown)
            .field("name", name)
            .field("kind", kind)
            .field("mailbox", mailbox)
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
