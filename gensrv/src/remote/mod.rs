//! Distribution over Zenoh (feature `remote`): servers on other OS processes and
//! machines, called by pid.
//!
//! This is the first slice of the design in `DISTRIBUTION.md`: a [`Node`] is an
//! embedded Zenoh peer with a runtime of its own; a server whose messages can
//! travel ([`Remote`], written by hand for now, by `#[gen_server(remote)]` later)
//! is [exported](Node::export) under a [`RemotePid`], and another node calls it,
//! typed ([`Node::call`], through gensrv's own [`Call`](crate::Call)) or not
//! ([`Node::call_raw`], [`Node::cast_raw`]), in the order the calls and casts
//! were made. Every request carries a fingerprint of the server's message types,
//! and a node answers a request it cannot take (garbage, an unknown pid, another
//! version of the server) with a [`Refusal`], never a crash.
//!
//! Cluster-wide names ([`Node::register_global`], [`Node::whereis_global`]) are
//! liveliness tokens: they vanish with their server or their node, and a clash
//! ends the holder on the higher node id.
//!
//! Not here yet: typed handles (`FooRef`) to remote servers, `Pid` with a node,
//! monitors and links across nodes.

mod node;
mod wire;

pub use node::{
    NameError, Node, NodeConfig, NodeError, NodeId, Remote, RemoteCallError, RemotePid,
    RemoteReply, ReplySink,
};
pub use wire::{Refusal, from_body, to_body};
