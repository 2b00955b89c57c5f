//! [`ServerRef`]: the generic handle of a running server, and [`Stop`].
// Without `remote`, a handle is always local: its one-armed matches stay.
#![cfg_attr(not(feature = "remote"), allow(clippy::infallible_destructuring_match))]

use std::fmt;
use std::future::{Future, IntoFuture};
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::call::{Call, ReplyTo};
use crate::mailbox::{Envelope, Refused, Sys};
use crate::process::{self, AnyProcess, Process};
use crate::{CallError, CastError, ExitReason, GenServer, Pid, StopError, registry};

/// A handle to a running server of type `S`: cheap to clone, and usable from any
/// task or thread.
///
/// Generated handles (`FooRef`) deref to it, so these operations exist on every
/// server; the generated handle adds one typed method per call and cast.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use gensrv::{gen_server, ExitReason};
///
/// struct Idle;
///
/// #[gen_server]
/// impl Idle {}
///
/// let idle = Idle::start(Idle).name("idle").await.unwrap();
/// assert_eq!(idle.name(), Some("idle"));
/// assert!(idle.is_alive());
///
/// idle.stop().reason(ExitReason::Shutdown).await.unwrap();
/// assert!(!idle.is_alive());
/// assert_eq!(idle.exited().await, ExitReason::Shutdown);
/// # }
/// ```
pub struct ServerRef<S: GenServer> {
    to: To<S>,
}

/// Where a handle's server runs.
enum To<S: GenServer> {
    /// In this OS process.
    Local(Arc<Process<S>>),
    /// On another node (or a server of this one that had ended when its handle
    /// came back from another node).
    #[cfg(feature = "remote")]
    Remote(Arc<crate::remote::RemoteServer<S>>),
}

impl<S: GenServer> ServerRef<S> {
    pub(crate) fn from_process(process: Arc<Process<S>>) -> Self {
        ServerRef {
            to: To::Local(process),
        }
    }

    #[cfg(feature = "remote")]
    pub(crate) fn from_remote(server: crate::remote::RemoteServer<S>) -> Self {
        ServerRef {
            to: To::Remote(Arc::new(server)),
        }
    }

    /// The local process, if the server runs in this OS process.
    pub(crate) fn local(&self) -> Option<&Arc<Process<S>>> {
        match &self.to {
            To::Local(process) => Some(process),
            #[cfg(feature = "remote")]
            To::Remote(_) => None,
        }
    }

    /// The process of a handle known to be local: a server's own handle (its
    /// `Context`), one just started.
    pub(crate) fn process(&self) -> &Arc<Process<S>> {
        match &self.to {
            To::Local(process) => process,
            #[cfg(feature = "remote")]
            To::Remote(_) => unreachable!("a server's own handle is local"),
        }
    }

    /// The handle of the server registered as `name`, if it is an `S`
    /// (generated servers have `Foo::whereis`, which gives a `FooRef`).
    pub fn whereis(name: &str) -> Option<Self> {
        registry::whereis_typed(name)
    }

    /// The handle of the running server `pid`, if it is an `S`: how to get a
    /// typed handle for a child a supervisor started, e.g.
    /// `ServerRef::<Bucket>::from_pid(pid).map(BucketRef::from)`.
    pub fn from_pid(pid: Pid) -> Option<Self> {
        #[cfg(feature = "remote")]
        if !pid.is_local() {
            return crate::remote::RemoteServer::from_pid(pid).map(ServerRef::from_remote);
        }
        let process = registry::by_pid(pid)?.into_any().downcast().ok()?;
        Some(ServerRef::from_process(process))
    }

    /// The server registered under the cluster-wide `name` (Erlang's
    /// `global:whereis_name`), as `node` sees it now: a handle to a server on
    /// another node, or to a local one (generated servers have
    /// `Foo::whereis_global`, which gives a `FooRef`). `None` if no server holds
    /// the name. A name is not typed: if its holder is a server of another type
    /// (or another version of `S`), the handle's first call fails with
    /// [`CallError::Refused`]. Feature `remote`; see [`crate::remote`].
    #[cfg(feature = "remote")]
    pub async fn whereis_global(node: &crate::remote::Node, name: &str) -> Option<Self>
    where
        S: crate::remote::Remote,
    {
        ServerRef::from_pid(node.whereis_global(name).await?)
    }

    /// The server's pid; the same for the life of the server, never reused.
    pub fn pid(&self) -> Pid {
        match &self.to {
            To::Local(process) => process.core.pid(),
            #[cfg(feature = "remote")]
            To::Remote(server) => server.pid(),
        }
    }

    /// The name the server was started with, if any (none for a server on
    /// another node: its local name is its node's).
    pub fn name(&self) -> Option<&str> {
        match &self.to {
            To::Local(process) => process.core.name(),
            #[cfg(feature = "remote")]
            To::Remote(_) => None,
        }
    }

