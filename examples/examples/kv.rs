//! Elixir's `KV.Registry` and `KV.Bucket`, as gen_servers.
//!
//! A bucket is a server holding a map from keys to values. The registry is a
//! server holding a map from bucket names to buckets: `create` starts a bucket
//! under a name, `lookup` finds it. The script at the end replays the Elixir
//! guide's session, and shows what goes wrong without monitors: a bucket that has
//! stopped stays in the registry.
//!
//! ```text
//! cargo run --example kv
//! ```
//!
//! The file grows with the guide: monitors go into `registry`, a supervision tree
//! and a TCP server become sections of their own next to `bucket` and `registry`.

use gensrv::CallError;
use gensrv_examples::{init_logging, print_result};

use bucket::BucketRef;
use registry::Registry;

// ---------------------------------------------------------------------------
// KV.Bucket
// ---------------------------------------------------------------------------

mod bucket {
    use std::collections::HashMap;

    use gensrv::{Context, ExitReason, gen_server};

    /// A bucket: a map from keys to values, behind a server.
    ///
    /// Buckets have no registered name: the registry keeps track of them (Elixir
    /// avoids names there because they would be atoms made from user input).
    pub struct Bucket {
        /// The name the registry knows this bucket by, for the log.
        name: String,
        entries: HashMap<String, String>,
    }

    #[gen_server]
    impl Bucket {
        /// Starts an empty bucket; `name` only labels what it prints.
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
        // A call rather than a cast, as Elixir's `Agent.update`: the caller knows
        // the value is in once it returns.
        #[call]
        fn put(&mut self, key: String, value: String) {
            self.entries.insert(key, value);
        }

        /// Removes `key`; gives back its value, if it had one.
        #[call]
        fn delete(&mut self, key: String) -> Option<String> {
            self.entries.remove(&key)
        }

