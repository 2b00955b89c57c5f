//! The errors of the operations on a server: one type per operation.

use crate::{ExitReason, Pid};

/// Why a call got no reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "remote", derive(serde::Serialize, serde::Deserialize))]
pub enum CallError {
    /// No reply came within the call's timeout (5 s unless set with
    /// [`Call::timeout`](crate::Call::timeout)). A reply that comes later is dropped.
    #[error("call timed out")]
    Timeout,
    /// The server did not exist when the call was made.
    #[error("no such process")]
    NoProc,
    /// The server ended before it replied; the reason it ended.
    #[error("server exited: {0}")]
    Exited(ExitReason),
    /// The handler deferred its reply and dropped the [`ReplyTo`](crate::ReplyTo) unsent.
    #[error("reply dropped unsent")]
    NoReply,
    /// A server called itself, which could only deadlock.
    #[error("server called itself")]
    CallingSelf,
    /// The call could not be delivered as made: the server is on another node
    /// (feature `remote`), which refused it (it runs another version of the
    /// server, whose message types differ), or its message or reply did not
    /// travel (encoding or decoding failed). Why, in words.
    #[error("call refused: {0}")]
    Refused(String),
}

/// Why a cast (or an info message) was not delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CastError {
    /// The server has ended (or is ending); the message was not queued.
    #[error("no such process")]
    NoProc,
    /// The server's mailbox is bounded ([`Start::mailbox`](crate::Start::mailbox))
    /// and full, or calls wait for room in it; the message was not queued.
    #[error("mailbox full")]
    Full,
    /// The message could not be sent as made: the server is on another node
    /// (feature `remote`) and the message cannot travel (info messages stay on
    /// their node; a cast that fails to encode). Why, in words.
    #[error("message refused: {0}")]
    Refused(String),
}

/// Why stopping a server failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    /// The server had already ended.
    #[error("no such process")]
    NoProc,
    /// The server did not end within the stop's timeout; it was killed.
    #[error("stop timed out")]
    Timeout,
    /// A server tried to stop itself through its own handle and wait for its end,
    /// which could only deadlock; nothing was sent. (A handler stops its server
    /// with [`Context::stop`](crate::Context::stop).)
    #[error("server stopped itself")]
    CallingSelf,
    /// The server ended, but with another reason than the one asked for (its
    /// terminate panicked, or it ended otherwise first): that reason.
    #[error("server exited: {0}")]
    Exited(ExitReason),
}

/// Why a server did not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The name is registered to another running server, this one; init did not run.
    #[error("already started as {0}")]
    AlreadyStarted(Pid),
    /// Init failed (returned an error, asked to stop, or panicked); the reason.
    #[error("init failed: {0}")]
    Init(ExitReason),
    /// Init returned [`Init::Ignore`](crate::Init::Ignore): no server, and no failure.
    #[error("init ignored the start")]
    Ignored,
    /// Init did not finish within the start's `init_timeout`; the server was killed.
    #[error("init timed out")]
    Timeout,
}
