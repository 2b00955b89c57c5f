//! Process-wide names, and the table of running processes.
//!
//! As in OTP, a name belongs to at most one running server at a time and is freed
//! when that server ends (also when its init fails, before `start` returns), so a
//! restarted server can take it again at once.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv::gen_server;
//!
//! struct Clock;
//!
//! #[gen_server]
//! impl Clock {}
//!
//! let clock = Clock::start(Clock).name("clock").await.unwrap();
//! assert_eq!(gensrv::whereis("clock"), Some(clock.pid()));
//! assert_eq!(Clock::whereis("clock"), Some(clock.clone()));
//!
//! clock.stop().await.unwrap();
//! assert_eq!(gensrv::whereis("clock"), None);
//! # }
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use crate::process::AnyProcess;
use crate::{GenServer, Pid, ServerRef};

/// The running processes, in shards by pid so that starts and ends on different
/// threads rarely take the same lock, and the names, in a table of their own
/// (taken only by named servers and lookups by name).
struct Table {
    shards: Box<[Mutex<Shard>]>,
    names: Mutex<HashMap<Box<str>, Pid>>,
}

/// The running processes whose pids fall in one shard.
type Shard = HashMap<Pid, Arc<dyn AnyProcess>, BuildHasherDefault<PidHasher>>;

/// Hashes a pid with one multiplication rather than SipHash: pids are made by
/// the runtime, not chosen by anyone who could aim for collisions, and a start
/// and an end each hash one. Both halves of the 128-bit product are folded in,
/// so that the low bits, which pick the bucket, depend on every bit of the pid
/// (within a shard, pids differ only above their low 6 bits).
#[derive(Default)]
struct PidHasher(u64);

impl Hasher for PidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let product = u128::from(self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

/// Enough shards that a start on each core of a large machine seldom meets another.
const SHARDS: usize = 64;

static TABLE: LazyLock<Table> = LazyLock::new(|| Table {
    shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
    names: Mutex::default(),
});

fn shard(pid: Pid) -> MutexGuard<'static, Shard> {
    TABLE.shards[(pid.index() % SHARDS as u64) as usize]
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn names() -> MutexGuard<'static, HashMap<Box<str>, Pid>> {
    TABLE.names.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Enters a new process, and its name if it has one.
///
/// Fails with the pid of the current owner if the name is taken.
pub(crate) fn insert(process: Arc<dyn AnyProcess>) -> Result<(), Pid> {
    let core = process.core();
    let pid = core.pid();
    // In the process table before the name points at it: whoever finds the name
    // finds the process.
    shard(pid).insert(pid, process.clone());
    if let Some(name) = core.name() {
        let mut names = names();
        if let Some(owner) = names.get(name) {
            let owner = *owner;
            drop(names);
            shard(pid).remove(&pid);
            return Err(owner);
        }
        names.insert(name.into(), pid);
    }
    Ok(())
}

/// Frees `name` if `pid` still holds it.
pub(crate) fn release_name(pid: Pid, name: &str) {
    let mut names = names();
    if names.get(name) == Some(&pid) {
        names.remove(name);
    }
}

/// Removes an ended process and frees its name.
pub(crate) fn remove(pid: Pid, name: Option<&str>) {
    if let Some(name) = name {
        release_name(pid, name);
    }
    shard(pid).remove(&pid);
}

pub(crate) fn by_name(name: &str) -> Option<Arc<dyn AnyProcess>> {
    let pid = whereis(name)?;
    by_pid(pid)
}

pub(crate) fn by_pid(pid: Pid) -> Option<Arc<dyn AnyProcess>> {
    shard(pid).get(&pid).cloned()
}

/// The typed handle of the server registered as `name`, if it is an `S`.
pub(crate) fn whereis_typed<S: GenServer>(name: &str) -> Option<ServerRef<S>> {
    let process = by_name(name)?.into_any().downcast().ok()?;
    Some(ServerRef::from_process(process))
}

/// The pid of the server registered as `name`, if one is running (OTP's `whereis/1`).
///
/// To get a typed handle instead, use the generated `Foo::whereis(name)`.
pub fn whereis(name: &str) -> Option<Pid> {
    names().get(name).copied()
}

/// The names registered now, in no particular order (OTP's `registered/0`).
pub fn registered() -> Vec<String> {
    names().keys().map(|name| name.to_string()).collect()
}

/// Every running pid, shard by shard: a process that starts or ends meanwhile
/// may or may not be in it, as with OTP's `processes/0`.
pub(crate) fn pids() -> Vec<Pid> {
    let mut pids = Vec::new();
    for shard in &TABLE.shards {
        let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        pids.extend(shard.keys().copied());
    }
    pids
}
