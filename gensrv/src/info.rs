//! Introspection: which processes run, and how they are tied together (OTP's
//! `processes/0` and `process_info/2`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv::{gen_server, Context, Pid};
//!
//! struct Node;
//!
//! #[gen_server]
//! impl Node {
//!     #[call]
//!     fn link_to(&self, other: Pid, ctx: &mut Context<Self>) {
//!         ctx.link(&other);
//!     }
//! }
//!
//! let a = Node::start(Node).name("a").await.unwrap();
//! let b = Node::start(Node).await.unwrap();
//! a.link_to(b.pid()).await.unwrap();
//!
//! let info = gensrv::process_info(a.pid()).unwrap();
//! assert_eq!(info.name.as_deref(), Some("a"));
//! assert_eq!(info.links, vec![b.pid()]);
//! assert!(gensrv::processes().contains(&b.pid()));
//! # }
//! ```

use crate::{Pid, registry};

/// What a process is tied to, at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// The process.
    pub pid: Pid,
    /// Its registered name, if any.
    pub name: Option<String>,
    /// The process that started it linked, if any (OTP's parent).
    pub parent: Option<Pid>,
    /// The processes it is linked to.
    pub links: Vec<Pid>,
    /// The processes it monitors, once per monitor.
    pub monitors: Vec<Pid>,
    /// The processes that monitor it, once per monitor.
    pub monitored_by: Vec<Pid>,
}

/// What `pid` is tied to, if it runs (OTP's `process_info/2`). The lists are in
/// no particular order.
pub fn process_info(pid: Pid) -> Option<ProcessInfo> {
    let process = registry::by_pid(pid)?;
    let core = process.core();
    let relations = core.relations_info();
    Some(ProcessInfo {
        pid,
        name: core.name().map(str::to_string),
        parent: core.parent(),
        links: relations.links,
        monitors: relations.monitors,
        monitored_by: relations.monitored_by,
    })
}

/// The pids of all running servers, in no particular order (OTP's `processes/0`).
pub fn processes() -> Vec<Pid> {
    registry::pids()
}
