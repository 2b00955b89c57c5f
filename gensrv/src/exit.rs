//! Why a server ended ([`ExitReason`]), and exit signals ([`exit()`], OTP's
//! `exit/2`).
//!
//! An exit signal is how one process ends another: a linked process sends one
//! when it ends, a supervisor sends `Shutdown` to stop a child, and [`exit()`]
//! sends one on purpose. Exit signals are out of band: they do not wait in the
//! mailbox behind the messages there, nor for the handler that is running, unless
//! the server [traps exits](crate::Context::trap_exit).

use std::fmt;

/// Why a server ended, as its monitors, links, callers and `terminate` see it.
///
/// The variants are OTP's exit reasons: `normal`, `shutdown`, `killed`, `noproc`,
/// `noconnection`, a crash (`Panic`, with the panic message) and any other error
/// (`Error`).
///
/// ```
/// use gensrv::ExitReason;
///
/// assert!(ExitReason::Normal.is_normal());
/// assert!(ExitReason::Shutdown.is_normal());
/// assert!(!ExitReason::Panic("boom".into()).is_normal());
/// assert_eq!(ExitReason::Error("disk full".into()).to_string(), "error: disk full");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "remote", derive(serde::Serialize, serde::Deserialize))]
pub enum ExitReason {
    /// The server finished its work: `ctx.stop(ExitReason::Normal)` or a plain `stop()`.
    Normal,
    /// The server was asked to shut down, usually by its supervisor.
    Shutdown,
    /// The server was killed with [`ServerRef::kill`](crate::ServerRef::kill); its
    /// `terminate` did not run.
    Killed,
    /// The process did not exist: reported by monitors and links set up on a process
    /// that had already ended.
    NoProc,
    /// The process's node is gone or cannot be reached (distribution, feature
    /// `remote`): what the monitors, links and callers of a server on another node
    /// get when they lose it that way.
    NoConnection,
    /// A handler panicked; the panic message.
    Panic(String),
    /// Any other reason, e.g. an `init` that returned `Err(e)`: `e`'s `Display`.
    Error(String),
}

impl ExitReason {
    /// Whether this is an expected end (`Normal` or `Shutdown`), as opposed to a crash.
    ///
    /// Note that links propagate everything but `Normal` (OTP does the same): a
    /// `Shutdown` ends linked processes that do not trap exits.
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::NoProc => f.write_str("noproc"),
            ExitReason::NoConnection => f.write_str("noconnection"),
            ExitReason::Panic(msg) => write!(f, "panic: {msg}"),
            ExitReason::Error(msg) => write!(f, "error: {msg}"),
        }
    }
}

/// Sends `target` an exit signal with `reason`, OTP's `exit/2`.
///
/// - [`ExitReason::Killed`] kills the target unconditionally, as OTP's `kill`:
///   its terminate does not run (see [`ServerRef::kill`](crate::ServerRef::kill)).
/// - A target that [traps exits](crate::Context::trap_exit) gets an
///   [`Exit`](crate::Exit) message, in mailbox order, from the sender's pid
///   ([`Pid::EXTERNAL`](crate::Pid::EXTERNAL) when this is called outside any
///   server), except from its parent (the server that started it linked), whose
///   signal ends it.
/// - Otherwise [`ExitReason::Normal`] is ignored, and any other reason ends the
///   target at once, out of band: it handles no further message, a handler it is
///   running is dropped at its next `.await` (a handler that never awaits cannot
///   be interrupted), its terminate runs with `reason`, and the callers of the
///   running and the queued calls get [`CallError::Exited`](crate::CallError::Exited).
///
/// A signal to a process that has ended is dropped, as in OTP. From a handler,
/// [`Context::exit`](crate::Context::exit) sends the signal from the server's pid.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use gensrv::{gen_server, CallError, ExitReason};
///
/// struct Slow;
///
/// #[gen_server]
/// impl Slow {
///     #[call]
///     async fn work(&self) {
///         tokio::time::sleep(Duration::from_secs(3600)).await;
///     }
/// }
///
/// let slow = Slow::start(Slow).await.unwrap();
/// let work = slow.work().send();
/// tokio::task::yield_now().await;
/// gensrv::exit(&slow, ExitReason::Error("enough".into()));
/// let reason = ExitReason::Error("enough".into());
/// assert_eq!(work.await, Err(CallError::Exited(reason.clone())));
/// assert_eq!(slow.exited().await, reason);
/// # }
/// ```
pub fn exit<P: crate::AsProcess + ?Sized>(target: &P, reason: ExitReason) {
    let from = crate::process::current_pid().unwrap_or(crate::Pid::EXTERNAL);
    send_exit(target, from, reason);
}

pub(crate) fn send_exit<P: crate::AsProcess + ?Sized>(
    target: &P,
    from: crate::Pid,
    reason: ExitReason,
) {
    if let Some(target) = target.__process() {
        crate::process::exit_signal(&*target.0, from, reason, false);
    }
}
