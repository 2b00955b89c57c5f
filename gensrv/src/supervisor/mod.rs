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
//!         .child(Counter::child_spec(Counter::default()).name("counter")),
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

mod child;
mod dynamic;
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
pub use spec::{ChildCount, ChildError, ChildInfo, ChildKind, ChildSpec, Restart, Shutdown};
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
