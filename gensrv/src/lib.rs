//! Erlang/OTP's `gen_server` for Rust, on tokio.
//!
//! Write an ordinary `impl` block, put [`#[gen_server]`](gen_server) on it and mark
//! its handlers; get a server process with a typed client handle:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv::gen_server;
//!
//! /// A stack of numbers.
//! #[derive(Default)]
//! pub struct Stack {
//!     items: Vec<i64>,
//! }
//!
//! #[gen_server]
//! impl Stack {
//!     /// Pushes `item` on top.
//!     #[cast]
//!     fn push(&mut self, item: i64) {
//!         self.items.push(item);
//!     }
//!
//!     /// Takes the top item, if any.
//!     #[call]
//!     fn pop(&mut self) -> Option<i64> {
//!         self.items.pop()
//!     }
//! }
//!
//! let stack: StackRef = Stack::start(Stack::default()).await.unwrap();
//! stack.push(1).unwrap();
//! stack.push(2).unwrap();
//! assert_eq!(stack.pop().await, Ok(Some(2)));
//! stack.stop().await.unwrap();
//! assert_eq!(stack.pop().await, Err(gensrv::CallError::NoProc));
//! # }
//! ```
//!
//! The macro generates `StackRef` (one method per handler, carrying its docs), the
//! message enums `StackCall`, `StackCast` and `StackInfo`, `Stack::start` and
//! `Stack::whereis`, and `impl GenServer for Stack`; see [`gen_server`].
//!
//! # What holds
//!
//! These are OTP's guarantees, and each is tested:
//!
//! 1. Messages from one task to one server are handled in the order sent, across
//!    calls, casts and info messages: they share one mailbox.
//! 2. A call never waits on a dead server: if the server dies before or while
//!    handling it, the caller gets [`CallError::Exited`] or [`CallError::NoProc`]
//!    at once, not after the timeout (5 s by default).
//! 3. A reply that comes after its call timed out is dropped; it is never taken for
//!    another call's reply.
//! 4. A panic in a handler ends that server only: terminate runs, the reason is
//!    [`ExitReason::Panic`], the name is freed, the caller gets `Exited(Panic(msg))`.
//! 5. `start` with a taken name fails with [`StartError::AlreadyStarted`] without
//!    running init; a failed init frees the name before `start` returns.
//! 6. A call from a server to itself fails with [`CallError::CallingSelf`].
//! 7. Nothing is lost silently: a cast to a dead server is [`CastError::NoProc`];
//!    callers whose requests were still queued when the server ended get an error.
//!
//! # Map of the crate
//!
//! - [`gen_server`]: the attribute, and what it generates.
//! - [`server`]: the [`GenServer`] trait the attribute implements, and [`Init`].
//! - [`start`]: [`Start`], starting a server synchronously.
//! - [`server_ref`]: [`ServerRef`], the handle every server has, and [`Stop`].
//! - [`call`]: [`Call`], [`PendingReply`] and [`ReplyTo`] (deferred replies).
//! - [`context`]: [`Context`], what a handler can ask of its own server.
//! - [`signal`]: the runtime's info messages ([`Timeout`]).
//! - [`registry`]: process-wide names ([`whereis`]).
//! - [`pid`], [`exit`], [`error`]: [`Pid`], [`ExitReason`], and one error per operation.
#![warn(
    missing_docs,
    unreachable_pub,
    rust_2018_idioms,
    missing_debug_implementations
)]
#![forbid(unsafe_code)]

pub mod call;
pub mod context;
pub mod error;
pub mod exit;
pub mod pid;
pub mod registry;
pub mod server;
pub mod server_ref;
pub mod signal;
pub mod start;

mod mailbox;
mod process;
mod worker;

#[doc(inline)]
pub use crate::call::{Call, PendingReply, ReplyTo};
#[doc(inline)]
pub use crate::context::Context;
#[doc(inline)]
pub use crate::error::{CallError, CastError, StartError, StopError};
#[doc(inline)]
pub use crate::exit::ExitReason;
#[doc(inline)]
pub use crate::pid::Pid;
#[doc(inline)]
pub use crate::registry::whereis;
#[doc(inline)]
pub use crate::server::{GenServer, Init};
#[doc(inline)]
pub use crate::server_ref::{ServerRef, Stop};
#[doc(inline)]
pub use crate::signal::Timeout;
#[doc(inline)]
pub use crate::start::Start;

#[doc(inline)]
pub use gensrv_macros::gen_server;

/// What the generated code uses; not a public API.
#[doc(hidden)]
pub mod __private {
    use std::any::Any;

    pub use crate::server::IntoInit;

    /// Moves `value` into a `U` if it is one: how the generated code tells whether an
    /// `#[info]` handler's type is one of the runtime's messages.
    pub fn downcast<T: 'static, U: 'static>(value: T) -> Result<U, T> {
        let mut slot = Some(value);
        if let Some(u) = (&mut slot as &mut dyn Any).downcast_mut::<Option<U>>() {
            return Ok(u.take().expect("just filled"));
        }
        Err(slot.expect("untouched"))
    }

    /// Fails to compile, at the type, if `T` is not `Send`.
    pub fn assert_send<T: ?Sized + Send>() {}

    /// A runtime message reached a server with no handler for it.
    pub fn unhandled(pid: crate::Pid, message: &dyn std::fmt::Debug) {
        tracing::debug!(%pid, ?message, "runtime message with no handler; dropped");
    }
}
