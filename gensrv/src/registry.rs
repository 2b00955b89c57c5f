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
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use crate::process::AnyProcess;
use crate::{GenServer, Pid, ServerRef};

#[derive(Default)]
struct Table {
    processes: HashMap<Pid, Arc<dyn AnyProcess>>,
    names: HashMap<Box<str>, Pid>,
}

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);

fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Enters a new process, and its name if it has one.
///
/// Fails with the pid of the current owner if the name is taken.
pub(crate) fn insert(process: Arc<dyn AnyProcess>) -> Result<(), Pid> {
    let core = process.core();
    let pid = core.pid();
    let mut table = table();
    if let Some(name) = core.name() {
        if let Some(owner) = table.names.get(name) {
            return Err(*owner);
        }
        table.names.insert(name.into(), pid);
    }
    table.processes.insert(pid, process);
    Ok(())
}

/// Frees `name` if `pid` still holds it.
pub(crate) fn release_name(pid: Pid, name: &str) {
    let mut table = table();
    if table.names.get(name) == Some(&pid) {
        table.names.remove(name);
    }
}

/// Removes an ended process and frees its name.
pub(crate) fn remove(pid: Pid, name: Option<&str>) {
    let mut table = table();
    if let Some(name) = name {
        if table.names.get(name) == Some(&pid) {
            table.names.remove(name);
        }
    }
    table.processes.remove(&pid);
}

pub(crate) fn by_name(name: &str) -> Option<Arc<dyn AnyProcess>> {
    let table = table();
    let pid = table.names.get(name)?;
    table.processes.get(pid).cloned()
}

pub(crate) fn by_pid(pid: Pid) -> Option<Arc<dyn AnyProcess>> {
    table().processes.get(&pid).cloned()
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
    table().names.get(name).copied()
}

/// The names registered now, in no particular order (OTP's `registered/0`).
pub fn registered() -> Vec<String> {
    table().names.keys().map(|name| name.to_string()).collect()
}

pub(crate) fn pids() -> Vec<Pid> {
    table().processes.keys().copied().collect()
}
