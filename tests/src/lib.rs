//! Integration tests of gensrv (in `tests/`), and the helpers they share.
//!
//! This crate denies missing docs and holds a public generated server, so building
//! it proves that everything `#[gen_server]` generates is documented.
#![deny(missing_docs)]

use std::future::IntoFuture;
use std::time::Duration;

use gensrv::gen_server;

/// Awaits `future`, failing the test if it takes longer than `secs` seconds: a bug
/// must show as a failure, not as a hung suite.
pub async fn within<F: IntoFuture>(secs: u64, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), future).await {
        Ok(output) => output,
        Err(_) => panic!("did not finish within {secs} s"),
    }
}

/// Polls `f` until it gives `expected`, failing the test (with `what`, and what
/// `f` last gave) if it has not within 10 s.
pub async fn until<T, F>(what: &str, mut f: impl FnMut() -> F, expected: T)
where
    T: PartialEq + std::fmt::Debug,
    F: std::future::Future<Output = T>,
{
    let started = tokio::time::Instant::now();
    loop {
        let found = f().await;
        if found == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: still {found:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `f` until it gives something, failing the test (with `what`) if it has
/// not within 5 s: a name registered on another node, say, is seen here once its
/// token has come.
pub async fn seen<T, F>(what: &str, mut f: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Option<T>>,
{
    let started = tokio::time::Instant::now();
    loop {
        if let Some(found) = f().await {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: not seen within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What `pid` is tied to; the process must be running.
pub fn info(pid: gensrv::Pid) -> gensrv::ProcessInfo {
    gensrv::process_info(pid).unwrap_or_else(|| panic!("{pid} is not running"))
}

/// A public server in a crate that denies missing docs.
#[derive(Debug, Default)]
pub struct Documented {
    hits: u64,
}

/// A message of the crate's own, for the info handler.
#[derive(Debug)]
pub struct Ping;

#[gen_server]
impl Documented {
    /// Starts counting from `hits`.
    #[init]
    fn init(hits: u64) -> Self {
        Documented { hits }
    }

    /// The count.
    #[call]
    fn hits(&self) -> u64 {
        self.hits
    }

    /// Counts one.
    #[cast]
    fn hit(&mut self) {
        self.hits += 1;
    }

    #[info]
    fn ping(&mut self, _: Ping) {
        self.hits += 100;
    }
}

/// A server slower than its senders, for the overload tests: each unit of work
/// yields 20 times before it counts (a timer would be far slower: it ticks in
/// milliseconds).
#[derive(Clone, Debug, Default)]
pub struct Slow {
    handled: u64,
}

#[gen_server]
impl Slow {
    /// A unit of work with a payload, as a real message would carry.
    #[cast]
    async fn work(&mut self, payload: Vec<u8>) {
        drop(payload);
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        self.handled += 1;
    }

    /// The units of work done.
    #[call]
    fn handled(&self) -> u64 {
        self.handled
    }
}

#[cfg(feature = "remote")]
pub mod remote;
