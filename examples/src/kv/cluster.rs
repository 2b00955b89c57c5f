//! The Elixir guide's distributed KV ("Distributed tasks and tags"): buckets
//! spread over nodes by the first letter of their names.
//!
//! Each bucket node runs the whole KV tree of [`super`] and a [`KvNode`], its
//! door for other nodes, registered under a cluster-wide name (`kv@a-m`). A
//! router looks the name up with [`route`] and the routing table, and gets back
//! [`BucketRef`]s that travelled from the node that runs the buckets: calls on
//! them go there. `cargo run --example kv_cluster` runs it with three OS
//! processes.

use std::ops::RangeInclusive;

use gensrv::gen_server;

use super::bucket::BucketRef;
use super::registry::Registry;

/// Which node holds the buckets whose names start with which letter: the guide's
/// `[{?a..?m, :"foo@computer-name"}, {?n..?z, :"bar@computer-name"}]`, by the
/// global names the nodes' [`KvNode`]s are registered under.
pub const ROUTING_TABLE: [(RangeInclusive<char>, &str); 2] =
    [('a'..='m', "kv@a-m"), ('n'..='z', "kv@n-z")];

/// The global name of the [`KvNode`] that holds `bucket`, by the first letter
/// of its name in `table` (the guide's `KV.Router.route`, which raises "could
/// not find entry" for a name no range covers).
///
/// ```
/// use gensrv_examples::kv::cluster::{ROUTING_TABLE, route};
///
/// assert_eq!(route(&ROUTING_TABLE, "apples"), Ok("kv@a-m"));
/// assert_eq!(route(&ROUTING_TABLE, "nuts"), Ok("kv@n-z"));
/// assert!(route(&ROUTING_TABLE, "Zucchini").is_err());
/// assert!(route(&ROUTING_TABLE, "").is_err());
/// ```
pub fn route<'t>(
    table: &'t [(RangeInclusive<char>, &'t str)],
    bucket: &str,
) -> Result<&'t str, String> {
    let first = bucket.chars().next();
    table
        .iter()
        .find(|(letters, _)| first.is_some_and(|first| letters.contains(&first)))
        .map(|(_, node)| *node)
        .ok_or_else(|| format!("could not find entry for {bucket:?} in table"))
}

/// A node's KV store, as other nodes reach it: creates and looks up buckets
/// through the node's own [`Registry`], found by its registered name at each
/// call.
///
/// A server of its own rather than the registry made remote: the global name
/// stays with this server, so it outlives a registry that crashes and is
/// restarted under a new pid (a global name goes with the server that holds
/// it), and the registry's errors travel as text.
pub struct KvNode {
    /// The registered name of the node's registry.
    registry: String,
}

#[gen_server(remote)]
impl KvNode {
    /// Serves the registry registered as `registry`.
    #[init]
    fn init(registry: String) -> Self {
        KvNode { registry }
    }

    /// The bucket named `name` on this node, started if there is none.
    #[call]
    async fn create(&self, name: String) -> Result<BucketRef, String> {
        let registry = Registry::whereis(&self.registry).ok_or("no registry")?;
        match registry.create(name).await {
            Ok(created) => created.map_err(|error| error.to_string()),
            Err(error) => Err(format!("registry: {error}")),
        }
    }

    /// The bucket named `name` on this node, if any.
    #[call]
    async fn lookup(&self, name: String) -> Result<Option<BucketRef>, String> {
        let registry = Registry::whereis(&self.registry).ok_or("no registry")?;
        registry
            .lookup(name)
            .await
            .map_err(|error| format!("registry: {error}"))
    }
}
