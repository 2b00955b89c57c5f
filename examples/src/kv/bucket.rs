//! `KV.Bucket`: a map from keys to values, behind a server.

use std::collections::HashMap;

use gensrv::gen_server;

/// A bucket: a map from keys to values, behind a server.
///
/// Buckets have no registered name: the [registry](super::registry::Registry)
/// keeps track of them (Elixir avoids names there because they would be atoms
/// made from user input). They are started by the dynamic supervisor of buckets,
/// as temporary children: a bucket that crashes is gone, and forgotten.
pub struct Bucket {
    /// The name the registry knows this bucket by, for its crash message.
    name: String,
    entries: HashMap<String, String>,
}

// `remote`: a bucket can be called from another node, through a `BucketRef`
// that travelled there (`cargo run --example kv_cluster`).
#[gen_server(remote)]
impl Bucket {
    /// Starts an empty bucket; `name` only labels its crash message.
    #[init]
    fn init(name: String) -> Self {
        Bucket {
            name,
            entries: HashMap::new(),
        }
    }

    /// The value stored under `key`, if any.
    #[call]
    fn get(&self, key: String) -> Option<String> {
        self.entries.get(&key).cloned()
    }

    /// Stores `value` under `key`, replacing what was there.
    // A call rather than a cast, as Elixir's `Agent.update`: the caller knows the
    // value is in once it returns, so the client's `OK` means it.
    #[call]
    fn put(&mut self, key: String, value: String) {
        self.entries.insert(key, value);
    }

    /// Removes `key`; gives back its value, if it had one.
    #[call]
    fn delete(&mut self, key: String) -> Option<String> {
        self.entries.remove(&key)
    }

    /// Panics, as a bug in a handler would: for the demo of a bucket that crashes.
    ///
    /// The caller gets `CallError::Exited(ExitReason::Panic(..))`; the bucket's
    /// supervisor does not restart it (it is temporary), and the registry, which
    /// monitors it, forgets its name.
    #[call]
    fn crash(&self) {
        panic!("bucket {:?} crashed", self.name);
    }

    /// The bucket as status and crash reports show it: its name and size. The
    /// values are the users' data and stay out of logs.
    #[format_status]
    fn status(&self) -> String {
        format!(
            "Bucket {{ name: {:?}, entries: {} }}",
            self.name,
            self.entries.len()
        )
    }
}
