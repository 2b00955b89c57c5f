//! The [`GenServer`] trait: what a server type provides to the runtime.
//!
//! `#[gen_server]` writes this impl; it can also be written by hand, as here: a
//! counter with one call and one cast, where each call message carries the
//! [`ReplyTo`](crate::ReplyTo) its handler answers through.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv::{Context, GenServer, Init, ReplyTo, ServerRef, Start};
//!
//! struct Counter(u64);
//!
//! enum CounterCall {
//!     Get { reply_to: ReplyTo<u64> },
//! }
//!
//! enum CounterCast {
//!     Add(u64),
//! }
//!
//! impl GenServer for Counter {
//!     type Arg = u64;
//!     type Call = CounterCall;
//!     type Cast = CounterCast;
//!     type Info = std::convert::Infallible;
//!     type Ref = ServerRef<Counter>;
//!
//!     async fn init(start: u64, _ctx: &mut Context<Self>) -> Init<Self> {
//!         Init::Ready(Counter(start))
//!     }
//!
//!     async fn handle_call(&mut self, call: CounterCall, _ctx: &mut Context<Self>) {
//!         match call {
//!             CounterCall::Get { reply_to } => {
//!                 let _ = reply_to.send(self.0);
//!             }
//!         }
//!     }
//!
//!     async fn handle_cast(&mut self, cast: CounterCast, _ctx: &mut Context<Self>) {
//!         match cast {
//!             CounterCast::Add(n) => self.0 += n,
//!         }
//!     }
//!
//!     async fn handle_info(&mut self, info: std::convert::Infallible, _ctx: &mut Context<Self>) {
//!         match info {}
//!     }
//! }
//!
//! let counter = Start::<Counter>::new(40).await.unwrap();
//! counter.cast(CounterCast::Add(2)).unwrap();
//! let n = counter.call(|reply_to| CounterCall::Get { reply_to }).await.unwrap();
//! assert_eq!(n, 42);
//! # }
//! ```

use std::fmt;
use std::future::Future;

use crate::{Context, Down, Exit, ExitReason, ServerRef};