        /// Says which bucket ends, and why.
        #[terminate]
        fn terminate(&mut self, reason: &ExitReason, ctx: &mut Context<Self>) {
            println!(
                "  [bucket {:?} {}] stops: {reason}, keys held: {}",
                self.name,
                ctx.pid(),
                self.entries.len()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// KV.Registry
// ---------------------------------------------------------------------------

mod registry {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use gensrv::{ExitReason, gen_server};

    use crate::bucket::{Bucket, BucketRef};

    /// Keeps the names of buckets.
    ///
    /// It does not watch them yet: a bucket that ends stays here under its name
    /// until monitors exist (a later issue), when a `Down` will remove it.
    pub struct Registry {
        // Ordered, so that what the registry prints is the same on every run.
        names: BTreeMap<String, BucketRef>,
    }

    #[gen_server]
    impl Registry {
        /// Starts with no buckets.
        #[init]
        fn init() -> Self {
            Registry {
                names: BTreeMap::new(),
            }
        }

        /// The bucket registered as `name`, if any.
        #[call]
        fn lookup(&self, name: String) -> Option<BucketRef> {
            self.names.get(&name).cloned()
        }

        /// Ensures there is a bucket named `name`, starting one if needed.
        // A cast, as in the guide, which uses it to show what a cast is; a real
        // registry would make this a call, so that the caller learns the outcome.
        #[cast]
        async fn create(&mut self, name: String) {
            if self.names.contains_key(&name) {
                return;
            }
            match Bucket::start(name.clone()).await {
                Ok(bucket) => {
                    self.names.insert(name, bucket);
                }
                // Nobody waits for a cast's outcome, so the failure is only told.
                Err(error) => println!("  [registry] bucket {name:?} did not start: {error}"),
            }
        }

        /// Stops the buckets this registry started.
        // Stands in for links: once buckets are linked to (or supervised next to)
        // the registry, they go down with it without this. As a supervisor
        // would, each bucket gets 5 s to end before it is killed.
        #[terminate]
        async fn terminate(&mut self, reason: &ExitReason) {
            println!(
                "  [registry] stops: {reason}; stopping {} buckets",
                self.names.len()
            );
            for (name, bucket) in &self.names {
                if let Err(error) = bucket.stop().timeout(Duration::from_secs(5)).await {
                    println!("  [registry] bucket {name:?} {}: {error}", bucket.pid());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------

/// The name the registry is registered under, so that other parts of the program
/// (a TCP server, later) find it without being handed its handle.
const REGISTRY: &str = "kv_registry";

#[tokio::main]
async fn main() {
    init_logging();

    println!("== a registry");
    println!("> Registry::start().name({REGISTRY:?})");
    let registry = match Registry::start().name(REGISTRY).await {
        Ok(registry) => registry,
        Err(error) => {
            println!("the registry did not start: {error}");
            return;
        }
    };
    println!("{registry:?}");

    println!();
    println!("== spawns buckets");
    println!("> registry.lookup(\"shopping\")");
    print_result(&registry.lookup("shopping".into()).await);
    println!("> registry.create(\"shopping\")");
    print_result(&registry.create("shopping".into()));
    // The lookup is queued behind the create, so it sees the new bucket.
    println!("> let shopping = registry.lookup(\"shopping\")");
    let Some(shopping) = expect_bucket(registry.lookup("shopping".into()).await) else {
        return;
    };
    println!("> shopping.put(\"milk\", \"1\")");
    print_result(&shopping.put("milk".into(), "1".into()).await);
    println!("> shopping.get(\"milk\")");
    print_result(&shopping.get("milk".into()).await);

    println!();
    println!("== create is idempotent");
    println!("> registry.create(\"shopping\")");
    print_result(&registry.create("shopping".into()));
    println!("> registry.lookup(\"shopping\")");
    let again = registry.lookup("shopping".into()).await;
    print_result(&again);
    println!(
        "  (the same bucket, not a second one: {})",
        again == Ok(Some(shopping.clone()))
    );

    println!();
    println!("== a second bucket, with a map of its own");
    println!("> registry.create(\"groceries\")");
    print_result(&registry.create("groceries".into()));
    println!("> let groceries = registry.lookup(\"groceries\")");
    let Some(groceries) = expect_bucket(registry.lookup("groceries".into()).await) else {
        return;
    };
    println!("> groceries.put(\"eggs\", \"12\")");
    print_result(&groceries.put("eggs".into(), "12".into()).await);
    println!("> groceries.get(\"milk\")");
    print_result(&groceries.get("milk".into()).await);
    println!("> groceries.delete(\"eggs\")");
    print_result(&groceries.delete("eggs".into()).await);
    println!("> groceries.get(\"eggs\")");
    print_result(&groceries.get("eggs".into()).await);

    println!();
    println!("== the need for monitoring: a bucket stops, the registry does not notice");
    println!("> shopping.stop()");
    print_result(&shopping.stop().await);
    // Without monitors the registry never hears that the bucket ended, so it hands
    // out the dead handle. With monitors (a later issue) it will get a `Down` and
    // forget the name, and this lookup will say `None`.
    println!("> let stale = registry.lookup(\"shopping\")");
    let Some(stale) = expect_bucket(registry.lookup("shopping".into()).await) else {
        return;
    };
    println!("> stale.is_alive()");
    println!("{}", stale.is_alive());
    println!("> stale.get(\"milk\")");
    print_result(&stale.get("milk".into()).await);
    // Nor can the name be used again: create still finds it taken.
    println!("> registry.create(\"shopping\")");
    print_result(&registry.create("shopping".into()));
    println!("> registry.lookup(\"shopping\")");
    let still = registry.lookup("shopping".into()).await;
    print_result(&still);
    if let Ok(Some(bucket)) = &still {
        println!("  (alive: {})", bucket.is_alive());
    }

    println!();
    println!("== stop everything");
    // The registry's terminate stops the buckets it still knows of.
    println!("> registry.stop()");
    print_result(&registry.stop().await);
    println!("> groceries.is_alive()");
    println!("{}", groceries.is_alive());
    println!("> registry.lookup(\"groceries\")");
    print_result(&registry.lookup("groceries".into()).await);
}

/// The bucket a lookup found, printed; `None`, with what happened printed, if it
/// found none.
fn expect_bucket(lookup: Result<Option<BucketRef>, CallError>) -> Option<BucketRef> {
    match lookup {
        Ok(Some(bucket)) => {
            println!("{bucket:?}");
            Some(bucket)
        }
        other => {
            print_result(&other);
            println!("no bucket: the session cannot go on");
            None
        }
    }
}
