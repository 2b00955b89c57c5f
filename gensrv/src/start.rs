//! [`Start`]: starting a server.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::mailbox::Mailbox;
use crate::process::{self, AnyProcess, Process, ProcessCore};
use crate::{Context, GenServer, Pid, ServerRef, StartError, registry, worker};

/// A server about to start: set options, then await it for the client handle.
///
/// Made by the generated `Foo::start(arg)` (or `Start::new(arg)` for a hand-written
/// server). Awaiting it spawns the server task on the current tokio runtime and
/// returns once `init` has finished, as OTP's `gen_server:start` does:
///
/// - `Ok(handle)` once init returned the state;
/// - [`StartError::AlreadyStarted`] if the name is taken (init does not run);
/// - [`StartError::Init`] if init failed or panicked, [`StartError::Ignored`] if it
///   returned `Init::Ignore`: in both cases the name is free again already;
/// - [`StartError::Timeout`] if init took longer than the `init_timeout` (none by
///   default, as in OTP); the server is killed, and has ended when this returns
///   (OTP's `proc_lib:sync_start`), so whatever its init held is free again.
/// - [`StartError::Init`] with an [`ExitReason::Error`](crate::ExitReason::Error)
///   if it is awaited outside a tokio runtime; nothing is registered then.
///
/// With [`link`](Start::link), the new server is linked to the one starting it
/// before its init runs (OTP's `start_link`), so that it cannot end unnoticed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use gensrv::{gen_server, StartError};
///
/// struct Db;
///
/// #[gen_server]
/// impl Db {
///     #[init]
///     async fn init(url: String) -> Result<Self, String> {
///         if url.starts_with("db://") { Ok(Db) } else { Err(format!("bad url {url}")) }
///     }
/// }
///
/// let db = Db::start("db://local".into())
///     .name("db")
///     .init_timeout(Duration::from_secs(1))
///     .await
///     .unwrap();
/// let again = Db::start("db://local".into()).name("db").await;
/// assert_eq!(again.unwrap_err(), StartError::AlreadyStarted(db.pid()));
/// assert!(matches!(Db::start("http://".into()).await, Err(StartError::Init(_))));
/// # }
/// ```
#[must_use = "a server starts only when the Start is awaited"]
pub struct Start<S: GenServer> {
    arg: S::Arg,
    name: Option<String>,
    init_timeout: Option<Duration>,
    mailbox: Option<usize>,
    parent: Option<Arc<dyn AnyProcess>>,
}

impl<S: GenServer> Start<S> {
    /// A start of `S` with `arg` for its init.
    pub fn new(arg: S::Arg) -> Self {
        Start {
            arg,
            name: None,
            init_timeout: None,
            mailbox: None,
            parent: None,
        }
    }

    /// Registers the server under `name` for as long as it runs (OTP's
    /// `{local, Name}`; see [`whereis`](crate::whereis)). Names are process-wide:
    /// a taken one fails the start with [`StartError::AlreadyStarted`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Bounds the server's mailbox to `capacity` messages (unbounded by default).
    ///
    /// - A cast or info message to a full mailbox fails at once with
    ///   [`CastError::Full`](crate::CastError::Full): never blocks, never dropped
    ///   silently.
    /// - A call to a full mailbox waits for room, within its own timeout: its
    ///   request is sent at once all the same, into a line that the server moves
    ///   into its mailbox as room comes, first come first in (so a sender's calls
    ///   keep their order, and a call nobody polls holds up no one); while any
    ///   waits, casts are refused, so that none overtakes it. A request still in
    ///   line when its caller gives up (timed out, or dropped the call) is not
    ///   handled.
    /// - The runtime's own messages (stop, [`sys`](crate::sys) requests, `Down`s,
    ///   exit signals, timers' messages, continuations) are never refused or held
    ///   up: a full mailbox holds up no shutdown.
    ///
    /// The messages counted are those not handled yet: queued, or taken by the
    /// server and waiting their turn. (OTP has no bounded mailbox; this is the
    /// back-pressure its users build by hand with calls.)
    ///
    /// # Panics
    ///
    /// If `capacity` is 0: a mailbox holds at least one message.
    pub fn mailbox(mut self, capacity: usize) -> Self {
        assert!(capacity > 0, "a bounded mailbox holds at least one message");
        self.mailbox = Some(capacity);
        self
    }

