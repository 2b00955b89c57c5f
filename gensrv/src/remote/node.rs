//! [`Node`]: an embedded Zenoh peer, on a runtime of its own, that serves the
//! exported servers of this process and calls those of other nodes.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use zenoh::qos::CongestionControl;
use zenoh::query::{ConsolidationMode, Query};
use zenoh::sample::Sample;

use super::handle::{RemoteReply, ReplySink, call_error};
use super::proxy::{Proxy, Sink};
use super::wire::{self, Put, Refusal, Request, WirePid};
use crate::process::AnyProcess;
use crate::{CallError, ExitReason, GenServer, Pid, ServerRef};

/// How a node joins the cluster.
///
/// The default is an embedded peer that listens on a free port of 127.0.0.1 only,
/// connects to no one, and does not scout (no multicast): nothing is reachable from
/// another machine unless a listen endpoint says so.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    listen: Vec<String>,
    connect: Vec<String>,
    cluster: String,
    mode: Mode,
    lease: Option<Duration>,
}

/// How a node takes part in the Zenoh network: Zenoh's own modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// An embedded peer (the default): talks to the other peers directly, and
    /// listens for them.
    #[default]
    Peer,
    /// A client of a router (`zenohd`, or a node in peer mode it connects to):
    /// everything goes through that one; it listens on nothing. Needs a
    /// [`connect`](NodeConfig::connect) endpoint.
    Client,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: vec!["tcp/127.0.0.1:0".into()],
            connect: Vec::new(),
            cluster: "gensrv".into(),
            mode: Mode::Peer,
            lease: None,
        }
    }
}

impl NodeConfig {
    /// Listens on these Zenoh endpoints (`tcp/127.0.0.1:7447`) instead of a free
    /// port of 127.0.0.1.
    pub fn listen<I: IntoIterator<Item = S>, S: Into<String>>(mut self, endpoints: I) -> Self {
        self.listen = endpoints.into_iter().map(Into::into).collect();
        self
    }

    /// Connects to the node (or router) listening on `endpoint` at start.
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.connect.push(endpoint.into());
        self
    }

    /// Names the cluster: nodes see only the nodes of their own cluster (the
    /// first chunk of every key). A single key chunk: no `/`, `*`, `$`, `?`, `#`.
    pub fn cluster(mut self, name: impl Into<String>) -> Self {
        self.cluster = name.into();
        self
    }

    /// Joins as a peer (the default) or as a client of a router.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// How long the other nodes wait, when this one falls silent (frozen, or cut
    /// off with its connections still open), before they take it as gone:
    /// Zenoh's link lease, announced to them (10 s by default; at least 100 ms).
    /// A node that dies or closes its connections is seen gone at once, whatever
    /// the lease. Keep-alives go 4 times a lease.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease.max(Duration::from_millis(100)));
        self
    }

    fn zenoh(&self) -> Result<zenoh::Config, NodeError> {
        let mut config = zenoh::Config::default();
        let json = |v: &[String]| format!("{v:?}");
        let (mode, listen) = match self.mode {
            Mode::Peer => ("\"peer\"", json(&self.listen)),
            Mode::Client => {
                if self.connect.is_empty() {
                    return Err(NodeError::Config(
                        "a client node needs an endpoint to connect to".into(),
                    ));
                }
                ("\"client\"", "[]".to_string())
            }
        };
        for (key, value) in [
            ("mode", mode.to_string()),
            ("listen/endpoints", listen),
            ("connect/endpoints", json(&self.connect)),
            ("scouting/multicast/enabled", "false".to_string()),
        ] {
            config
                .insert_json5(key, &value)
                .map_err(|e| NodeError::Config(format!("{key}: {e}")))?;
        }
        if let Some(lease) = self.lease {
            let millis = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
            config
                .insert_json5("transport/link/tx/lease", &millis.to_string())
                .map_err(|e| NodeError::Config(format!("lease: {e}")))?;
        }
        Ok(config)
    }
}

/// Why a node did not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The configuration was refused (a bad endpoint or cluster name).
    #[error("bad node config: {0}")]
    Config(String),
    /// Zenoh did not open (an endpoint could not be listened on, say).
    #[error("zenoh: {0}")]
    Zenoh(String),
}

/// Why a global name was not registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not a usable name: empty, or with one of `/ * $ ? #`.
    #[error("{0:?} cannot be a global name")]
    Invalid(String),
    /// The server has ended.
    #[error("no such process")]
    NoProc,
    /// Another node's server holds the name and wins over this claim (see
    /// [`Node::whereis_global`]): the server that claimed it has been ended.
    #[error("the name is taken by {0}")]
    Taken(Pid),
    /// Zenoh failed to declare the name.
    #[error("zenoh: {0}")]
    Zenoh(String),
}

/// A node's identity in the cluster: its Zenoh id, in hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NodeId(String);

/// Only what [`NodeId::parse`] takes: a node id from the network becomes part of
/// key expressions, where `*` or `/` would address other nodes than the one named.
impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NodeId::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a node id")))
    }
}

impl NodeId {
    /// Reads a node id printed by [`Display`](fmt::Display) (one key chunk of hex).
    pub fn parse(s: &str) -> Option<NodeId> {
        (!s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| NodeId(s.to_ascii_lowercase()))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.0)
    }
}