    /// Whether the server is running: false as soon as it starts ending (its
    /// terminate may still be running), as OTP's `is_process_alive/1`.
    ///
    /// For a server on another node, whether it is not known to have ended: its
    /// node is up, and no call to it has found it gone.
    pub fn is_alive(&self) -> bool {
        match &self.to {
            To::Local(process) => process.core.is_running(),
            #[cfg(feature = "remote")]
            To::Remote(server) => server.is_alive(),
        }
    }

    /// Sends a call (OTP's `gen_server:call/2`): `make` wraps the [`ReplyTo`] into
    /// the server's call message. Await the [`Call`] for `Result<R, CallError>`:
    /// [`CallError::NoProc`] if the server had ended, `Exited(reason)` if it ends
    /// before it replies, `Timeout` after 5 s unless set otherwise.
    ///
    /// Generated handles do this for you (`registry.lookup(name)`). The request is
    /// in the mailbox when this returns; see [`Call`]. For a handler that keeps the
    /// `ReplyTo` to reply later, use [`call_deferred`](ServerRef::call_deferred).
    pub fn call<R: Send + 'static>(&self, make: impl FnOnce(ReplyTo<R>) -> S::Call) -> Call<R> {
        self.send_call(make, false)
    }

    /// Like [`call`](ServerRef::call), for a handler that may keep the `ReplyTo`
    /// beyond its own end: the caller also watches the server, so that it learns of
    /// the server's death even while the `ReplyTo` lives on elsewhere.
    pub fn call_deferred<R: Send + 'static>(
        &self,
        make: impl FnOnce(ReplyTo<R>) -> S::Call,
    ) -> Call<R> {
        self.send_call(make, true)
    }

    fn send_call<R: Send + 'static>(
        &self,
        make: impl FnOnce(ReplyTo<R>) -> S::Call,
        watch_exit: bool,
    ) -> Call<R> {
        let process = match &self.to {
            To::Local(process) => process,
            #[cfg(feature = "remote")]
            To::Remote(server) => return server.call(make),
        };
        if process::current_pid() == Some(process.core.pid()) {
            return Call::failed(CallError::CallingSelf);
        }
        let (sender, receiver) = oneshot::channel();
        let call = Envelope::Call(make(ReplyTo::new(sender)));
        let server = watch_exit.then(|| process.clone() as Arc<dyn AnyProcess>);
        match process.mailbox.send_call(call) {
            Ok(None) => Call::sent(receiver, self.pid(), server),
            // A bounded mailbox with no room: in line for some, within its timeout.
            Ok(Some(abandoned)) => Call::in_line(receiver, self.pid(), server, abandoned),
            Err(_) => Call::failed(CallError::NoProc),
        }
    }

    /// Sends a cast (OTP's `gen_server:cast/2`). Never blocks; fails with
    /// [`CastError::NoProc`] if the server has ended (OTP's cast would drop it
    /// silently), and with [`CastError::Full`] if its mailbox is bounded and full
    /// (see [`Start::mailbox`](crate::Start::mailbox)).
    pub fn cast(&self, cast: S::Cast) -> Result<(), CastError> {
        #[cfg(feature = "remote")]
        if let To::Remote(server) = &self.to {
            return server.cast(cast);
        }
        self.send_message(Envelope::Cast(cast))
    }

    /// Sends an info message (anything its `#[info]` handlers take), as OTP's `!`
    /// does. Never blocks; fails as [`cast`](ServerRef::cast) does. Info messages
    /// stay on their node: sent to a server on another node, this fails with
    /// [`CastError::Refused`].
    pub fn send(&self, info: impl Into<S::Info>) -> Result<(), CastError> {
        self.send_message(Envelope::Info(info.into()))
    }

    fn send_message(&self, envelope: Envelope<S>) -> Result<(), CastError> {
        let process = match &self.to {
            To::Local(process) => process,
            #[cfg(feature = "remote")]
            To::Remote(_) => {
                return Err(CastError::Refused(
                    "info messages do not travel to other nodes".into(),
                ));
            }
        };
        process
            .mailbox
            .send_message(envelope)
            .map_err(|(refused, envelope)| {
                // Dropped here, outside the mailbox's lock.
                drop(envelope);
                match refused {
                    Refused::Closed => CastError::NoProc,
                    Refused::Full => CastError::Full,
                }
            })
    }

    /// Asks the server to stop; await the returned [`Stop`] to wait until its
    /// terminate has run. The request is queued behind the messages already in the
    /// mailbox, which are handled first (OTP's `gen_server:stop/3`, a system
    /// message). To end a server at once, whatever it is doing, send it an exit
    /// signal with [`gensrv::exit`](crate::exit()).
    pub fn stop(&self) -> Stop {
        Stop {
            process: self.any(),
            reason: ExitReason::Normal,
            timeout: None,
        }
    }

    /// Ends the server at once (OTP's `exit(Pid, kill)`, the same as
    /// [`gensrv::exit`](crate::exit()) with `Killed`): its terminate does not run,
    /// whatever it is doing is dropped, queued callers get `Exited(Killed)`, and
    /// links see `Killed`. Returns at once; [`exited`](ServerRef::exited) tells
    /// when the end is published.
    ///
    /// A handler stuck in a blocking, non-async loop cannot be interrupted; it ends
    /// at its next `.await`.
    pub fn kill(&self) {
        match &self.to {
            To::Local(process) => process.core.kill(),
            #[cfg(feature = "remote")]
            To::Remote(server) => server.kill(),
        }
    }

    /// Resolves with the reason the server ended, once it has (at once if it has):
    /// what a monitor's `Down` would say. By then its name is free, and its
    /// monitors and links have been told.
    pub fn exited(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        process::exited(self.any())
    }

    /// The process as any process: the local one, or the local stand-in of one
    /// on another node.
    fn any(&self) -> Arc<dyn AnyProcess> {
        match &self.to {
            To::Local(process) => process.clone(),
            #[cfg(feature = "remote")]
            To::Remote(server) => server.proxy(),
        }
    }
}

