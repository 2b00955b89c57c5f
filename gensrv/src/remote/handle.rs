//! Servers whose messages travel ([`Remote`]), and the handles to servers on
//! other nodes: what a [`ServerRef`] holds when its server is not local.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::node::{Node, NodeId, RemoteCallError};
use super::proxy::Proxy;
use super::wire::{Put, Refusal};
use crate::process::{self, AnyProcess};
use crate::{Call, CallError, CastError, ExitReason, GenServer, Pid, ReplyTo, ServerRef};

/// The reply a server's wire dispatch gives: its encoded reply, once the call is done.
pub type RemoteReply = Pin<Box<dyn Future<Output = Result<Vec<u8>, Refusal>> + Send>>;

/// A server whose calls can come from other nodes.
///
/// `#[gen_server(remote)]` writes this. By hand:
/// decode the body into the server's wire message (its call enum without the
/// `ReplyTo`s) with [`from_body`](super::from_body), make the call through
/// `server`, and encode the reply with [`to_body`](super::to_body).
pub trait Remote: GenServer {
    /// A hash of the server's wire messages and replies: two nodes talk to a server
    /// only if they agree on it.
    const FINGERPRINT: u64;

    /// Decodes one call from the wire and sends it to `server`. An `Err` (a body
    /// that does not decode) is sent back to the caller; so is an `Err` of the
    /// future (the call failed).
    fn dispatch_call(server: &ServerRef<Self>, body: &[u8]) -> Result<RemoteReply, Refusal>;

    /// Decodes one cast from the wire and sends it to `server`. An `Err` is logged
    /// (a cast has no one to answer).
    fn dispatch_cast(server: &ServerRef<Self>, body: &[u8]) -> Result<(), Refusal>;

    /// Takes a call message apart, on the caller's node: the body of its wire
    /// message, and where its reply goes ([`ReplySink::new`] of its `ReplyTo`,
    /// which knows how to decode the reply type of that variant).
    fn split_call(call: Self::Call) -> Result<(Vec<u8>, ReplySink), Refusal>;

    /// Encodes a cast for the wire, on the caller's node: the body
    /// [`dispatch_cast`](Remote::dispatch_cast) decodes there.
    fn encode_cast(cast: Self::Cast) -> Result<Vec<u8>, Refusal>;
}

/// Where the reply of a call to another node goes: the call's `ReplyTo`, with
/// the decoding of its reply type. Made by [`Remote::split_call`].
pub struct ReplySink(Box<Deliver>);

/// Decodes and delivers a reply, or fails the call.
type Deliver = dyn FnOnce(Result<&[u8], CallError>) + Send;

impl ReplySink {
    /// The sink of a call whose reply is an `R`.
    pub fn new<R>(reply_to: ReplyTo<R>) -> ReplySink
    where
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        ReplySink(Box::new(move |reply| match reply {
            Ok(body) => match super::from_body::<R>(body) {
                Ok(reply) => {
                    let _ = reply_to.send(reply);
                }
                Err(refusal) => reply_to.fail_with(CallError::Refused(format!(
                    "the reply did not decode: {refusal}"
                ))),
            },
            Err(error) => reply_to.fail_with(error),
        }))
    }

    /// Delivers the encoded reply, or the call's error.
    pub(crate) fn deliver(self, reply: Result<&[u8], CallError>) {
        (self.0)(reply)
    }
}

impl fmt::Debug for ReplySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplySink")
    }
}

/// What a call to another node failed with, as its caller sees it.
pub(crate) fn call_error(error: RemoteCallError) -> CallError {
    match error {
        RemoteCallError::NoConnection => CallError::Exited(ExitReason::NoConnection),
        RemoteCallError::Timeout => CallError::Timeout,
        RemoteCallError::Refused(Refusal::NoProc) => CallError::NoProc,
        RemoteCallError::Refused(Refusal::Failed(error)) => error,
        RemoteCallError::Refused(refusal) => CallError::Refused(refusal.to_string()),
        RemoteCallError::Zenoh(error) => CallError::Refused(format!("zenoh: {error}")),
    }
}

/// A call taken apart: its wire body, and where its reply goes.
pub(crate) type Split = (Vec<u8>, ReplySink);

/// How the messages of a server of type `S` travel: the functions of its
/// [`Remote`] impl, for code that is generic over any server. What
/// [`GenServer::__remote`] gives. Not a public API.
#[doc(hidden)]
pub struct Vtable<S: GenServer> {
    pub(crate) fingerprint: u64,
    pub(crate) dispatch_call: fn(&ServerRef<S>, &[u8]) -> Result<RemoteReply, Refusal>,
    pub(crate) dispatch_cast: fn(&ServerRef<S>, &[u8]) -> Result<(), Refusal>,
    pub(crate) split_call: fn(S::Call) -> Result<Split, Refusal>,
    pub(crate) encode_cast: fn(S::Cast) -> Result<Vec<u8>, Refusal>,
}

impl<S: Remote> Vtable<S> {
    /// The functions of `S`'s [`Remote`] impl.
    pub fn of() -> Self {
        Vtable {
            fingerprint: S::FINGERPRINT,
            dispatch_call: S::dispatch_call,
            dispatch_cast: S::dispatch_cast,
            split_call: S::split_call,
            encode_cast: S::encode_cast,
        }
    }
}

