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

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::{Pid, registry};

/// What a process is tied to, at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// The process.
    pub pid: Pid,
    /// Its registered name, if any.
    pub name: Option<String>,
    /// The server's type, as `std::any::type_name` writes it.
    pub server: &'static str,
    /// The messages waiting in its mailbox.
    pub mailbox_len: usize,
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
        server: process.server_type(),
        mailbox_len: process.mailbox_len(),
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

/// The running processes as a tree of text, each under the process that started
/// it linked (its [`parent`](ProcessInfo::parent)): a supervision tree reads as
/// supervisors with their children below them. One line per process: its pid,
/// name, server type and mailbox length. Processes without a running parent are
/// roots, in pid order.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use gensrv::gen_server;
///
/// struct Lone;
///
/// #[gen_server]
/// impl Lone {}
///
/// let lone = Lone::start(Lone).name("lone").await.unwrap();
/// let tree = gensrv::process_tree();
/// assert!(tree.lines().any(|line| line.starts_with(&format!("{} lone ", lone.pid()))));
/// # }
/// ```
pub fn process_tree() -> String {
    process_tree_with(|_| String::new())
}

/// [`process_tree`], with `describe`'s text at the end of each process's line
/// (its statistics, say).
pub fn process_tree_with(mut describe: impl FnMut(&ProcessInfo) -> String) -> String {
    let infos: BTreeMap<Pid, ProcessInfo> = processes()
        .into_iter()
        .filter_map(process_info)
        .map(|info| (info.pid, info))
        .collect();
    let mut children: BTreeMap<Pid, Vec<Pid>> = BTreeMap::new();
    let mut roots = Vec::new();
    for info in infos.values() {
        match info.parent.filter(|parent| infos.contains_key(parent)) {
            Some(parent) => children.entry(parent).or_default().push(info.pid),
            None => roots.push(info.pid),
        }
    }
    let mut out = String::new();
    let mut stack: Vec<(Pid, String, &str)> = roots
        .iter()
        .rev()
        .map(|pid| (*pid, String::new(), ""))
        .collect();
    while let Some((pid, indent, branch)) = stack.pop() {
        let info = &infos[&pid];
        let extra = describe(info);
        let _ = write!(
            out,
            "{indent}{branch}{pid} {} {} mailbox {}",
            info.name.as_deref().unwrap_or("-"),
            info.server,
            info.mailbox_len
        );
        if !extra.is_empty() {
            let _ = write!(out, " {extra}");
        }
        out.push('\n');
        let below = match branch {
            "" => indent,
            "\u{251c}\u{2500} " => format!("{indent}\u{2502}  "),
            _ => format!("{indent}   "),
        };
        let kids = children.get(&pid).map(Vec::as_slice).unwrap_or_default();
        for (i, kid) in kids.iter().enumerate().rev() {
            let branch = if i + 1 == kids.len() {
                "\u{2514}\u{2500} "
            } else {
                "\u{251c}\u{2500} "
            };
            stack.push((*kid, below.clone(), branch));
        }
    }
    out
}
