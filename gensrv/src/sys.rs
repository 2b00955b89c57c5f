//! OTP's `sys` module: looking into a running server, and holding it still.
//!
//! Each operation is a request handled between two messages, in mailbox order
//! (after what was sent before it), so it sees the state as the handlers left it:
//!
//! - [`get_state`](ServerRef::get_state) and
//!   [`replace_state`](ServerRef::replace_state): `sys:get_state/1` and
//!   `sys:replace_state/2`;
//! - [`suspend`](ServerRef::suspend) and [`resume`](ServerRef::resume): a
//!   suspended server handles only these requests and stop; calls, casts and
//!   info messages wait in its mailbox, in order, until it is resumed (callers'
//!   timeouts still run);
//! - [`statistics`](ServerRef::statistics): `sys:statistics/2`, counts of the
//!   messages handled, always kept;
//! - [`get_status`](ServerRef::get_status): `sys:get_status/1`, with the state
//!   as the server's `#[format_status]` shows it.
//!
//! A sys request sees what its sender sent before it, except while the server is
//! suspended: then those messages wait, and the request does not (as in OTP).
//!
//! The same requests work on a process of any type, by pid: [`suspend`],
//! [`resume`], [`statistics`] and [`get_status`] (not the state, whose type only
//! a typed handle knows).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv::gen_server;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct Counter(u64);
//!
//! #[gen_server]
//! impl Counter {
//!     #[cast]
//!     fn add(&mut self, n: u64) {
//!         self.0 += n;
//!     }
//! }
//!
//! let counter = Counter::start(Counter(0)).await.unwrap();
//! counter.suspend().await.unwrap();
//! counter.add(2).unwrap(); // waits: the server is suspended
//! assert_eq!(counter.get_state().await, Ok(Counter(0)));
//! counter.replace_state(|c| c.0 = 40).await.unwrap();
//! counter.resume().await.unwrap();
//! assert_eq!(counter.get_state().await, Ok(Counter(42)));
//!
//! let stats = counter.statistics().await.unwrap();
//! assert_eq!((stats.calls, stats.casts, stats.mailbox_len), (0, 1, 0));
//! let status = counter.get_status().await.unwrap();
//! assert_eq!(status.state, std::any::type_name::<Counter>());
//! # }
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::oneshot;

use crate::call::{Call, ReplyTo};
use crate::mailbox::{Envelope, Sys};
use crate::process::{self, AnyProcess};
use crate::{AsProcess, CallError, GenServer, Pid, ServerRef};

/// What a server has handled since it started (OTP's `sys:statistics/2`), from
/// [`ServerRef::statistics`] or [`statistics`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// When it was started (before its init ran; OTP's `start_time`).
    pub started: SystemTime,
    /// Calls handled.
    pub calls: u64,
    /// Casts handled.
    pub casts: u64,
    /// Every other message handled: info messages, timers' messages, idle
    /// timeouts, continuations, `Down`s and `Exit`s.
    pub infos: u64,
    /// Messages waiting in the mailbox, suspended ones included.
    pub mailbox_len: usize,
}

/// A server as `sys:get_status/1` shows it, from [`ServerRef::get_status`] or
/// [`get_status`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The server.
    pub pid: Pid,
    /// Its registered name, if any.
    pub name: Option<String>,
    /// Its type, as `std::any::type_name` writes it.
    pub server: &'static str,
    /// Whether it is [suspended](ServerRef::suspend).
    pub suspended: bool,
    /// Messages waiting in the mailbox, suspended ones included.
    pub mailbox_len: usize,
    /// The state, as the server's [`format_status`](GenServer::format_status)
    /// writes it: `#[format_status] fn ..(&self) -> String`, or the type's name
    /// without one (so that nothing of the state shows unless the server says so).
    pub state: String,
}

/// Sends a request made with its `ReplyTo` to `process`, as a call from this task.
fn request<R: Send + 'static>(
    process: Option<Arc<dyn AnyProcess>>,
    make: impl FnOnce(ReplyTo<R>) -> Sys,
) -> Call<R> {
    let Some(process) = process else {
        return Call::failed(CallError::NoProc);
    };
    let pid = process.core().pid();
    if process::current_pid() == Some(pid) {
        return Call::failed(CallError::CallingSelf);
    }
    // The stand-in of a server on another node takes no sys requests: its
    // server, alive, is not `NoProc`.
    #[cfg(feature = "remote")]
    if process.as_proxy().is_some() && process.core().exit_reason().is_none() {
        return Call::failed(CallError::Refused(
            "sys requests do not travel to a server on another node".into(),
        ));
    }
    let (sender, receiver) = oneshot::channel();
    if process.send_sys(make(ReplyTo::new(sender))) {
        Call::sent(receiver, pid, None)
    } else {
        Call::failed(CallError::NoProc)
    }
}

fn running(target: &(impl AsProcess + ?Sized)) -> Option<Arc<dyn AnyProcess>> {
    target.__process().map(|handle| handle.0)
}

/// Suspends the process `target` (OTP's `sys:suspend/1`); see
/// [`ServerRef::suspend`].
pub fn suspend(target: &(impl AsProcess + ?Sized)) -> Call<()> {
    request(running(target), Sys::Suspend)
}