/// Why a call to another node failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RemoteCallError {
    /// No node answered for that node id (it is gone, or was never connected).
    #[error("no connection to the node")]
    NoConnection,
    /// No reply came within the timeout.
    #[error("call timed out")]
    Timeout,
    /// The node there refused or failed the call; why.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Zenoh failed to send the query.
    #[error("zenoh: {0}")]
    Zenoh(String),
}

/// A node: this OS process's member of the cluster.
///
/// Zenoh runs on a multi-thread tokio runtime the node owns (Zenoh's blocking
/// sections panic on a current-thread runtime), so servers and callers on any
/// runtime can use it. Cheap to clone; the node closes when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    id: NodeId,
    cluster: String,
    /// The stand-ins of other nodes' processes, and the watchers for theirs.
    relations: Arc<Relations>,
    /// This node's holders of global names.
    held: Arc<Held>,
    /// Held through each `register_global` of this node: its claims are made
    /// one after the other, so that of claims racing on one node exactly one
    /// is told it won (as Erlang's `global` lock).
    registering: tokio::sync::Mutex<()>,
    /// Which nodes have gone, and how often: see [`Departures`].
    departures: Arc<Departures>,
    /// The sender task of each node called or cast to: see [`Outgoing`].
    senders: Mutex<HashMap<NodeId, mpsc::UnboundedSender<Outgoing>>>,
    // Both taken only by `drop`.
    zenoh: Option<Zenoh>,
    runtime: Option<Runtime>,
}

/// What the node holds of Zenoh.
struct Zenoh {
    session: zenoh::Session,
    // Kept for as long as the node lives: dropping them undeclares them.
    _queryable: zenoh::query::Queryable<()>,
    _subscriber: zenoh::pubsub::Subscriber<()>,
    _names: zenoh::pubsub::Subscriber<()>,
    _nodes: zenoh::pubsub::Subscriber<()>,
    _token: zenoh::liveliness::LivelinessToken,
}

/// A request on its way to another node. Each node called gets one sender task,
/// fed by an unbounded channel, which hands requests to Zenoh in the order they
/// were made: order per sender holds across calls and casts, which a task per
/// request would not keep.
enum Outgoing {
    Call {
        frame: Vec<u8>,
        timeout: Duration,
        reply: oneshot::Sender<Result<Vec<u8>, RemoteCallError>>,
    },
    Cast {
        frame: Vec<u8>,
    },
}

/// The proxies of this node (see `proxy.rs`), by pid and by the key their
/// `Down` comes with, and the sinks that watch this node's processes for others.
#[derive(Default)]
pub(crate) struct Relations {
    proxies: Mutex<Proxies>,
    sinks: Mutex<HashMap<NodeId, Arc<Sink>>>,
}

#[derive(Default)]
struct Proxies {
    /// Weak: a proxy lives as long as something here holds it (a handle, a
    /// monitor, a link); one made again later asks its node anew.
    by_pid: HashMap<Pid, std::sync::Weak<Proxy>>,
    by_key: HashMap<u64, Pid>,
    /// The size of `by_pid` after its last sweep of dropped proxies.
    swept: usize,
    next_key: u64,
}

