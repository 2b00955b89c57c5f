//! Elixir's `KV.Registry` and `KV.Bucket`, as gen_servers.
//!
//! A bucket is a server holding a map from keys to values. The registry is a
//! server holding a map from bucket names to buckets: `create` starts a bucket
//! under a name, `lookup` finds it, and it monitors every bucket it starts, so
//! that a bucket that stops or crashes is forgotten ("The need for monitoring").
//! The script at the end replays the Elixir guide's session.
//!
//! ```text
//! cargo run --example kv
//! ```
//!
//! The file grows with the guide: a supervision tree and a TCP server become
//! sections of their own next to `bucket` and `registry`.

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

        /// Panics, as a bug in a handler would.
        ///
        /// The bucket ends: its terminate runs with `ExitReason::Panic`, the
        /// caller gets `CallError::Exited(ExitReason::Panic(..))`, and whoever
        /// monitors the bucket gets a `Down`.
        #[call]
        fn crash(&self) {
            panic!("bucket {:?} crashed", self.name);
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
    use std::collections::{BTreeMap, HashMap};
    use std::time::Duration;

    use gensrv::{Context, Down, ExitReason, MonitorRef, gen_server};

    use crate::bucket::{Bucket, BucketRef};

    /// Keeps the names of buckets, and watches them.
    ///
    /// Every bucket it starts is monitored: when one ends, normally or not, the
    /// registry gets a `Down` and forgets its name, so that `lookup` never hands
    /// out a dead bucket and `create` can start a new one under the same name.
    pub struct Registry {
        // Ordered, so that what the registry prints is the same on every run.
        names: BTreeMap<String, BucketRef>,
        // The name each monitor watches: a `Down` names its monitor, not the name.
        refs: HashMap<MonitorRef, String>,
    }

    #[gen_server]
    impl Registry {
        /// Starts with no buckets.
        #[init]
        fn init() -> Self {
            Registry {
                names: BTreeMap::new(),
                refs: HashMap::new(),
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
        async fn create(&mut self, name: String, ctx: &mut Context<Self>) {
            if self.names.contains_key(&name) {
                return;
            }
            // Started, not linked: as the guide says, a crashing bucket must not
            // take the registry (and every other bucket) down with it. The
            // monitor is one-way: the registry hears of the bucket's end, the
            // bucket of nothing.
            match Bucket::start(name.clone()).await {
                Ok(bucket) => {
                    let monitor = ctx.monitor(&bucket);
                    self.refs.insert(monitor, name.clone());
                    self.names.insert(name, bucket);
                }
                // Nobody waits for a cast's outcome, so the failure is only told.
                Err(error) => println!("  [registry] bucket {name:?} did not start: {error}"),
            }
        }

        /// A monitored bucket ended: forgets its name.
        // The guide's `handle_info({:DOWN, ref, :process, _pid, _reason}, ..)`:
        // the monitor says which name it was, whatever the reason.
        #[info]
        fn bucket_down(&mut self, down: Down) {
            let Some(name) = self.refs.remove(&down.monitor) else {
                return;
            };
            self.names.remove(&name);
            println!(
                "  [registry] bucket {name:?} {} is down ({}): name forgotten",
                down.pid, down.reason
            );
        }

        /// Stops the buckets this registry still knows of.
        // Buckets are not linked to the registry (see `create`), so they would
        // outlive it; until a supervisor owns them, the registry stops them. As a
        // supervisor would, each bucket gets 5 s to end before it is killed.
        #[terminate]
        async fn terminate(&mut self, reason: &ExitReason) {
            println!(
                "  [registry] stops: {reason}; stopping buckets {:?}",
                self.names.keys().collect::<Vec<_>>()
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

// One thread: a bucket's end (terminate, then the `Down` it sends the registry)
// runs to completion before this script takes its next step, and the registry's
// own lines come at the same place in the transcript on every run.
#[tokio::main(flavor = "current_thread")]
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
    println!("== the need for monitoring: a bucket that stops is forgotten");
    println!("> shopping.stop()");
    print_result(&shopping.stop().await);
    // `stop` returns once the bucket has ended, and its end put the `Down` in the
    // registry's mailbox first: this lookup is queued behind the `Down`, so the
    // name is gone when the registry answers. (The guide's test makes a call for
    // the same reason. On this one thread the registry has even handled the
    // `Down` already, hence its line above `Ok(())`.)
    println!("> registry.lookup(\"shopping\")");
    print_result(&registry.lookup("shopping".into()).await);
    // The name is free again: create starts a new, empty bucket under it.
    println!("> registry.create(\"shopping\")");
    print_result(&registry.create("shopping".into()));
    println!("> let fresh = registry.lookup(\"shopping\")");
    let Some(fresh) = expect_bucket(registry.lookup("shopping".into()).await) else {
        return;
    };
    println!("  (a new bucket: {})", fresh != shopping);
    println!("> fresh.get(\"milk\")");
    print_result(&fresh.get("milk".into()).await);

    println!();
    println!("== a bucket that crashes is forgotten too");
    println!("> groceries.crash()");
    print_result(&groceries.crash().await);
    // As after `stop`: once the bucket has ended, its `Down` is in the
    // registry's mailbox, ahead of anything we send from now on.
    println!("> groceries.exited().await");
    println!("{:?}", groceries.exited().await);
    println!("> registry.lookup(\"groceries\")");
    print_result(&registry.lookup("groceries".into()).await);

    println!();
    println!("== stop everything");
    // The registry's terminate stops the buckets it still knows of.
    println!("> registry.stop()");
    print_result(&registry.stop().await);
    println!("> fresh.is_alive()");
    println!("{}", fresh.is_alive());
    println!("> registry.lookup(\"shopping\")");
    print_result(&registry.lookup("shopping".into()).await);
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
