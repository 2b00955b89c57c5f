//! What every contestant provides: the same counter server, written its own way.

use std::future::Future;

/// Where a measurement runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// One thread: tokio's `current_thread` runtime (actix: its `System`).
    Current,
    /// tokio's `multi_thread` runtime with this many workers (actix: its `System` plus
    /// this many `Arbiter`s, servers and helper tasks spread over the arbiters).
    Multi(usize),
}

impl Flavor {
    pub fn label(self) -> String {
        match self {
            Flavor::Current => "current_thread".into(),
            Flavor::Multi(n) => format!("multi_thread({n})"),
        }
    }
}

/// A counter server: `get` is a call answering the count, `add` a cast adding to it.
pub trait Contestant: 'static {
    /// The column title.
    const NAME: &'static str;
    /// What `start` gives and `stop` takes.
    type Server: Send + 'static;
    /// A client handle, cloned to each calling task.
    type Client: Clone + Send + Sync + 'static;

    /// Starts a counter; returns once its init has run in the server.
    fn start() -> impl Future<Output = Self::Server> + Send;
    /// A client handle of a started server.
    fn client(server: &Self::Server) -> Self::Client;
    /// One call: returns the count.
    fn call(client: &Self::Client) -> impl Future<Output = u64> + Send;
    /// One cast: adds `n`. Async for the libraries whose send may wait.
    fn cast(client: &Self::Client, n: u64) -> impl Future<Output = ()> + Send;
    /// Stops the server; returns once it has terminated.
    fn stop(server: Self::Server) -> impl Future<Output = ()> + Send;

    /// Runs `f` as a task on a fresh runtime of `flavor` and returns its output.
    fn run<F>(flavor: Flavor, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = match flavor {
            Flavor::Current => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            Flavor::Multi(n) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .enable_all()
                .build(),
        }
        .expect("runtime");
        rt.block_on(async move { tokio::spawn(f).await.expect("client task") })
    }

    /// Spawns a helper task (a concurrent caller) inside [`Contestant::run`].
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = tokio::spawn(f);
        async move { task.await.expect("helper task") }
    }
}