    /// Gives init at most `timeout` to finish (OTP's `{timeout, Time}` start
    /// option); past it the server is killed and the start fails with
    /// [`StartError::Timeout`] once it is gone.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = Some(timeout);
        self
    }

    /// Links the new server to the server whose context this is, before its init
    /// runs (OTP's `start_link`): there is no moment in which either can end
    /// without the other getting the exit signal.
    ///
    /// As in OTP, the starter is the new server's parent: if the starter ends, the
    /// new server ends with the same reason even if it traps exits. And if init
    /// fails abnormally, the starter gets the exit signal, which ends it at once
    /// unless it traps exits (supervisors do), as OTP's `start_link` does: only a
    /// starter that traps exits gets to see the `Err`. An init timeout unlinks
    /// before it kills.
    pub fn link<P: GenServer>(self, ctx: &Context<P>) -> Self {
        self.link_to(ctx.process())
    }

    /// [`link`](Start::link), to a process of any type.
    pub(crate) fn link_to(mut self, parent: Arc<dyn AnyProcess>) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Starts the server and gives its untyped handle.
    pub(crate) async fn spawn(self) -> Result<ServerRef<S>, StartError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Before anything is registered: nothing is left behind.
            return Err(StartError::Init(crate::ExitReason::Error(
                "no tokio runtime: a server must be started from within one".into(),
            )));
        };
        let parent_pid = self.parent.as_ref().map(|p| p.core().pid());
        let core = ProcessCore::new(Pid::next(), self.name, parent_pid);
        let span = worker::span::<S>(&core);
        let process = Arc::new(Process {
            core: core.with_span(span),
            mailbox: Mailbox::new(self.mailbox),
        });
        registry::insert(process.clone()).map_err(StartError::AlreadyStarted)?;
        if let Some(parent) = &self.parent {
            // Both sides before the task runs, so that neither can end unnoticed.
            if parent.core().add_link(process.clone()) {
                process.core.add_link(parent.clone());
            } else {
                // The parent ended already (this `Start` outlived the handler that
                // made it): as linking to an ended process does, an exit signal
                // `NoProc`, which ends the child after its init.
                let parent = parent.core().pid();
                process.core.add_ended_link(parent);
                process::exit_signal(&*process, parent, crate::ExitReason::NoProc, true);
            }
        }
        let task = worker::task(process.clone(), self.arg);
        drop(runtime.spawn(process::scope(process.clone(), task)));
        let started = process::started(process.clone());
        let started = match self.init_timeout {
            None => started.await,
            // Boxed, out of line: the timer is no part of a start without one.
            Some(timeout) => {
                Box::pin(started_within(
                    timeout,
                    started,
                    &process,
                    self.parent.as_ref(),
                ))
                .await
            }
        };
        started.map(|()| ServerRef::from_process(process))
    }
}

/// Waits at most `timeout` for the init of `process` to be over.
async fn started_within<S: GenServer>(
    timeout: Duration,
    started: process::Started,
    process: &Arc<Process<S>>,
    parent: Option<&Arc<dyn AnyProcess>>,
) -> Result<(), StartError> {
    match tokio::time::timeout(timeout, started).await {
        Ok(started) => started,
        Err(_) => {
            // OTP's proc_lib:sync_wait kills the late starter; free its name first,
            // so that the caller can start another at once.
            if let Some(name) = process.core.name() {
                registry::release_name(process.core.pid(), name);
            }
            if let Some(parent) = parent {
                parent.core().remove_link(process.core.pid());
                process.core.remove_link(parent.core().pid());
            }
            // As OTP's proc_lib:sync_start, answer only once it is gone, so that
            // whatever its init held is free again.
            process.core.kill();
            process::exited(process.clone()).await;
            Err(StartError::Timeout)
        }
    }
}

impl<S: GenServer> IntoFuture for Start<S> {
    type Output = Result<S::Ref, StartError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<S::Ref, StartError>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.spawn().await.map(S::Ref::from) })
    }
}

impl<S: GenServer> fmt::Debug for Start<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start")
            .field("server", &std::any::type_name::<S>())
            .field("name", &self.name)
            .field("init_timeout", &self.init_timeout)
            .finish_non_exhaustive()
    }
}
