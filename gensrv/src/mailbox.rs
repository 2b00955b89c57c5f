//! What travels through a server's mailbox.

use crate::{Down, ExitReason, GenServer, Pid, TimerRef};

/// One message in a server's mailbox. A single channel carries every kind, so that
/// messages from one sender are handled in the order sent, whatever their kind.
///
/// Rare runtime messages are boxed, so that they do not make every message bigger
/// than the server's own: a small cast stays a 16-byte move.
pub(crate) enum Envelope<S: GenServer> {
    Call(S::Call),
    Cast(S::Cast),
    Info(S::Info),
    Sys(Box<Sys>),
    /// A timer's message; dropped if the timer was cancelled meanwhile.
    Timer(Box<(TimerRef, S::Info)>),
    /// The idle timeout elapsed (never queued: made by the loop itself).
    Timeout,
}

/// Messages of the runtime, not of the server's own protocol.
pub(crate) enum Sys {
    /// `ServerRef::stop`: handled in mailbox order, like OTP's `sys:terminate`.
    Stop(ExitReason),
    /// A monitored process ended; dropped if the monitor was removed meanwhile.
    Down(Down),
    /// An exit signal for a server that traps exits: a linked process ended
    /// (`link`; no effect if the link was removed meanwhile), or `gensrv::exit`.
    Exit {
        from: Pid,
        reason: ExitReason,
        link: bool,
    },
}
