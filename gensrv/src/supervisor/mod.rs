//! Supervision trees: OTP's `supervisor`, and Elixir's `DynamicSupervisor`.
//!
//! A supervisor is a server that starts other servers, its children, links them
//! to itself, and restarts them when they end, as their [`ChildSpec`] and its
//! [`Strategy`] say; it stops them, last started first, when it stops. A child can
//! be a supervisor, so supervisors make trees of any depth; a supervisor is a
//! process like any other, which can be named, linked, monitored and supervised.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv::gen_server;
//! use gensrv::supervisor::{Strategy, Supervisor};
//!
//! /// Counts, and forgets its count when it crashes.
//! #[derive(Clone, Default)]
//! pub struct Counter {
//!     n: u64,
//! }
//!
//! #[gen_server]
//! impl Counter {
//!     #[call]
//!     fn bump(&mut self) -> u64 {
//!         self.n += 1;
//!         self.n
//!     }
//!
//!     #[cast]
//!     fn crash(&mut self) {
//!         panic!("asked to crash");
//!     }
//! }
//!
//! let sup = Supervisor::start(
//!     Supervisor::new(Strategy::OneForOne)
//!         .child(Counter::child_spec(Counter::default()).with_name("counter")),
//! )
//! .await
//! .unwrap();
//!
//! let counter = Counter::whereis("counter").unwrap();
//! assert_eq!(counter.bump().await, Ok(1));
//! counter.crash().unwrap();
//! counter.exited().await;
//!
//! // The supervisor started a new one, under the same name.
//! let restarted = loop {
//!     match Counter::whereis("counter") {
//!         Some(new) if new != counter => break new,
//!         _ => tokio::task::yield_now().await,
//!     }
//! };
//! assert_eq!(restarted.bump().await, Ok(1));
//! assert_eq!(sup.count_children().await.unwrap().active, 1);
//! # }
//! ```
//!
//! # Changing the children at run time
//!
//! [`SupervisorRef`] and [`DynamicSupervisorRef`] start, terminate, restart,
//! delete and list children, as OTP's `supervisor` module does. Each operation is
//! a [`Request`], awaited to a `Result` with one error type per operation
//! ([`StartChildError`], [`TerminateChildError`], [`RestartChildError`],
//! [`DeleteChildError`]) that also says when the supervisor could not answer.
//! As OTP's supervisor calls, a request waits as long as the supervisor takes:
//! one that stops a child waits as long as that child's [`Shutdown`] allows,
//! not a call's default 5 s; [`Request::timeout`] bounds the wait. Ids are
//! anything `Into<String>`. A child started from a [`TypedChildSpec`] (what the
//! generated `Foo::child_spec` gives) comes back as its typed handle, one from a
//! plain [`ChildSpec`] as its pid.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # use gensrv::gen_server;
//! use gensrv::supervisor::{Strategy, Supervisor, TerminateChildError};
//!
//! # #[derive(Clone)]
//! # pub struct Cache;
//! # #[gen_server]
//! # impl Cache {
//! #     #[call]
//! #     fn size(&self) -> usize { 0 }
//! # }
//! let sup = Supervisor::start(Supervisor::new(Strategy::OneForOne))
//!     .await
//!     .unwrap();
//! let cache: CacheRef = sup
//!     .start_child(Cache::child_spec(Cache).with_id("cache"))
//!     .await
//!     .unwrap()
//!     .expect("its init does not ignore the start");
//! assert_eq!(cache.size().await, Ok(0));
//! sup.terminate_child("cache").await.unwrap();
//! assert!(!cache.is_alive());
//! assert_eq!(
//!     sup.terminate_child("nothing").await,
//!     Err(TerminateChildError::NotFound)
//! );
//! # }
//! ```
//!
//! # Running a tree until the program is told to stop
//!
//! [`run_until_signal`] runs a tree until the program gets SIGINT or SIGTERM,
//! then stops it gracefully, children before parents, each within its
//! [`Shutdown`], and returns once all have ended: OTP's `init:stop()`, which an
//! Erlang node runs on SIGTERM. [`run_until`] does the same with any future as
//! the trigger, and [`shutdown_signal`] installs the signal handlers ahead of time.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv::supervisor::{self, Ended, Strategy, Supervisor};
//!
//! let sup = Supervisor::start(Supervisor::new(Strategy::OneForOne))
//!     .await
//!     .unwrap();
//! // In a real program: `supervisor::run_until_signal(&sup).await?`.
//! let (stop, stop_asked) = tokio::sync::oneshot::channel::<&str>();
//! stop.send("done").unwrap();
//! let ended = supervisor::run_until(&sup, stop_asked).await;
//! assert_eq!(ended, Ended::Stopped { trigger: Ok("done"), stop: Ok(()) });
//! # }
//! ```

mod child;
mod dynamic;
mod error;
mod request;
mod run;
mod spec;
mod static_sup;
mod strategy;

use std::any::TypeId;

#[doc(inline)]
pub use child::TryAgain;
#[doc(inline)]
pub use dynamic::{
    DynamicSupervisor, DynamicSupervisorCall, DynamicSupervisorCast, DynamicSupervisorInfo,
    DynamicSupervisorRef,
};
#[doc(inline)]
pub use error::{DeleteChildError, RestartChildError, StartChildError, TerminateChildError};
#[doc(inline)]
pub use request::Request;
#[doc(inline)]
pub use run::{Ended, Signal, run_until, run_until_signal, shutdown_signal};
#[doc(inline)]
pub use spec::{
    ChildCount, ChildInfo, ChildKind, ChildSpec, Restart, Shutdown, StartChild, TypedChildSpec,
};
#[doc(inline)]
pub use static_sup::{Supervisor, SupervisorCall, SupervisorCast, SupervisorInfo, SupervisorRef};
#[doc(inline)]
pub use strategy::Strategy;

/// Whether `S` is one of the supervisors: its child specs default to OTP's
/// supervisor child type (no shutdown timeout).
fn is_supervisor<S: 'static>() -> bool {
    let id = TypeId::of::<S>();
    id == TypeId::of::<Supervisor>() || id == TypeId::of::<DynamicSupervisor>()
}
