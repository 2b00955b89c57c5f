//! Why a server ended.

use std::fmt;

/// Why a server ended, as its monitors, links, callers and `terminate` see it.
///
/// The variants are OTP's exit reasons: `normal`, `shutdown`, `killed`, `noproc`,
/// a crash (`Panic`, with the panic message) and any other error (`Error`).
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
            ExitReason::Panic(msg) => write!(f, "panic: {msg}"),
            ExitReason::Error(msg) => write!(f, "error: {msg}"),
        }
    }
}