/// Resumes the suspended process `target` (OTP's `sys:resume/1`); see
/// [`ServerRef::resume`].
pub fn resume(target: &(impl AsProcess + ?Sized)) -> Call<()> {
    request(running(target), Sys::Resume)
}

/// What the process `target` has handled (OTP's `sys:statistics/2`); see
/// [`ServerRef::statistics`].
pub fn statistics(target: &(impl AsProcess + ?Sized)) -> Call<Statistics> {
    request(running(target), Sys::Statistics)
}

/// The status of the process `target` (OTP's `sys:get_status/1`); see
/// [`ServerRef::get_status`].
pub fn get_status(target: &(impl AsProcess + ?Sized)) -> Call<Status> {
    request(running(target), Sys::GetStatus)
}

impl<S: GenServer> ServerRef<S> {
    /// Runs `f` on the state inside the server, between two messages.
    fn on_state<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S, ReplyTo<R>) + Send + 'static,
    ) -> Call<R> {
        let Some(process) = self.local() else {
            return Call::failed(CallError::Refused(
                "the state of a server on another node stays there".into(),
            ));
        };
        if process::current_pid() == Some(self.pid()) {
            return Call::failed(CallError::CallingSelf);
        }
        let (sender, receiver) = oneshot::channel();
        let reply = ReplyTo::new(sender);
        let envelope = Envelope::State(Box::new(Box::new(move |state: &mut S| f(state, reply))));
        match process.mailbox.send(envelope) {
            Ok(()) => Call::sent(receiver, self.pid(), None),
            Err(_) => Call::failed(CallError::NoProc),
        }
    }

    /// A copy of the server's state, taken between two messages (OTP's
    /// `sys:get_state/1`); also from a suspended server. If the state's `Clone`
    /// panics, the call fails with [`CallError::NoReply`] and the server goes on.
    ///
    /// A debugging aid: a server's state is its own, and a client that needs part
    /// of it should have a call for it.
    pub fn get_state(&self) -> Call<S>
    where
        S: Clone,
    {
        self.on_state(|state, reply| {
            // A `Clone` that panics fails the request, not the server.
            match catch_unwind(AssertUnwindSafe(|| state.clone())) {
                Ok(copy) => {
                    let _ = reply.send(copy);
                }
                Err(panic) => {
                    let panic = crate::worker::panic_message(panic);
                    tracing::error!(%panic, "get_state: the state's clone panicked");
                    // Dropped unsent: the caller gets `NoReply`.
                    drop(reply);
                }
            }
        })
    }

    /// Runs `f` on the server's state inside the server, between two messages
    /// (OTP's `sys:replace_state/2`); also on a suspended server.
    ///
    /// If `f` panics, the server goes on with the state it had before (for a
    /// `Clone` state, as `#[gen_server]` detects; another state keeps whatever
    /// `f` did before it panicked) and the call fails with
    /// [`CallError::NoReply`], as OTP's `replace_state` leaves the state alone
    /// when its function crashes. So does a `Clone` of the state that panics
    /// (then `f` does not run).
    pub fn replace_state(&self, f: impl FnOnce(&mut S) + Send + 'static) -> Call<()> {
        self.on_state(move |state, reply| {
            // The copy first, apart: if the state's `Clone` panics, `f` is not run.
            let backup = match catch_unwind(AssertUnwindSafe(|| state.__backup())) {
                Ok(backup) => backup,
                Err(panic) => {
                    let panic = crate::worker::panic_message(panic);
                    tracing::error!(%panic, "replace_state: the state's clone panicked; state kept");
                    drop(reply);
                    return;
                }
            };
            match catch_unwind(AssertUnwindSafe(|| f(state))) {
                Ok(()) => {
                    let _ = reply.send(());
                }
                Err(panic) => {
                    if let Some(backup) = backup {
                        *state = backup;
                    }
                    let panic = crate::worker::panic_message(panic);
                    tracing::error!(%panic, "replace_state's function panicked; state kept");
                    // Dropped unsent: the caller gets `NoReply`.
                    drop(reply);
                }
            }
        })
    }

    /// Suspends the server (OTP's `sys:suspend/1`): once it has handled what came
    /// before this request, it handles only sys requests and stop until
    /// [`resume`](ServerRef::resume)d. Calls, casts and info messages wait in the
    /// mailbox, in order, and nothing is lost; callers' timeouts still run.
    /// Timers go on, and their messages wait with the rest; an idle timeout
    /// ([`Context::set_timeout`](crate::Context::set_timeout)) that elapses
    /// meanwhile is handled once resumed, in its place (OTP would start it anew).
    /// Exit signals still end it. Suspending a suspended server does nothing.
    pub fn suspend(&self) -> Call<()> {
        suspend(self)
    }

    /// Resumes a suspended server (OTP's `sys:resume/1`): what waited is handled
    /// first, in the order it came. Resuming a running server does nothing.
    pub fn resume(&self) -> Call<()> {
        resume(self)
    }

    /// What the server has handled since it started, and its mailbox's length
    /// (OTP's `sys:statistics/2`). Always kept: counting costs the server nothing
    /// measurable.
    pub fn statistics(&self) -> Call<Statistics> {
        statistics(self)
    }

    /// The server's pid, name, type, whether it is suspended, its mailbox's length
    /// and its state as its `#[format_status]` shows it (OTP's `sys:get_status/1`).
    pub fn get_status(&self) -> Call<Status> {
        get_status(self)
    }
}