/// A server process's behaviour: its messages, its handlers, its start and end.
///
/// The runtime runs one task per server. The task calls [`init`](GenServer::init)
/// once, then takes one message at a time from the mailbox and awaits its handler
/// to the end before taking the next (handlers may be `async`, but a server never
/// handles two messages at once), and finally calls [`terminate`](GenServer::terminate).
///
/// Usually written by `#[gen_server]`; see the [module docs](self) for a hand-written one.
pub trait GenServer: Sized + Send + 'static {
    /// The argument given to [`Start`](crate::Start) and passed to `init`.
    type Arg: Send + 'static;
    /// The requests that get a reply. Each carries the [`ReplyTo`](crate::ReplyTo) that
    /// answers it; a request whose `ReplyTo` is dropped unsent fails with `NoReply`.
    type Call: Send + 'static;
    /// The requests that get no reply.
    type Cast: Send + 'static;
    /// Every other message: sent with [`ServerRef::send`], by timers, or to itself.
    type Info: Send + 'static;
    /// The client handle `start`, `whereis` and `Context::this` give out
    /// (`FooRef` for a generated server; `ServerRef<Self>` will do by hand).
    type Ref: From<ServerRef<Self>> + Clone + Send + Sync + 'static;

    /// Builds the state from the start argument. `start` returns once this has
    /// returned (OTP's synchronous start).
    fn init(arg: Self::Arg, ctx: &mut Context<Self>) -> impl Future<Output = Init<Self>> + Send;

    /// Handles a call. The reply goes through the `ReplyTo` inside `call`.
    fn handle_call(
        &mut self,
        call: Self::Call,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send;

    /// Handles a cast.
    fn handle_cast(
        &mut self,
        cast: Self::Cast,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send;

    /// Handles an info message.
    fn handle_info(
        &mut self,
        info: Self::Info,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send;

    /// How this server's messages travel between nodes, if they do: what
    /// `#[gen_server(remote)]` provides (`Some(Vtable::of())`, for a server that
    /// implements [`Remote`](crate::remote::Remote)). Not a public API.
    #[cfg(feature = "remote")]
    #[doc(hidden)]
    fn __remote() -> Option<crate::remote::Vtable<Self>> {
        None
    }

    /// The idle timeout set with [`Context::set_timeout`] elapsed.
    ///
    /// By default it is logged and ignored (Elixir's `GenServer` does the same with
    /// info messages it has no clause for).
    fn handle_timeout(&mut self, ctx: &mut Context<Self>) -> impl Future<Output = ()> + Send {
        tracing::debug!(pid = %ctx.pid(), "idle timeout with no handler");
        std::future::ready(())
    }

    /// A monitored process ended (see [`Context::monitor`]).
    ///
    /// By default it is logged and ignored.
    fn handle_down(
        &mut self,
        down: Down,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send {
        tracing::debug!(pid = %ctx.pid(), ?down, "down message with no handler");
        std::future::ready(())
    }

    /// A linked process ended and this server traps exits (see
    /// [`Context::trap_exit`]).
    ///
    /// By default it is logged and ignored.
    fn handle_exit(
        &mut self,
        exit: Exit,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send {
        tracing::debug!(pid = %ctx.pid(), ?exit, "exit message with no handler");
        std::future::ready(())
    }

    /// The state as [`get_status`](ServerRef::get_status) and crash reports show
    /// it (OTP's `format_status/1`). By default only the type's name, so that
    /// nothing of the state (a password, a key) is shown unless the server says
    /// how: `#[format_status] fn status(&self) -> String` in a `#[gen_server]`.
    fn format_status(&self) -> String {
        std::any::type_name::<Self>().to_owned()
    }

    /// The name of the handler `call` goes to, as traces and crash reports name
    /// the message being handled (generated: the `#[call]` method's name).
    fn call_name(call: &Self::Call) -> &'static str {
        let _ = call;
        "handle_call"
    }

    /// The name of the handler `cast` goes to (generated: the `#[cast]` method's
    /// name).
    fn cast_name(cast: &Self::Cast) -> &'static str {
        let _ = cast;
        "handle_cast"
    }

    /// The name of the handler `info` goes to (generated: the `#[info]` method's
    /// name).
    fn info_name(info: &Self::Info) -> &'static str {
        let _ = info;
        "handle_info"
    }

    /// A copy of the state, if it is `Clone`, that `replace_state` puts back if
    /// its closure panics. Generated; not a public API.
    #[doc(hidden)]
    fn __backup(&self) -> Option<Self> {
        None
    }

    /// Cleans up when the server ends, whatever the reason, except after
    /// [`kill`](ServerRef::kill). A panic here becomes the exit reason.
    fn terminate(
        self,
        reason: &ExitReason,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (reason, ctx);
        std::future::ready(())
    }
}

/// What `init` decided (OTP's `{ok, State}`, `ignore` and `{stop, Reason}`).
///
/// An `#[init]` handler may return `Self`, `Result<Self, E>` with `E: Display`
/// (`Err(e)` stops with [`ExitReason::Error`]), or `Init<Self>` itself.
pub enum Init<S> {
    /// Start serving with this state.
    Ready(S),
    /// Do not start, and do not count it as a failure: `start` fails with
    /// [`StartError::Ignored`](crate::StartError::Ignored), and a supervisor records
    /// the child as not running.
    Ignore,
    /// Do not start: `start` fails with [`StartError::Init`](crate::StartError::Init)
    /// and this reason.
    Stop(ExitReason),
}

impl<S> fmt::Debug for Init<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Ready(_) => f.write_str("Ready(..)"),
            Init::Ignore => f.write_str("Ignore"),
            Init::Stop(reason) => f.debug_tuple("Stop").field(reason).finish(),
        }
    }
}

/// The return types an `#[init]` handler may have.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[init]` must return `Self`, `Result<Self, E>` with `E: Display`, or `gensrv::Init<Self>`",
    label = "this is `{Self}`"
)]
pub trait IntoInit<S> {
    fn into_init(self) -> Init<S>;
}

impl<S> IntoInit<S> for Init<S> {
    fn into_init(self) -> Init<S> {
        self
    }
}

impl<S, E: fmt::Display> IntoInit<S> for Result<S, E> {
    fn into_init(self) -> Init<S> {
        match self {
            Ok(state) => Init::Ready(state),
            Err(e) => Init::Stop(ExitReason::Error(e.to_string())),
        }
    }
}

impl<S: GenServer> IntoInit<S> for S {
    fn into_init(self) -> Init<S> {
        Init::Ready(self)
    }
}
