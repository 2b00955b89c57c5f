//! Monitors, links and exit signals across nodes.
//!
//! A process of another node that something here monitors, links to, signals or
//! holds a handle to has a local stand-in, its [`Proxy`]: a process core with
//! the remote pid, which mirrors the remote process's life. When it is made, it
//! asks the process's node to tell it when the process ends (`Put::Monitor`);
//! when the answer comes (`Put::Down`), or when that node goes
//! (`NoConnection`), the proxy ends with that reason, and the local machinery
//! does the rest: every local monitor of it gets its `Down`, every local link
//! its exit signal, every `exited()` resolves.
//!
//! The other direction is symmetric: a link from a process here to one there is
//! also made there, between that process and *its* proxy of the one here, so
//! that each side learns of the other's end from its own proxy. Non-link exit
//! signals (`exit/2`, `kill`) and stop requests are forwarded as they are.
//!
//! On the watched process's node, the watcher is a [`Sink`] per watching node:
//! it turns the `Down` its process sends into a `Put::Down` to that node.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::node::{Inner, Node, NodeId};
use super::wire::Put;
use crate::mailbox::Sys;
use crate::process::{AnyProcess, ProcessCore};
use crate::{ExitReason, MonitorRef, Pid};

/// The local stand-in of a process on another node.
pub(crate) struct Proxy {
    core: ProcessCore,
    node: Weak<Inner>,
    at: NodeId,
    /// What its node's `Down` for it carries.
    pub(crate) key: u64,
}

impl Proxy {
    pub(crate) fn new(node: &Node, pid: Pid, at: &NodeId, key: u64) -> Proxy {
        Proxy {
            core: ProcessCore::new(pid, None, None),
            node: Arc::downgrade(node.inner()),
            at: at.clone(),
            key,
        }
    }

    /// A proxy of a process known to have ended.
    pub(crate) fn ended(node: &Node, pid: Pid, at: &NodeId, reason: ExitReason) -> Arc<Proxy> {
        let proxy = Arc::new(Proxy::new(node, pid, at, 0));
        proxy.core.finish(reason);
        proxy
    }

    pub(crate) fn at(&self) -> &NodeId {
        &self.at
    }

    fn put(&self, put: &Put) {
        if let Some(inner) = self.node.upgrade() {
            Node::from_inner(inner).send_put(&self.at, put);
        }
    }

    fn wire(&self, pid: Pid) -> Option<super::wire::WirePid> {
        let node = Node::from_inner(self.node.upgrade()?);
        node.wire_pid(pid)
    }

    /// An exit signal to the process there. A link's signal (`from`, here,
    /// ended) forgets the link here and tells the node there, whose proxy of
    /// `from` then ends with `reason`: it would learn of the end from that
    /// proxy's own `Down`, but that `Down` says `NoProc` if `from` ended before
    /// the proxy's monitor reached this node (a link made just before the end),
    /// and a `Normal` exit would then kill the process there.
    pub(crate) fn exit_signal(&self, from: Pid, reason: ExitReason, link: bool) {
        if link {
            if self.core.remove_link(from)
                && let Some(from) = self.wire(from)
            {
                self.put(&Put::LinkExit { from, reason });
            }
            return;
        }
        if let Some(from) = self.wire(from) {
            self.put(&Put::Exit {
                from,
                to: self.core.pid().index(),
                reason,
            });
        }
    }

    /// The local process `from` linked itself to this one: links them there too.
    pub(crate) fn linked(&self, from: Pid) {
        if let Some(from) = self.wire(from) {
            self.put(&Put::Link {
                from,
                to: self.core.pid().index(),
            });
        }
    }

    /// The local process `from` removed its link to this one.
    pub(crate) fn unlinked(&self, from: Pid) {
        if let Some(from) = self.wire(from) {
            self.put(&Put::Unlink {
                from,
                to: self.core.pid().index(),
            });
        }
    }

    /// The process there ended (or its node went): so does its stand-in.
    pub(crate) fn end(&self, reason: ExitReason) {
        if self.core.exit_reason().is_none() {
            self.core.finish(reason);
        }
    }
}

/// A proxy dropped before its process ended: its node stops watching that
/// process for it (a proxy made again later asks anew), so that handles made
/// and dropped do not pile up monitors on the process there.
impl Drop for Proxy {
    fn drop(&mut self) {
        if self.key == 0 || self.core.exit_reason().is_some() {
            return;
        }
        if let Some(inner) = self.node.upgrade() {
            let node = Node::from_inner(inner);
            let from = node.id().clone();
            node.send_put(
                &self.at,
                &Put::Demonitor {
                    from,
                    to: self.core.pid().index(),
                    key: self.key,
                },
            );
        }
    }
}