impl<S: GenServer> Clone for Vtable<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: GenServer> Copy for Vtable<S> {}

impl<S: GenServer> fmt::Debug for Vtable<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vtable({:#018x})", self.fingerprint)
    }
}

/// Puts a cast from another node in `server`'s mailbox. A full bounded mailbox
/// does not refuse it, as it refuses a local cast (`CastError::Full`): the
/// sender, on its node, cannot be told, and a cast is never dropped silently.
/// It waits in line for room instead, as a call does, in order. Not a public
/// API: what the generated `dispatch_cast` calls.
#[doc(hidden)]
pub fn deliver_cast<S: GenServer>(server: &ServerRef<S>, cast: S::Cast) -> Result<(), Refusal> {
    let Some(process) = server.local() else {
        return server
            .cast(cast)
            .map_err(|e| Refusal::BadMessage(e.to_string()));
    };
    match process
        .mailbox
        .send_call(crate::mailbox::Envelope::Cast(cast))
    {
        Ok(_) => Ok(()),
        Err(envelope) => {
            // Dropped here, outside the mailbox's lock.
            drop(envelope);
            Err(Refusal::NoProc)
        }
    }
}

/// The wire functions of `S` for a request made against `fingerprint`, or why
/// the request is refused.
pub(crate) fn vtable_for<S: GenServer>(fingerprint: u64) -> Result<Vtable<S>, Refusal> {
    let vtable =
        S::__remote().ok_or_else(|| Refusal::NotRemote(std::any::type_name::<S>().into()))?;
    if vtable.fingerprint != fingerprint {
        return Err(Refusal::Fingerprint {
            sender: fingerprint,
            server: vtable.fingerprint,
        });
    }
    Ok(vtable)
}

/// A server of type `S` on another node, as a [`ServerRef`] holds it.
pub(crate) struct RemoteServer<S: GenServer> {
    node: Node,
    at: NodeId,
    pid: Pid,
    /// The local stand-in of the server: ends when it does, or when its node goes.
    proxy: Arc<Proxy>,
    vtable: Vtable<S>,
}

impl<S: GenServer> RemoteServer<S> {
    /// The handle of the server `pid` of another node, if `S`'s messages travel
    /// and the node is known here.
    pub(crate) fn from_pid(pid: Pid) -> Option<Self> {
        let vtable = S::__remote()?;
        let (node, at) = Node::of_slot(pid.slot())?;
        let proxy = node.proxy(pid, &at);
        Some(RemoteServer {
            node,
            at,
            pid,
            proxy,
            vtable,
        })
    }

    /// A handle that points at a process of `node` itself which had ended by the
    /// time its handle came back: every request to it goes through the node, and
    /// finds no such process.
    pub(crate) fn gone(node: &Node, pid: Pid) -> Option<Self> {
        let vtable = S::__remote()?;
        let at = node.id().clone();
        let proxy = Proxy::ended(node, pid, &at, ExitReason::NoProc);
        Some(RemoteServer {
            node: node.clone(),
            at,
            pid,
            proxy,
            vtable,
        })
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.proxy.core().exit_reason().is_none()
    }

    pub(crate) fn proxy(&self) -> Arc<dyn AnyProcess> {
        self.proxy.clone()
    }

    pub(crate) fn kill(&self) {
        let from = process::current_pid().unwrap_or(Pid::EXTERNAL);
        process::exit_signal(&*self.proxy, from, ExitReason::Killed, false);
    }

    /// A call, as [`ServerRef::call`] makes it: the message is encoded here, on
    /// the caller's task, and on its way (in order after this node's earlier
    /// requests to that node) when this returns.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        make: impl FnOnce(ReplyTo<R>) -> S::Call,
    ) -> Call<R> {
        if let Some(reason) = self.proxy.core().exit_reason() {
            return Call::failed(match reason {
                ExitReason::NoConnection => CallError::Exited(reason),
                _ => CallError::NoProc,
            });
        }
        let (sender, receiver) = oneshot::channel();
        let message = make(ReplyTo::new(sender));
        let split = super::with_node(&self.node, || (self.vtable.split_call)(message));
        let (body, sink) = match split {
            Ok(split) => split,
            Err(refusal) => return Call::failed(CallError::Refused(refusal.to_string())),
        };
        let index = self.pid.index();
        self.node
            .send_call(&self.at, index, self.vtable.fingerprint, body, sink);
        // Not watched here, deferred or not: the node there makes the call as a
        // local one (a deferred call there watches its server), and its outcome,
        // the reply or the server's end, comes back through the query, in the
        // order it happened there. The server's `Down` travels apart and may
        // overtake a reply sent just before the end. The server's node going
        // is `NoConnection` from the query's own watch.
        Call::sent(receiver, self.pid, None)
    }

    pub(crate) fn cast(&self, cast: S::Cast) -> Result<(), CastError> {
        if self.proxy.core().exit_reason().is_some() {
            return Err(CastError::NoProc);
        }
        let body = super::with_node(&self.node, || (self.vtable.encode_cast)(cast))
            .map_err(|refusal| CastError::Refused(refusal.to_string()))?;
        self.node.send_put(
            &self.at,
            &Put::Cast {
                to: self.pid.index(),
                fingerprint: self.vtable.fingerprint,
                body,
            },
        );
        Ok(())
    }
}
