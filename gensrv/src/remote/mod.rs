//! Distribution over Zenoh (feature `remote`): servers on other OS processes and
//! machines, behind the same typed handles as local ones.
//!
//! A [`Node`] is an embedded Zenoh peer with a runtime of its own. A server
//! whose messages travel (`#[gen_server(remote)]`, which implements [`Remote`])
//! can be called from any node that holds its handle: a [`FooRef`-style
//! handle](crate::ServerRef) found by its cluster-wide name
//! ([`ServerRef::whereis_global`](crate::ServerRef::whereis_global), generated
//! as `Foo::whereis_global`), made from a [`Pid`](crate::Pid) that names
//! another node, or received inside a message. Calls and casts keep their order
//! per sender; a call fails at once with `Exited(NoConnection)` when the
//! server's node is gone, with `NoProc` when the server is; every request
//! carries a fingerprint of the server's message types, and a node answers a
//! request it cannot take (garbage, an unknown pid, another version of the
//! server) with a [`Refusal`], never a crash.
//!
//! Monitors, links, exit signals and `exited()` work across nodes (each remote
//! process has a local stand-in that mirrors its life); when a node goes, they
//! all see `ExitReason::NoConnection`. Global names ([`Node::register_global`])
//! are liveliness tokens: they vanish with their server or their node, and a
//! clash ends the holder on the higher node id.
//!
//! Two nodes in one process, for the example (each OS process has one, usually):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//!
//! use gensrv::remote::{Node, NodeConfig};
//! use gensrv::{ExitReason, gen_server};
//!
//! #[derive(Default)]
//! struct Counter(u64);
//!
//! #[gen_server(remote)]
//! impl Counter {
//!     #[call]
//!     fn add(&mut self, n: u64) -> u64 {
//!         self.0 += n;
//!         self.0
//!     }
//! }
//!
//! // The first node listens on 127.0.0.1 (a free port, by default), the second
//! // connects to it. Any endpoint Zenoh takes will do: tcp/10.0.0.7:7447, ...
//! let port = std::net::TcpListener::bind("127.0.0.1:0")
//!     .and_then(|l| l.local_addr())
//!     .unwrap()
//!     .port();
//! let endpoint = format!("tcp/127.0.0.1:{port}");
//! let here = Node::start(NodeConfig::default().listen([endpoint.clone()])).await.unwrap();
//! let there = Node::start(NodeConfig::default().connect(endpoint)).await.unwrap();
//! assert!(there.wait_for(here.id(), Duration::from_secs(10)).await);
//!
//! let counter = Counter::start(Counter::default()).await.unwrap();
//! here.register_global(&counter, "counter").await.unwrap();
//!
//! // From the other node: a `CounterRef` like any other.
//! let mut found = None;
//! for _ in 0..500 {
//!     found = Counter::whereis_global(&there, "counter").await;
//!     if found.is_some() {
//!         break;
//!     }
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! let remote = found.expect("the name is seen within 5 s");
//! assert_eq!(remote.pid().node().as_ref(), Some(here.id()));
//! assert_eq!(remote.add(2).await, Ok(2));
//! assert_eq!(remote.add(40).await, Ok(42));
//!
//! remote.stop().reason(ExitReason::Shutdown).await.unwrap();
//! assert_eq!(counter.exited().await, ExitReason::Shutdown);
//! # }
//! ```
//!
//! (A name that has just been registered is seen by other nodes once its token
//! reaches them: within milliseconds on one machine, hence the short poll.)
//!
//! `DISTRIBUTION.md` has the design, the wire format and what is left.

mod depth;
mod handle;
mod node;
mod proxy;
mod wire;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};

pub use handle::{Remote, RemoteReply, ReplySink, Vtable, deliver_cast};
pub use node::{Mode, NameError, Node, NodeConfig, NodeError, NodeId, RemoteCallError};
pub use wire::{Refusal, from_body, to_body};

pub(crate) use handle::{RemoteServer, vtable_for};
pub(crate) use proxy::Proxy;

/// Nodes this process knows, each seen from one local node: a pid's slot.
struct Slots {
    /// Slot `i + 1`: the local node, and the other node.
    nodes: Vec<(Weak<node::Inner>, NodeId)>,
}

static SLOTS: Mutex<Slots> = Mutex::new(Slots { nodes: Vec::new() });

