//! `KV.Registry`: bucket names to buckets, watched.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use gensrv::supervisor::{DynamicSupervisor, Restart, StartChildError};
use gensrv::{Context, Down, MonitorRef, gen_server};

use super::bucket::{Bucket, BucketRef};

/// Keeps the names of buckets, starts buckets, and watches them.
///
/// [`create`](RegistryRef::create) starts a bucket through the dynamic supervisor
/// registered under the name the registry was started with, as a temporary child
/// (a crashed bucket is not restarted), and monitors it: when a bucket ends,
/// normally or not, the registry gets a `Down` and forgets its name, so that
/// [`lookup`](RegistryRef::lookup) never hands out a dead bucket and `create` can
/// start a new one under the same name ("The need for monitoring").
///
/// The registry does not own the buckets: the supervisor does. If the registry
/// crashes, its supervisor (one for all) restarts the buckets' supervisor with it,
/// so no bucket outlives the registry that knew its name.
pub struct Registry {
    /// The registered name of the dynamic supervisor that starts buckets.
    buckets: String,
    // Ordered, so that what is listed is the same on every run.
    names: BTreeMap<String, BucketRef>,
    // The name each monitor watches: a `Down` names its monitor, not the bucket.
    refs: HashMap<MonitorRef, String>,
}

/// Why [`create`](RegistryRef::create) could not start a bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// No dynamic supervisor of buckets runs under the expected name (it is being
    /// restarted, with the registry).
    NoSupervisor,
    /// The dynamic supervisor could not start the bucket, or did not answer.
    Start(StartChildError),
    /// The bucket's init ignored its start (a bucket's never does).
    Ignored,
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::NoSupervisor => f.write_str("no bucket supervisor"),
            CreateError::Start(error) => write!(f, "bucket supervisor: {error}"),
            CreateError::Ignored => f.write_str("bucket ignored its start"),
        }
    }
}

impl std::error::Error for CreateError {}

#[gen_server]
impl Registry {
    /// Starts with no buckets; `buckets` is the registered name of the dynamic
    /// supervisor to start buckets with.
    #[init]
    fn init(buckets: String) -> Self {
        Registry {
            buckets,
            names: BTreeMap::new(),
            refs: HashMap::new(),
        }
    }

    /// The bucket registered as `name`, if any.
    #[call]
    fn lookup(&self, name: String) -> Option<BucketRef> {
        self.names.get(&name).cloned()
    }

    /// The bucket registered as `name`, started if there is none.
    // A call, as in the guide's final version: the client's `OK` must mean that
    // the bucket exists. (The guide first made it a cast, to show what a cast is.)
    #[call]
    async fn create(
        &mut self,
        name: String,
        ctx: &mut Context<Self>,
    ) -> Result<BucketRef, CreateError> {
        if let Some(bucket) = self.names.get(&name) {
            return Ok(bucket.clone());
        }
        let supervisor =
            DynamicSupervisor::whereis(&self.buckets).ok_or(CreateError::NoSupervisor)?;
        // Typed: the supervisor gives a `BucketRef`, not a pid.
        let spec = Bucket::child_spec(name.clone()).with_restart(Restart::Temporary);
        let bucket = supervisor
            .start_child(spec)
            .await
            .map_err(CreateError::Start)?
            // A bucket's init never ignores its start.
            .ok_or(CreateError::Ignored)?;
        // Were it to end right after this, the `Down` (reason `NoProc` if already
        // ended) takes the name away again.
        let monitor = ctx.monitor(&bucket);
        self.refs.insert(monitor, name.clone());
        self.names.insert(name, bucket.clone());
        Ok(bucket)
    }

    /// The names of the buckets, in order.
    #[call]
    fn names(&self) -> Vec<String> {
        self.names.keys().cloned().collect()
    }

    /// A monitored bucket ended: forgets its name.
    // The guide's `handle_info({:DOWN, ref, :process, _pid, _reason}, ..)`.
    #[info]
    fn bucket_down(&mut self, down: Down) {
        if let Some(name) = self.refs.remove(&down.monitor) {
            self.names.remove(&name);
            tracing::info!(bucket = %name, pid = %down.pid, reason = %down.reason, "bucket down; name forgotten");
        }
    }
}