impl<S: GenServer> crate::AsProcess for ServerRef<S> {
    fn as_pid(&self) -> Pid {
        self.pid()
    }

    fn __process(&self) -> Option<crate::pid::ProcessHandle> {
        Some(crate::pid::ProcessHandle(self.any()))
    }
}

impl<S: GenServer> Clone for ServerRef<S> {
    fn clone(&self) -> Self {
        ServerRef {
            to: match &self.to {
                To::Local(process) => To::Local(process.clone()),
                #[cfg(feature = "remote")]
                To::Remote(server) => To::Remote(server.clone()),
            },
        }
    }
}

impl<S: GenServer> PartialEq for ServerRef<S> {
    fn eq(&self, other: &Self) -> bool {
        self.pid() == other.pid()
    }
}

impl<S: GenServer> Eq for ServerRef<S> {}

impl<S: GenServer> Hash for ServerRef<S> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pid().hash(state);
    }
}

impl<S: GenServer> fmt::Debug for ServerRef<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tuple = f.debug_tuple("ServerRef");
        tuple.field(&self.pid());
        if let Some(name) = self.name() {
            tuple.field(&name);
        }
        tuple.finish()
    }
}

/// A request to stop a server, from [`ServerRef::stop`]; await it.
///
/// Resolves once the server's terminate has run, as OTP's `gen_server:stop/3`:
///
/// - `Ok(())` if it ended with the reason asked for;
/// - [`StopError::Exited`] with the reason it ended with if that is another one
///   (its terminate panicked, or it ended otherwise before it got to the request);
/// - [`StopError::NoProc`] if it had already ended;
/// - [`StopError::Timeout`] if a [`timeout`](Stop::timeout) was set (none by
///   default, as in OTP) and it has not ended in time: it is killed, and has ended
///   when this returns;
/// - [`StopError::CallingSelf`] if awaited inside the server itself, which would
///   wait for its own end forever: nothing is sent. A handler stops its own server
///   with [`Context::stop`](crate::Context::stop).
#[must_use = "the server is asked to stop only when the Stop is awaited"]
pub struct Stop {
    process: Arc<dyn AnyProcess>,
    reason: ExitReason,
    timeout: Option<Duration>,
}

impl Stop {
    /// The reason the server ends with (default `Normal`): the `Reason` of OTP's
    /// `gen_server:stop/3`, which its terminate gets.
    pub fn reason(mut self, reason: ExitReason) -> Self {
        self.reason = reason;
        self
    }

    /// Kills the server if it has not ended within `timeout` (the `Timeout` of OTP's
    /// `gen_server:stop/3`; none by default, OTP's `infinity`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn run(self) -> Result<(), StopError> {
        let core = self.process.core();
        if process::current_pid() == Some(core.pid()) {
            return Err(StopError::CallingSelf);
        }
        if !self.process.send_sys(Sys::Stop(self.reason.clone())) && core.exit_reason().is_some() {
            // Ended and published. (A server still ending is waited for like any
            // stop, so that its `Down`s are out before this returns.)
            return Err(StopError::NoProc);
        }
        let exited = process::exited(self.process.clone());
        let reason = match self.timeout {
            None => exited.await,
            // Boxed, out of line: the timer is no part of a stop without one.
            Some(timeout) => match Box::pin(exited_within(timeout, exited)).await {
                Some(reason) => reason,
                None => {
                    // As `kill`: for a server on another node, through its node.
                    process::exit_signal(&*self.process, Pid::EXTERNAL, ExitReason::Killed, false);
                    process::exited(self.process.clone()).await;
                    return Err(StopError::Timeout);
                }
            },
        };
        if reason == self.reason {
            Ok(())
        } else {
            Err(StopError::Exited(reason))
        }
    }
}

/// `exited`, unless `timeout` passes first.
async fn exited_within(timeout: Duration, exited: process::Exited) -> Option<ExitReason> {
    tokio::time::timeout(timeout, exited).await.ok()
}

impl IntoFuture for Stop {
    type Output = Result<(), StopError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<(), StopError>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl fmt::Debug for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stop")
            .field("pid", &self.process.core().pid())
            .field("reason", &self.reason)
            .field("timeout", &self.timeout)
            .finish()
    }
}