fn slots() -> std::sync::MutexGuard<'static, Slots> {
    SLOTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The slot of node `at` as `node` sees it, made if need be. (About 65 000
/// slots: a process that meets more nodes than that reuses the last one, and
/// says so.)
pub(crate) fn slot_of(node: &Node, at: &NodeId) -> u16 {
    let mut slots = slots();
    let me = Arc::downgrade(node.inner());
    if let Some(i) = slots
        .nodes
        .iter()
        .position(|(local, other)| other == at && Weak::ptr_eq(local, &me))
    {
        return (i + 1) as u16;
    }
    if slots.nodes.len() >= usize::from(u16::MAX) {
        tracing::error!(node = %at, "too many nodes for pids to name: pids of this one are wrong");
        return u16::MAX;
    }
    slots.nodes.push((me, at.clone()));
    slots.nodes.len() as u16
}

/// The local node and the other node of a slot, while the local node lives.
pub(crate) fn resolve_slot(slot: u16) -> Option<(Node, NodeId)> {
    let slots = slots();
    let (local, at) = slots.nodes.get(usize::from(slot).checked_sub(1)?)?;
    Some((Node::from_inner(local.upgrade()?), at.clone()))
}

/// The node of a pid that is not local.
pub(crate) fn node_of(pid: crate::Pid) -> Option<NodeId> {
    if pid.is_local() {
        return None;
    }
    resolve_slot(pid.slot()).map(|(_, at)| at)
}

/// The local stand-in of the process `pid` of another node.
pub(crate) fn proxy_of(pid: crate::Pid) -> Option<Arc<dyn crate::process::AnyProcess>> {
    let (node, at) = resolve_slot(pid.slot())?;
    Some(node.proxy(pid, &at))
}

/// Whether a node has ever started in this process: until then, ends are not
/// recorded.
static NODES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The last local processes that ended, and why: how a node answers a link's
/// proxy for a process that ended as the link was being made (see
/// `Put::Monitor`). A few hundred: the race is one of microseconds.
static ENDED: Mutex<std::collections::VecDeque<(u64, crate::ExitReason)>> =
    Mutex::new(std::collections::VecDeque::new());

const ENDED_KEPT: usize = 512;

pub(crate) fn nodes_started() {
    NODES.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Records the end of the local process `pid`, once a node has started: called
/// as a process ends, before its pid leaves the table.
pub(crate) fn record_end(pid: crate::Pid, reason: &crate::ExitReason) {
    if !pid.is_local() || !NODES.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut ended = ENDED.lock().unwrap_or_else(PoisonError::into_inner);
    if ended.len() == ENDED_KEPT {
        ended.pop_front();
    }
    ended.push_back((pid.index(), reason.clone()));
}

/// Why the local process numbered `index` ended, if it did lately.
pub(crate) fn recent_end(index: u64) -> Option<crate::ExitReason> {
    let ended = ENDED.lock().unwrap_or_else(PoisonError::into_inner);
    ended
        .iter()
        .rev()
        .find(|(ended, _)| *ended == index)
        .map(|(_, reason)| reason.clone())
}

thread_local! {
    /// The node whose messages are being encoded or decoded on this thread.
    static SCOPE: RefCell<Vec<Node>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `node` as the node that pids and handles are encoded for or
/// decoded from.
pub(crate) fn with_node<T>(node: &Node, f: impl FnOnce() -> T) -> T {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPE.with(|scope| scope.borrow_mut().pop());
        }
    }
    SCOPE.with(|scope| scope.borrow_mut().push(node.clone()));
    let _pop = Pop;
    f()
}

/// The node of the innermost [`with_node`].
pub(crate) fn current_node() -> Option<Node> {
    SCOPE.with(|scope| scope.borrow().last().cloned())
}

pin_project_lite::pin_project! {
    /// A future polled inside [`with_node`]: a reply encoded as it is made.
    /// It holds its node weakly: a call being served does not keep a node
    /// whose last handle is dropped (polled once its node is gone, it runs
    /// outside any node, and a pid in its reply fails to encode).
    pub(crate) struct Scoped<F> {
        node: Weak<node::Inner>,
        #[pin]
        future: F,
    }
}

impl<F> Scoped<F> {
    pub(crate) fn new(node: &Node, future: F) -> Self {
        Scoped {
            node: Arc::downgrade(node.inner()),
            future,
        }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        match this.node.upgrade() {
            Some(inner) => with_node(&Node::from_inner(inner), || this.future.poll(cx)),
            None => this.future.poll(cx),
        }
    }
}

/// A pid travels as its node's id and its number there: encoded and decoded
/// only inside a node's messages (a pid encoded anywhere else is an error, not
/// a wrong pid).
impl serde::Serialize for crate::Pid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let node = current_node().ok_or_else(|| {
            S::Error::custom(wire::why("a Pid travels only in a gensrv node's messages"))
        })?;
        // A pid that another node of this process names (a handle received
        // through one node, passed on through another) is still the process of
        // the node it names.
        let wire = node
            .wire_pid(*self)
            .or_else(|| {
                Some(wire::WirePid {
                    node: node_of(*self)?,
                    index: self.index(),
                })
            })
            .ok_or_else(|| {
                S::Error::custom(wire::why("a Pid of a node this node does not know"))
            })?;
        serde::Serialize::serialize(&wire, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for crate::Pid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire: wire::WirePid = serde::Deserialize::deserialize(deserializer)?;
        let node = current_node().ok_or_else(|| {
            D::Error::custom(wire::why("a Pid travels only in a gensrv node's messages"))
        })?;
        Ok(node.pid_at(&wire.node, wire.index))
    }
}

/// A handle travels as its server's pid and the fingerprint of its messages. A
/// handle that comes back to its own node is a local handle again (or, if its
/// server has ended, one whose requests all find no such process).
impl<S: Remote> serde::Serialize for crate::ServerRef<S> {
    fn serialize<Se: serde::Serializer>(&self, serializer: Se) -> Result<Se::Ok, Se::Error> {
        serde::Serialize::serialize(&(self.pid(), S::FINGERPRINT), serializer)
    }
}

impl<'de, S: Remote> serde::Deserialize<'de> for crate::ServerRef<S> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (pid, fingerprint): (crate::Pid, u64) = serde::Deserialize::deserialize(deserializer)?;
        if fingerprint != S::FINGERPRINT {
            return Err(D::Error::custom(Refusal::Fingerprint {
                sender: fingerprint,
                server: S::FINGERPRINT,
            }));
        }
        if let Some(server) = crate::ServerRef::from_pid(pid) {
            return Ok(server);
        }
        let node = current_node().ok_or_else(|| {
            D::Error::custom(wire::why(
                "a handle travels only in a gensrv node's messages",
            ))
        })?;
        RemoteServer::gone(&node, pid)
            .map(crate::ServerRef::from_remote)
            .ok_or_else(|| D::Error::custom(wire::why("the server's messages do not travel")))
    }
}