impl AnyProcess for Proxy {
    fn core(&self) -> &ProcessCore {
        &self.core
    }

    fn send_sys(&self, sys: Sys) -> bool {
        match sys {
            Sys::Stop(reason) if self.core.exit_reason().is_none() => {
                self.put(&Put::Stop {
                    to: self.core.pid().index(),
                    reason,
                });
                true
            }
            _ => false,
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn server_type(&self) -> &'static str {
        "(a process on another node)"
    }

    fn mailbox_len(&self) -> usize {
        0
    }

    fn as_proxy(&self) -> Option<&Proxy> {
        Some(self)
    }
}

/// On a watched process's node, the watcher that stands for another node's
/// proxies: the `Down` of each process watched goes back to that node.
pub(crate) struct Sink {
    core: ProcessCore,
    node: Weak<Inner>,
    to: NodeId,
    /// The key each monitor's `Down` goes back with, and the monitor of each key.
    keys: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    /// Each monitor's key, and the local pid it watches.
    by_monitor: HashMap<MonitorRef, (u64, Pid)>,
    by_key: HashMap<u64, MonitorRef>,
}

impl Keys {
    fn insert(&mut self, monitor: MonitorRef, key: u64, target: Pid) {
        self.by_monitor.insert(monitor, (key, target));
        self.by_key.insert(key, monitor);
    }

    fn remove(&mut self, monitor: &MonitorRef) -> Option<u64> {
        let (key, _) = self.by_monitor.remove(monitor)?;
        self.by_key.remove(&key);
        Some(key)
    }
}

impl Sink {
    pub(crate) fn new(node: &Node, to: &NodeId) -> Sink {
        Sink {
            // Never a process's pid here: index 0 of that node.
            core: ProcessCore::new(node.pid_at(to, 0), None, None),
            node: Arc::downgrade(node.inner()),
            to: to.clone(),
            keys: Mutex::default(),
        }
    }

    /// Watches `target` for the proxy `key` of this sink's node; false if it has
    /// ended (the caller then sends its `Down` at once).
    pub(crate) fn watch(self: &Arc<Self>, target: &dyn AnyProcess, key: u64) -> bool {
        let monitor = MonitorRef::next();
        self.keys().insert(monitor, key, target.core().pid());
        if target.core().add_watcher(monitor, self.clone()) {
            true
        } else {
            self.keys().remove(&monitor);
            false
        }
    }

    /// Stops watching `target` for the proxy `key` of this sink's node (that
    /// proxy is gone).
    pub(crate) fn unwatch(&self, target: Option<&dyn AnyProcess>, key: u64) {
        let monitor = {
            let mut keys = self.keys();
            let Some(monitor) = keys.by_key.get(&key).copied() else {
                return;
            };
            keys.remove(&monitor);
            monitor
        };
        if let Some(target) = target {
            target.core().remove_watcher(monitor);
        }
    }

    /// Its node is gone: stops every watch it holds (they would stay on their
    /// processes for as long as those live).
    pub(crate) fn forget_all(&self) {
        let watches: Vec<(MonitorRef, Pid)> = {
            let mut keys = self.keys();
            keys.by_key.clear();
            keys.by_monitor
                .drain()
                .map(|(monitor, (_, target))| (monitor, target))
                .collect()
        };
        for (monitor, target) in watches {
            if let Some(target) = crate::registry::by_pid(target) {
                target.core().remove_watcher(monitor);
            }
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AnyProcess for Sink {
    fn core(&self) -> &ProcessCore {
        &self.core
    }

    fn send_sys(&self, sys: Sys) -> bool {
        let Sys::Down(down) = sys else { return false };
        let Some(key) = self.keys().remove(&down.monitor) else {
            return false;
        };
        if let Some(inner) = self.node.upgrade() {
            let node = Node::from_inner(inner);
            let from = node.id().clone();
            node.send_put(
                &self.to,
                &Put::Down {
                    from,
                    key,
                    reason: down.reason,
                },
            );
        }
        true
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn server_type(&self) -> &'static str {
        "(another node's monitors)"
    }

    fn mailbox_len(&self) -> usize {
        0
    }
}