impl Relations {
    fn proxies(&self) -> std::sync::MutexGuard<'_, Proxies> {
        self.proxies.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sinks(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Arc<Sink>>> {
        self.sinks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the proxy `Down { key }` is for, if it stands for a process of
    /// node `from` (a `Down` from another node for it is dropped).
    fn down(&self, from: &NodeId, key: u64, reason: ExitReason) {
        let proxy = {
            let mut proxies = self.proxies();
            let Some(pid) = proxies.by_key.get(&key).copied() else {
                return;
            };
            let proxy = proxies.by_pid.get(&pid).and_then(|proxy| proxy.upgrade());
            // (A proxy is never dropped under the lock: its `Drop` may drop
            // the last handle of the node, whose `Drop` takes the lock.)
            if proxy.as_ref().is_some_and(|proxy| proxy.at() != from) {
                return drop((proxies, proxy));
            }
            proxies.by_key.remove(&key);
            proxies.by_pid.remove(&pid);
            proxy
        };
        if let Some(proxy) = proxy {
            proxy.end(reason);
        }
    }

    /// The process `pid` of node `from` ended with `reason` (its link's
    /// signal): its proxy here, if any, ends with it.
    fn link_exit(&self, from: &NodeId, pid: Pid, reason: ExitReason) {
        let proxy = {
            let mut proxies = self.proxies();
            let Some(proxy) = proxies.by_pid.get(&pid).and_then(|proxy| proxy.upgrade()) else {
                return;
            };
            if proxy.at() != from {
                // The lock first, then the proxy (see `down`).
                return drop((proxies, proxy));
            }
            proxies.by_pid.remove(&pid);
            proxies.by_key.remove(&proxy.key);
            proxy
        };
        proxy.end(reason);
    }

    /// `node` is gone: every proxy of its processes ends with `NoConnection`,
    /// and its sink goes.
    fn node_gone(&self, node: &NodeId) {
        self.unreachable(node);
        let sink = self.sinks().remove(node);
        if let Some(sink) = sink {
            sink.forget_all();
        }
    }

    /// `node` cannot be reached: every proxy of its processes ends with
    /// `NoConnection`.
    fn unreachable(&self, node: &NodeId) {
        // The others, dropped after the lock (see `down`).
        let mut others: Vec<Arc<Proxy>> = Vec::new();
        let gone: Vec<Arc<Proxy>> = {
            let mut proxies = self.proxies();
            let proxies = &mut *proxies;
            let mut gone = Vec::new();
            proxies.by_pid.retain(|_, proxy| match proxy.upgrade() {
                Some(proxy) if proxy.at() == node => {
                    gone.push(proxy);
                    false
                }
                Some(proxy) => {
                    others.push(proxy);
                    true
                }
                None => false,
            });
            for proxy in &gone {
                proxies.by_key.remove(&proxy.key);
            }
            gone
        };
        drop(others);
        for proxy in gone {
            proxy.end(ExitReason::NoConnection);
        }
    }
}

impl Inner {
    fn session(&self) -> &zenoh::Session {
        &self
            .zenoh
            .as_ref()
            .expect("zenoh lives as long as the node")
            .session
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Its proxies stand for processes it can no longer reach: they end
        // with `NoConnection` (their monitors, links and `exited()` hear of
        // it), rather than never.
        let proxies: Vec<Arc<Proxy>> = {
            let mut proxies = self.relations.proxies();
            proxies.by_key.clear();
            proxies
                .by_pid
                .drain()
                .filter_map(|(_, proxy)| proxy.upgrade())
                .collect()
        };
        for proxy in proxies {
            proxy.end(ExitReason::NoConnection);
        }
        // Dropping Zenoh's session, queryable and token blocks (Zenoh's
        // `block_in_place`, which panics on a current-thread runtime), and so does
        // dropping a runtime (which panics inside any runtime): neither may happen
        // on the caller's thread, which may run either. A thread of their own.
        let zenoh = self.zenoh.take();
        let runtime = self.runtime.take();
        let closing = std::thread::Builder::new()
            .name("gensrv-node-close".into())
            .spawn(move || {
                drop(zenoh);
                if let Some(runtime) = runtime {
                    runtime.shutdown_timeout(Duration::from_secs(1));
                }
            });
        if let Err(e) = closing {
            tracing::error!(error = %e, "no thread to close a node on: its Zenoh session leaks");
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.id)
            .field("cluster", &self.inner.cluster)
            .finish_non_exhaustive()
    }
}

fn node_key(cluster: &str, node: &NodeId) -> String {
    format!("gensrv/{cluster}/node/{node}")
}

fn call_key(cluster: &str, node: &NodeId) -> String {
    format!("gensrv/{cluster}/call/{node}")
}

/// How long a node never seen has to show up before the proxies of its
/// processes end with `NoConnection`.
const UNKNOWN_NODE_WAIT: Duration = Duration::from_secs(3);

/// How long the query of a typed call lasts: beyond any timeout a caller sets
/// in practice (the caller's own timeout runs on its `Call`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(3600);

fn cast_key(cluster: &str, node: &NodeId) -> String {
    format!("gensrv/{cluster}/cast/{node}")
}

fn name_key(cluster: &str, name: &str) -> String {
    format!("gensrv/{cluster}/name/{name}")
}

/// The nodes seen, by their liveliness tokens: how often each has left, and
/// whether it is up now. Watched by the calls in flight to a node, so that a call
/// to a node that goes fails with `NoConnection` at once, whatever Zenoh's
/// routing still believes; a call to a node seen gone fails before it is sent.
type Departures = tokio::sync::watch::Sender<HashMap<NodeId, Presence>>;

/// What a node knows of another node's presence.
#[derive(Clone, Copy, Debug, Default)]
struct Presence {
    departures: u64,
    up: bool,
}

/// A claim of a global name, from its token's key
/// (`gensrv/<cluster>/name/<name>/<node>/<index>`): the name and its holder.
fn parse_claim(cluster: &str, key: &str) -> Option<(String, WirePid)> {
    let rest = key.strip_prefix(&format!("gensrv/{cluster}/name/"))?;
    let mut parts = rest.split('/');
    let (Some(name), Some(node), Some(index), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let holder = WirePid {
        node: NodeId::parse(node)?,
        index: index.parse().ok()?,
    };
    Some((name.to_string(), holder))
}

/// Whether claim `a` of a name wins over claim `b`: the lowest node id, then the
/// lowest index, so that every node that sees both decides the same.
fn wins(a: &WirePid, b: &WirePid) -> bool {
    (&a.node, a.index) < (&b.node, b.index)
}

/// The local holders of global names: each name, its holders' indexes, and how
/// to end each (a holder that loses its name to another node's ends, as with
/// Erlang's default clash resolution).
type Held = Mutex<HashMap<String, Vec<(u64, Arc<dyn Fn(ExitReason) + Send + Sync>)>>>;

/// Ends the local holders of `name` that `claim` wins over.
fn resolve_clash(held: &Held, me: &NodeId, name: &str, claim: &WirePid) {
    let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(holders) = held.get_mut(name) else {
        return;
    };
    holders.retain(|(index, end)| {
        let mine = WirePid {
            node: me.clone(),
            index: *index,
        };
        if mine != *claim && wins(claim, &mine) {
            end(ExitReason::Error(format!(
                "global name {name} taken by {claim}"
            )));
            return false;
        }
        true
    });
}

/// Whether `name` can be a global name: one key chunk.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '*', '$', '?', '#'])
}

fn zenoh_error(e: impl fmt::Display) -> NodeError {
    NodeError::Zenoh(e.to_string())
}

impl Node {
    /// Starts a node: opens the Zenoh peer, declares the node's liveliness token
    /// and the queryable its calls come to.
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        if config.cluster.is_empty() || config.cluster.contains(['/', '*', '$', '?', '#']) {
            return Err(NodeError::Config(format!(
                "cluster name {:?} is not one key chunk",
                config.cluster
            )));
        }
        let zenoh_config = config.zenoh()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gensrv-node")
            .enable_all()
            .build()
            .map_err(|e| NodeError::Zenoh(format!("runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let cluster = config.cluster.clone();
        // The node's callbacks need the node, which is made from what they
        // return: they get it once it exists.
        let this: Arc<std::sync::OnceLock<std::sync::Weak<Inner>>> = Arc::default();
        let (served, cast_to, left) = (this.clone(), this.clone(), this.clone());
        let relations: Arc<Relations> = Arc::default();
        let gone_from = relations.clone();
        let held: Arc<Held> = Arc::default();
        let departures = Arc::new(Departures::new(HashMap::new()));
        let departed = departures.clone();
        let clashes = held.clone();
        let opened = runtime.spawn(async move {
            let session = zenoh::open(zenoh_config).await.map_err(zenoh_error)?;
            let id = NodeId(session.zid().to_string());
            let token = session
                .liveliness()
                .declare_token(node_key(&cluster, &id))
                .await
                .map_err(zenoh_error)?;
            let queryable = session
                .declare_queryable(call_key(&cluster, &id))
                .callback(move |query| {
                    // Zenoh calls this on its own threads, one query after the
                    // other: the request goes into the server's mailbox here, so
                    // in the order it came, and only the wait for the reply is
                    // spawned, on the node's runtime.
                    let Some(node) = served.get().and_then(std::sync::Weak::upgrade) else {
                        return;
                    };
                    let node = Node::from_inner(node);
                    let reply = super::with_node(&node, || dispatch(&query));
                    handle.spawn(super::Scoped::new(&node, serve(reply, query)));
                })
                .await
                .map_err(zenoh_error)?;
            let subscriber = session
                .declare_subscriber(cast_key(&cluster, &id))
                .callback(move |sample| {
                    if let Some(node) = cast_to.get().and_then(std::sync::Weak::upgrade) {
                        let node = Node::from_inner(node);
                        super::with_node(&node, || put(&node, &sample));
                    }
                })
                .await
                .map_err(zenoh_error)?;
            // Every claim of a global name, those made before this node came
            // first: a claim that wins over one of this node's ends the holder here.
            let (me, names_of) = (id.clone(), cluster.clone());
            let names = session
                .liveliness()
                .declare_subscriber(format!("gensrv/{cluster}/name/**"))
                .history(true)
                .callback(move |sample| {
                    if sample.kind() != zenoh::sample::SampleKind::Put {
                        return;
                    }
                    if let Some((name, claim)) = parse_claim(&names_of, sample.key_expr().as_str())
                    {
                        resolve_clash(&clashes, &me, &name, &claim);
                    }
                })
                .await
                .map_err(zenoh_error)?;
            let nodes_of = format!("gensrv/{cluster}/node/");
            let nodes = session
                .liveliness()
                .declare_subscriber(format!("{nodes_of}*"))
                .history(true)
                .callback(move |sample| {
                    let key = sample.key_expr().as_str();
                    let Some(node) = key.strip_prefix(&nodes_of).and_then(NodeId::parse) else {
                        return;
                    };
                    let up = sample.kind() == zenoh::sample::SampleKind::Put;
                    departed.send_modify(|nodes| {
                        let presence = nodes.entry(node.clone()).or_default();
                        if presence.up && !up {
                            presence.departures += 1;
                        }
                        presence.up = up;
                    });
                    // After the departure is recorded: a proxy made meanwhile
                    // either sees it (`Node::proxy`) or is ended here.
                    if !up {
                        gone_from.node_gone(&node);
                    }
                })
                .await
                .map_err(zenoh_error)?;
            Ok::<_, NodeError>((session, id, token, queryable, subscriber, (names, nodes)))
        });
        let opened = match opened.await {
            Ok(opened) => opened,
            Err(e) => Err(NodeError::Zenoh(format!("open panicked: {e}"))),
        };
        let (session, id, token, queryable, subscriber, (names, nodes)) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                // Not dropped here: that would wait for its threads, in a runtime.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        super::nodes_started();
        let node = Node {
            inner: Arc::new(Inner {
                id,
                cluster: config.cluster,
                relations,
                held,
                registering: tokio::sync::Mutex::new(()),
                departures,
                senders: Mutex::default(),
                zenoh: Some(Zenoh {
                    session,
                    _queryable: queryable,
                    _subscriber: subscriber,
                    _names: names,
                    _nodes: nodes,
                    _token: token,
                }),
                runtime: Some(runtime),
            }),
        };
        let _ = this.set(Arc::downgrade(&node.inner));
        drop(left);
        Ok(node)
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Node {
        Node { inner }
    }

    /// The proxy of `pid`, a process of node `at` (see `proxy.rs`): the one
    /// there is, or a new one, which asks `at` to tell when the process ends.
    pub(crate) fn proxy(&self, pid: Pid, at: &NodeId) -> Arc<Proxy> {
        self.proxy_for(pid, at, false)
    }

    /// [`proxy`](Node::proxy), for a link made there (`link`): if the process
    /// has just ended, its node answers with the reason it ended with, not
    /// `NoProc` (its link's own signal may come after that answer).
    fn proxy_for(&self, pid: Pid, at: &NodeId, link: bool) -> Arc<Proxy> {
        let relations = &self.inner.relations;
        if self.is_gone(at) {
            return Proxy::ended(self, pid, at, ExitReason::NoConnection);
        }
        let (proxy, new) = {
            let mut proxies = relations.proxies();
            match proxies.by_pid.get(&pid).and_then(std::sync::Weak::upgrade) {
                Some(proxy) => (proxy, false),
                None => {
                    proxies.next_key += 1;
                    let key = proxies.next_key;
                    let proxy = Arc::new(Proxy::new(self, pid, at, key));
                    if let Some(old) = proxies.by_pid.insert(pid, Arc::downgrade(&proxy)) {
                        // Dropped: its `Down`, if it comes, is for no one.
                        drop(old);
                        proxies.by_key.retain(|_, of| *of != pid);
                    }
                    proxies.by_key.insert(key, pid);
                    if proxies.by_pid.len() > 2 * proxies.swept.max(32) {
                        let proxies = &mut *proxies;
                        proxies.by_pid.retain(|_, proxy| proxy.strong_count() > 0);
                        let live = &proxies.by_pid;
                        proxies.by_key.retain(|_, pid| live.contains_key(pid));
                        proxies.swept = proxies.by_pid.len();
                    }
                    (proxy, true)
                }
            }
        };
        if new {
            self.send_put(
                at,
                &Put::Monitor {
                    from: self.inner.id.clone(),
                    to: pid.index(),
                    key: proxy.key,
                    link,
                },
            );
            if self.is_gone(at) {
                // Gone in between: the departure may have missed it.
                relations.unreachable(at);
            } else if !self.is_known(at) {
                // A node never seen (a pid from a message, say): if it does
                // not show up, nothing would ever end the proxy. As OTP's
                // monitor of a node it cannot connect to: `NoConnection`.
                let node = self.clone();
                let at = at.clone();
                self.runtime().spawn(async move {
                    if !node.wait_for(&at, UNKNOWN_NODE_WAIT).await {
                        node.inner.relations.unreachable(&at);
                    }
                });
            }
        }
        proxy
    }

    /// Whether node `at` has been seen (up or gone).
    fn is_known(&self, at: &NodeId) -> bool {
        self.inner.departures.borrow().contains_key(at)
    }

    fn runtime(&self) -> &Runtime {
        self.inner
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the node")
    }

    /// Whether node `at` has been seen, and seen gone.
    fn is_gone(&self, at: &NodeId) -> bool {
        self.inner
            .departures
            .borrow()
            .get(at)
            .is_some_and(|presence| !presence.up)
    }

    /// The pid numbered `index` on node `at`, as this node names it.
    pub(crate) fn pid_at(&self, at: &NodeId, index: u64) -> Pid {
        if *at == self.inner.id {
            return Pid::from_parts(0, index);
        }
        Pid::from_parts(super::slot_of(self, at), index)
    }

    /// `pid` as it travels from this node; `None` for a pid of a node this node
    /// does not know (another node's, in the same OS process).
    pub(crate) fn wire_pid(&self, pid: Pid) -> Option<WirePid> {
        if pid.is_local() {
            return Some(WirePid {
                node: self.inner.id.clone(),
                index: pid.index(),
            });
        }
        let (node, at) = Node::of_slot(pid.slot())?;
        Arc::ptr_eq(&node.inner, &self.inner).then_some(WirePid {
            node: at,
            index: pid.index(),
        })
    }

    /// The node and the remote node of a slot.
    pub(crate) fn of_slot(slot: u16) -> Option<(Node, NodeId)> {
        super::resolve_slot(slot)
    }

    /// The pid numbered `index` on node `at` (what a node process prints, say).
    /// Not a public API.
    #[doc(hidden)]
    pub fn __pid(&self, at: &NodeId, index: u64) -> Pid {
        self.pid_at(at, index)
    }

    /// The number of `pid` on its node. Not a public API.
    #[doc(hidden)]
    pub fn __index(pid: Pid) -> u64 {
        pid.index()
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.inner.id
    }

    /// Runs `future` on the node's runtime and waits for it from any runtime.
    async fn on_node<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> T {
        let runtime = self
            .inner
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the node");
        match runtime.spawn(future).await {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Whether `node` is up and reachable: its liveliness token is seen.
    pub async fn is_up(&self, node: &NodeId) -> bool {
        let session = self.inner.session().clone();
        let key = node_key(&self.inner.cluster, node);
        self.on_node(async move {
            let Ok(replies) = session
                .liveliness()
                .get(key)
                .timeout(Duration::from_millis(500))
                .await
            else {
                return false;
            };
            matches!(replies.recv_async().await, Ok(reply) if reply.result().is_ok())
        })
        .await
    }

    /// Waits until `node` is up, for at most `timeout`; whether it is.
    pub async fn wait_for(&self, node: &NodeId, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.is_up(node).await {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Registers `server` under the cluster-wide `name` (Erlang's
    /// `global:register_name`), exporting it: the name is seen from every node
    /// until the server ends or its node goes. A name this node already sees
    /// held by another server is not taken over: [`NameError::Taken`], and the
    /// claimant is ended as below. When two claims meet (they can
    /// cross, from two nodes), the lowest node id wins on every node (see
    /// [`whereis_global`](Node::whereis_global)), and the loser's server is ended
    /// with `Error("global name .. taken by ..")`, as with Erlang's default
    /// resolution: at once with [`NameError::Taken`] if the winner is already
    /// seen, or later, when its claim comes.
    pub async fn register_global<S: GenServer>(
        &self,
        server: &ServerRef<S>,
        name: &str,
    ) -> Result<Pid, NameError> {
        if !valid_name(name) {
            return Err(NameError::Invalid(name.into()));
        }
        let Some(process) = server.local() else {
            return Err(NameError::Invalid(format!(
                "{name}: a server registers its global name from its own node"
            )));
        };
        let pid = WirePid {
            node: self.inner.id.clone(),
            index: process.core.pid().index(),
        };
        let _registering = self.inner.registering.lock().await;
        // A name seen held is not taken over (Erlang's `global:register_name`
        // answers `no`): the lowest-claim-wins rule below is for claims that
        // cross, not for a claim of a name every node already resolves.
        if let Some(holder) = self.global_holder(name).await
            && holder != pid
        {
            crate::exit(
                server,
                ExitReason::Error(format!("global name {name} taken by {holder}")),
            );
            return Err(NameError::Taken(self.pid_at(&holder.node, holder.index)));
        }
        let key = format!(
            "{}/{}/{}",
            name_key(&self.inner.cluster, name),
            pid.node,
            pid.index
        );
        let end: Arc<dyn Fn(ExitReason) + Send + Sync> = {
            let server = server.clone();
            Arc::new(move |reason| crate::exit(&server, reason))
        };
        self.inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_string())
            .or_default()
            .push((pid.index, end));
        let session = self.inner.session().clone();
        let exited = server.exited();
        let (held, holder, name_held) = (self.inner.held.clone(), pid.index, name.to_string());
        let declared = self.on_node(async move {
            let token = session
                .liveliness()
                .declare_token(key)
                .await
                .map_err(|e| NameError::Zenoh(e.to_string()))?;
            // The name goes with the server: the token is dropped (undeclared)
            // here, on the node's runtime, once it has ended. (With the node, it
            // goes anyway: the token is the node's.)
            tokio::spawn(async move {
                exited.await;
                drop(token);
                let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(holders) = held.get_mut(&name_held) {
                    holders.retain(|(index, _)| *index != holder);
                }
            });
            Ok(())
        });
        declared.await?;
        // Claims made before this one were seen by the subscriber before this
        // holder was recorded: settle with them now.
        if let Some(winner) = self.global_holder(name).await {
            resolve_clash(&self.inner.held, &self.inner.id, name, &winner);
            if wins(&winner, &pid) {
                return Err(NameError::Taken(self.pid_at(&winner.node, winner.index)));
            }
        }
        if !server.is_alive() {
            return Err(NameError::NoProc);
        }
        Ok(server.pid())
    }

    /// The server registered as `name` anywhere in the cluster, as this node sees
    /// it now (Erlang's `global:whereis_name`). If several claim it, the one on the
    /// lowest node id wins (then the lowest pid), so that nodes which see the same
    /// claims agree.
    pub async fn whereis_global(&self, name: &str) -> Option<Pid> {
        let holder = self.global_holder(name).await?;
        Some(self.pid_at(&holder.node, holder.index))
    }

    async fn global_holder(&self, name: &str) -> Option<WirePid> {
        if !valid_name(name) {
            return None;
        }
        let session = self.inner.session().clone();
        let prefix = name_key(&self.inner.cluster, name);
        let cluster = self.inner.cluster.clone();
        let me = self.inner.id.clone();
        self.on_node(async move {
            let replies = session
                .liveliness()
                .get(format!("{prefix}/*/*"))
                .timeout(Duration::from_millis(500))
                .await
                .ok()?;
            let mut best: Option<WirePid> = None;
            while let Ok(reply) = replies.recv_async().await {
                let Ok(sample) = reply.result() else { continue };
                let Some((_, claim)) = parse_claim(&cluster, sample.key_expr().as_str()) else {
                    continue;
                };
                // A claim of a holder here that has ended: its token is on its
                // way out (undeclared once the end is published).
                if claim.node == me && running(claim.index).is_err() {
                    continue;
                }
                if best.as_ref().is_none_or(|best| wins(&claim, best)) {
                    best = Some(claim);
                }
            }
            best
        })
        .await
    }

    /// Where `pid` runs, as this node names nodes: its node, and its number there.
    fn locate(&self, pid: Pid) -> Option<(NodeId, u64)> {
        let wire = self.wire_pid(pid)?;
        Some((wire.node, wire.index))
    }

    /// Calls `to` with an encoded body (what a typed handle does for you): the
    /// encoded reply, or why there is none. The request is on its way, in order
    /// after every earlier request of this node to that node, when this
    /// returns; the future only waits for the reply.
    pub fn call_raw(
        &self,
        to: Pid,
        fingerprint: u64,
        body: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<u8>, RemoteCallError>> + Send + use<> {
        let (at, index) = self
            .locate(to)
            .unwrap_or_else(|| (self.inner.id.clone(), u64::MAX));
        let frame = wire::encode(&Request {
            to: index,
            fingerprint,
            body,
        });
        self.call_frame(&at, frame, timeout)
    }

    /// Sends a typed call's request to `index` on node `at`, and hands its reply
    /// to `sink`, decoded in this node's scope, when it comes.
    pub(crate) fn send_call(
        &self,
        at: &NodeId,
        index: u64,
        fingerprint: u64,
        body: Vec<u8>,
        sink: ReplySink,
    ) {
        let frame = wire::encode(&Request {
            to: index,
            fingerprint,
            body,
        });
        // The caller's timeout runs on its `Call`: the query itself waits long,
        // and a reply that comes after the caller stopped waiting is dropped by
        // the `ReplyTo`.
        let reply = self.call_frame(at, frame, QUERY_TIMEOUT);
        // Weakly: a call in flight does not keep a node whose last handle is
        // dropped; if the node closes first (this task is dropped with its
        // runtime), the caller gets `NoConnection`.
        let node = Arc::downgrade(&self.inner);
        let mut sink = Unanswered(Some(sink));
        let runtime = self
            .inner
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the node");
        runtime.spawn(async move {
            let reply = reply.await;
            let Some(sink) = sink.0.take() else { return };
            let Some(node) = node.upgrade().map(Node::from_inner) else {
                sink.deliver(Err(CallError::Exited(ExitReason::NoConnection)));
                return;
            };
            super::with_node(&node, || match reply {
                Ok(body) => sink.deliver(Ok(&body)),
                Err(error) => sink.deliver(Err(call_error(error))),
            });
        });
    }

    /// Casts an encoded body to `to`: in order after every earlier request of
    /// this node to that node. Never waits; a cast to a node that is gone or to a
    /// pid that does not exist there is dropped (there is no reply to say so).
    pub fn cast_raw(&self, to: Pid, fingerprint: u64, body: Vec<u8>) {
        if let Some((at, index)) = self.locate(to) {
            self.send_put(
                &at,
                &Put::Cast {
                    to: index,
                    fingerprint,
                    body,
                },
            );
        }
    }

    /// Sends `put` to node `at`, in order with this node's other requests to it.
    pub(crate) fn send_put(&self, at: &NodeId, put: &Put) {
        self.send(
            at,
            Outgoing::Cast {
                frame: wire::encode(put),
            },
        );
    }

    /// Sends a frame as is, however malformed: for tests of what a node does with
    /// bad input. Not a public API.
    #[doc(hidden)]
    pub fn __call_frame(
        &self,
        node: &NodeId,
        frame: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<u8>, RemoteCallError>> + Send + use<> {
        self.call_frame(node, frame, timeout)
    }

    /// Casts a frame as is, however malformed: for tests of what a node does with
    /// bad input. Not a public API.
    #[doc(hidden)]
    pub fn __cast_frame(&self, node: &NodeId, frame: Vec<u8>) {
        self.send(node, Outgoing::Cast { frame });
    }

    fn call_frame(
        &self,
        node: &NodeId,
        frame: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<u8>, RemoteCallError>> + Send + use<> {
        let (reply, replied) = oneshot::channel();
        self.send(
            node,
            Outgoing::Call {
                frame,
                timeout,
                reply,
            },
        );
        async move {
            replied
                .await
                .unwrap_or_else(|_| Err(RemoteCallError::Zenoh("the node is closing".into())))
        }
    }

    /// Queues `outgoing` for `node`'s sender task, starting it if need be.
    fn send(&self, node: &NodeId, outgoing: Outgoing) {
        let mut senders = self
            .inner
            .senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let sender = senders.entry(node.clone()).or_insert_with(|| {
            let (sender, requests) = mpsc::unbounded_channel();
            let session = self.inner.session().clone();
            let keys = (
                call_key(&self.inner.cluster, node),
                cast_key(&self.inner.cluster, node),
            );
            let runtime = self
                .inner
                .runtime
                .as_ref()
                .expect("the runtime lives as long as the node");
            let departures = self.inner.departures.subscribe();
            runtime.spawn(send_to(session, keys, requests, (node.clone(), departures)));
            sender
        });
        // Fails only once the node's runtime is shutting down; a call's reply
        // sender, dropped with the request, then fails the call.
        let _ = sender.send(outgoing);
    }
}

/// The reply sink of a call whose reply has not come: the call fails with
/// `NoConnection` if it is dropped so (its node closed).
struct Unanswered(Option<ReplySink>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(sink) = self.0.take() {
            sink.deliver(Err(CallError::Exited(ExitReason::NoConnection)));
        }
    }
}

/// The sender task of one node: hands each request to Zenoh in turn (a `get`
/// or a `put` resolves once it is sent), and waits for each call's reply in a
/// task of its own.
async fn send_to(
    session: zenoh::Session,
    (call_key, cast_key): (String, String),
    mut requests: mpsc::UnboundedReceiver<Outgoing>,
    (node, departures): (
        NodeId,
        tokio::sync::watch::Receiver<HashMap<NodeId, Presence>>,
    ),
) {
    while let Some(request) = requests.recv().await {
        match request {
            Outgoing::Cast { frame } => {
                let sent = session
                    .put(&cast_key, frame)
                    .congestion_control(CongestionControl::Block)
                    .await;
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "cast to another node not sent");
                }
            }
            Outgoing::Call {
                frame,
                timeout,
                reply,
            } => {
                let started = tokio::time::Instant::now();
                let presence = departures.borrow().get(&node).copied();
                if presence.is_some_and(|presence| !presence.up) {
                    let _ = reply.send(Err(RemoteCallError::NoConnection));
                    continue;
                }
                let departed = presence.map_or(0, |presence| presence.departures);
                let sent = session
                    .get(&call_key)
                    .payload(frame)
                    .consolidation(ConsolidationMode::None)
                    .timeout(timeout)
                    .await;
                match sent {
                    Ok(replies) => {
                        let mut departures = departures.clone();
                        let node = node.clone();
                        tokio::spawn(async move {
                            let gone = departures.wait_for(|nodes| {
                                nodes.get(&node).is_some_and(|p| p.departures > departed)
                            });
                            let outcome = tokio::select! {
                                outcome = receive(replies, started, timeout) => outcome,
                                Ok(_) = gone => Err(RemoteCallError::NoConnection),
                            };
                            let _ = reply.send(outcome);
                        });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(RemoteCallError::Zenoh(e.to_string())));
                    }
                }
            }
        }
    }
}

/// The reply to one call, from the channel of its query.
async fn receive(
    replies: zenoh::handlers::FifoChannelHandler<zenoh::query::Reply>,
    started: tokio::time::Instant,
    timeout: Duration,
) -> Result<Vec<u8>, RemoteCallError> {
    let Ok(reply) = replies.recv_async().await else {
        // The query ended with no reply: at once if no queryable matched (no
        // such node), at its timeout otherwise.
        return Err(if started.elapsed() < timeout {
            RemoteCallError::NoConnection
        } else {
            RemoteCallError::Timeout
        });
    };
    let sample = reply.into_result().map_err(|e| {
        // Zenoh ends a query that outlasts its timeout with an error reply.
        if started.elapsed() >= timeout {
            return RemoteCallError::Timeout;
        }
        RemoteCallError::Zenoh(format!(
            "error reply: {}",
            String::from_utf8_lossy(&e.payload().to_bytes())
        ))
    })?;
    let answer: Result<Vec<u8>, Refusal> = wire::decode(&sample.payload().to_bytes())?;
    Ok(answer?)
}

/// Handles what another node put, in the order it came (Zenoh's callback, not a
/// task). Never panics on any input.
fn put(node: &Node, sample: &Sample) {
    let handled = (|| {
        let put: Put = wire::decode(&sample.payload().to_bytes())?;
        let relations = &node.inner.relations;
        match put {
            Put::Cast {
                to,
                fingerprint,
                body,
            } => running(to)?.remote_cast(fingerprint, &body)?,
            Put::Monitor {
                from,
                to,
                key,
                link,
            } => {
                let sink = relations
                    .sinks()
                    .entry(from.clone())
                    .or_insert_with(|| Arc::new(Sink::new(node, &from)))
                    .clone();
                let watched = crate::registry::by_pid(Pid::from_parts(0, to))
                    .is_some_and(|target| sink.watch(&*target, key));
                if !watched {
                    // For a link's proxy, the reason of a process that has
                    // just ended: its link's signal, which says it too, may
                    // come after this answer.
                    let reason = link
                        .then(|| super::recent_end(to))
                        .flatten()
                        .unwrap_or(ExitReason::NoProc);
                    node.send_put(
                        &from,
                        &Put::Down {
                            from: node.id().clone(),
                            key,
                            reason,
                        },
                    );
                }
            }
            Put::Demonitor { from, to, key } => {
                let sink = relations.sinks().get(&from).cloned();
                if let Some(sink) = sink {
                    let target = crate::registry::by_pid(Pid::from_parts(0, to));
                    sink.unwatch(target.as_deref(), key);
                }
            }
            Put::Down { from, key, reason } => relations.down(&from, key, reason),
            Put::Link { from, to } => {
                let from_pid = node.pid_at(&from.node, from.index);
                let proxy = node.proxy_for(from_pid, &from.node, true);
                if let Ok(target) = running(to) {
                    if proxy.core().add_link(target.clone()) {
                        target.core().add_link(proxy);
                    }
                }
            }
            Put::Unlink { from, to } => {
                let from_pid = node.pid_at(&from.node, from.index);
                if let Ok(target) = running(to) {
                    target.core().remove_link(from_pid);
                    let proxy = relations.proxies().by_pid.get(&from_pid).cloned();
                    if let Some(proxy) = proxy.and_then(|proxy| proxy.upgrade()) {
                        proxy.core().remove_link(target.core().pid());
                    }
                }
            }
            Put::Exit { from, to, reason } => {
                let from = node.pid_at(&from.node, from.index);
                crate::process::exit_signal(&*running(to)?, from, reason, false);
            }
            Put::Stop { to, reason } => {
                running(to)?.send_sys(crate::mailbox::Sys::Stop(reason));
            }
            Put::LinkExit { from, reason } => {
                let pid = node.pid_at(&from.node, from.index);
                relations.link_exit(&from.node, pid, reason);
            }
        }
        Ok::<_, Refusal>(())
    })();
    if let Err(refusal) = handled {
        tracing::debug!(%refusal, "message from another node dropped");
    }
}

/// The local process numbered `index`, if it runs.
fn running(index: u64) -> Result<Arc<dyn AnyProcess>, Refusal> {
    crate::registry::by_pid(Pid::from_parts(0, index))
        .filter(|process| process.core().is_running())
        .ok_or(Refusal::NoProc)
}

/// Decodes a query and hands it to its server; the reply to come, or why there
/// is none. Never panics on any input.
fn dispatch(query: &Query) -> Result<RemoteReply, Refusal> {
    let frame = query.payload().map(|p| p.to_bytes()).unwrap_or_default();
    let request: Request = wire::decode(&frame)?;
    running(request.to)?.remote_call(request.fingerprint, &request.body)
}

/// Waits for the reply to one query and sends it, or the reason there is none.
async fn serve(reply: Result<RemoteReply, Refusal>, query: Query) {
    let answer = match reply {
        Ok(reply) => reply.await,
        Err(refusal) => Err(refusal),
    };
    let key = query.key_expr().clone();
    if let Err(e) = query.reply(key, wire::encode(&answer)).await {
        tracing::debug!(error = %e, "reply to a remote call not sent");
    }
}
