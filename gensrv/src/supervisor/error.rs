//! Why an operation on a supervisor's children failed: one error per operation,
//! each with a [`Call`](StartChildError::Call) variant for a supervisor that could
//! not answer.

use crate::{CallError, Pid, StartError};

/// Why `start_child` failed (OTP's `start_child/2`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartChildError {
    /// A [`Supervisor`](super::Supervisor)'s child with that id runs already, as
    /// this process.
    #[error("child already started as {0}")]
    AlreadyStarted(Pid),
    /// A [`Supervisor`](super::Supervisor) has a spec with that id, not running.
    #[error("child spec already present")]
    AlreadyPresent,
    /// The [`DynamicSupervisor`](super::DynamicSupervisor) has as many children as
    /// it may.
    #[error("too many children")]
    MaxChildren,
    /// The child's start failed.
    #[error("child failed to start: {0}")]
    Start(StartError),
    /// The supervisor did not answer: it is not running, it ended meanwhile, or
    /// the request's [`timeout`](super::Request::timeout) elapsed.
    #[error("supervisor call failed: {0}")]
    Call(#[from] CallError),
}

/// Why `terminate_child` failed (OTP's `terminate_child/2`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TerminateChildError {
    /// No child has that id (or pid).
    #[error("no such child")]
    NotFound,
    /// The supervisor did not answer: it is not running, it ended meanwhile, or
    /// the request's [`timeout`](super::Request::timeout) elapsed.
    #[error("supervisor call failed: {0}")]
    Call(#[from] CallError),
}

/// Why `restart_child` failed (OTP's `restart_child/2`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestartChildError {
    /// No child has that id.
    #[error("no such child")]
    NotFound,
    /// The child runs; terminate it first.
    #[error("child is running")]
    Running,
    /// A restart of the child failed and the supervisor is to try again;
    /// terminate it first.
    #[error("child is restarting")]
    Restarting,
    /// The child's start failed.
    #[error("child failed to start: {0}")]
    Start(StartError),
    /// The supervisor did not answer: it is not running, it ended meanwhile, or
    /// the request's [`timeout`](super::Request::timeout) elapsed.
    #[error("supervisor call failed: {0}")]
    Call(#[from] CallError),
}

/// Why `delete_child` failed (OTP's `delete_child/2`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeleteChildError {
    /// No child has that id.
    #[error("no such child")]
    NotFound,
    /// The child runs; terminate it first.
    #[error("child is running")]
    Running,
    /// A restart of the child failed and the supervisor is to try again;
    /// terminate it first.
    #[error("child is restarting")]
    Restarting,
    /// The supervisor did not answer: it is not running, it ended meanwhile, or
    /// the request's [`timeout`](super::Request::timeout) elapsed.
    #[error("supervisor call failed: {0}")]
    Call(#[from] CallError),
}
