//! The Elixir guide's key-value server: `KV.Bucket`, `KV.Registry`, their
//! supervisors and `KVServer`, as gen_servers behind a TCP socket.
//!
//! # The tree
//!
//! ```text
//! kv            Supervisor, rest for one             (registered "kv")
//! ├── store     Supervisor, one for all
//! │   ├── buckets   DynamicSupervisor                ("kv_buckets")
//! │   │   └── ...   Bucket, one per name, temporary
//! │   └── registry  Registry                         ("kv_registry")
//! └── acceptor  Acceptor                             ("kv_acceptor")
//!     └── ...   the accept loop, and a task per connection
//! ```
//!
//! - A [`Bucket`](bucket::Bucket) that crashes is not restarted (it is a
//!   temporary child): the [`Registry`], which monitors it,
//!   forgets its name, and `CREATE` makes a new, empty one.
//! - A registry that crashes takes the buckets with it (one for all): buckets
//!   whose names were forgotten could never be found again. The store's
//!   supervisor starts both again; the acceptor and the open connections live on
//!   (rest for one), and find the new registry by its name.
//! - The [`Acceptor`] owns the accept loop and the connection
//!   tasks; if it ends, they end, and its supervisor starts another on the same
//!   listening socket, which [`start`] binds once for the whole tree.
//!
//! # The protocol
//!
//! One command a line, words separated by whitespace; lines end with `\n` or
//! `\r\n`, and replies with `\r\n`:
//!
//! | line | reply |
//! |---|---|
//! | `CREATE <bucket>` | `OK` |
//! | `PUT <bucket> <key> <value>` | `OK`, or `NOT FOUND` if there is no such bucket |
//! | `GET <bucket> <key>` | the value (an empty line if none), then `OK`; or `NOT FOUND` |
//! | `DELETE <bucket> <key>` | `OK`, or `NOT FOUND` |
//! | anything else, an empty line, bytes that are not UTF-8 | `UNKNOWN COMMAND` |
//! | a line of more than [`MAX_LINE`] bytes | `LINE TOO LONG` |
//! | any command, if the registry was gone for [`command::REGISTRY_WAIT`] | `SERVICE UNAVAILABLE` |
//! | (unasked, when the server stops) | `SERVER SHUTTING DOWN`, then the server closes the connection |
//!
//! The connection stays open after any of these but the last. A server that
//! stops (its acceptor's terminate runs) lets each connection finish the
//! command it is running, sends it `SERVER SHUTTING DOWN` instead of reading
//! another, and closes it; a line sent meanwhile gets no other answer. A line too long is answered as
//! soon as it is known to be, and the rest of it is dropped as it comes: no
//! client makes the server hold more than [`MAX_LINE`] bytes of a line.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv_examples::kv::{self, client::Client};
//!
//! let kv = kv::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
//! let mut client = Client::connect(kv.local_addr()).await.unwrap();
//! assert_eq!(client.command("CREATE shopping").await.unwrap(), ["OK"]);
//! assert_eq!(client.command("PUT shopping milk 1").await.unwrap(), ["OK"]);
//! assert_eq!(client.command("GET shopping milk").await.unwrap(), ["1", "OK"]);
//! assert_eq!(client.command("GET shopping eggs").await.unwrap(), ["", "OK"]);
//! assert_eq!(client.command("GET groceries milk").await.unwrap(), ["NOT FOUND"]);
//! kv.stop().await.unwrap();
//! # }
//! ```

pub mod bucket;
pub mod client;
pub mod cluster;
pub mod command;
pub mod registry;
pub mod server;

use std::fmt;
use std::io;
use std::net::SocketAddr;

use gensrv::supervisor::{
    self as sup, DynamicSupervisor, Ended, Strategy, Supervisor, SupervisorRef,
};
use gensrv::{StartError, StopError};

use registry::{Registry, RegistryRef};
use server::{Acceptor, AcceptorConfig, AcceptorRef};

/// The longest line the server reads, in bytes, not counting its line ending.
pub const MAX_LINE: usize = 1024;

/// The port of `cargo run --example kv -- serve`, as in the guide.
pub const PORT: u16 = 4040;

/// The registered names of one tree's processes.
///
/// Names are process-wide, so two trees in one program need different ones
/// ([`Names::new`] with another prefix); [`start`] uses the guide's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The top supervisor.
    pub kv: String,
    /// The dynamic supervisor of buckets.
    pub buckets: String,
    /// The registry.
    pub registry: String,
    /// The acceptor.
    pub acceptor: String,
}

impl Names {
    /// `prefix`, `{prefix}_buckets`, `{prefix}_registry`, `{prefix}_acceptor`.
    pub fn new(prefix: &str) -> Self {
        Names {
            kv: prefix.to_string(),
            buckets: format!("{prefix}_buckets"),
            registry: format!("{prefix}_registry"),
            acceptor: format!("{prefix}_acceptor"),
        }
    }
}

impl Default for Names {
    /// `kv`, `kv_buckets`, `kv_registry`, `kv_acceptor`.
    fn default() -> Self {
        Names::new("kv")
    }
}

/// A running KV server: its tree and its address.
///
/// Like any handle, dropping it leaves the tree running; [`stop`](Kv::stop)
/// stops it.
#[derive(Debug)]
pub struct Kv {
    supervisor: SupervisorRef,
    local_addr: SocketAddr,
    names: Names,
}

/// Why [`start`] failed.
#[derive(Debug)]
pub enum Error {
    /// The address could not be bound.
    Bind(io::Error),
    /// The tree did not start.
    Start(StartError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bind(error) => write!(f, "cannot listen: {error}"),
            Error::Start(error) => write!(f, "the tree did not start: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind(error) => Some(error),
            Error::Start(error) => Some(error),
        }
    }
}

/// Listens on `addr` (port 0: a free port) and starts the tree under the guide's
/// names ([`Names::default`]); returns once everything is up.
pub async fn start(addr: SocketAddr) -> Result<Kv, Error> {
    start_with(addr, Names::default()).await
}

/// [`start`], with the processes registered under `names`.
pub async fn start_with(addr: SocketAddr, names: Names) -> Result<Kv, Error> {
    // Bound here, once, rather than by the acceptor's init: a restarted acceptor
    // gets the same socket, so the address (a free port, too) outlives it, and
    // no rebinding can fail because the old socket is not closed yet.
    // (`tokio`'s bind sets SO_REUSEADDR, so that a server started again at once
    // on a fixed port is not refused.)
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(Error::Bind)?;
    let local_addr = listener.local_addr().map_err(Error::Bind)?;
    let acceptor = listener
        .into_std()
        .and_then(|listener| AcceptorConfig::new(listener, &names.registry))
        .map_err(Error::Bind)?;

    let store = Supervisor::new(Strategy::OneForAll)
        .child(
            DynamicSupervisor::child_spec(DynamicSupervisor::new())
                .with_id("buckets")
                .with_name(&names.buckets),
        )
        .child(
            Registry::child_spec(names.buckets.clone())
                .with_id("registry")
                .with_name(&names.registry),
        );
    let kv = Supervisor::new(Strategy::RestForOne)
        .child(Supervisor::child_spec(store).with_id("store"))
        .child(
            Acceptor::child_spec(acceptor)
                .with_id("acceptor")
                .with_name(&names.acceptor),
        );
    let supervisor = Supervisor::start(kv)
        .name(&names.kv)
        .await
        .map_err(Error::Start)?;
    Ok(Kv {
        supervisor,
        local_addr,
        names,
    })
}

impl Kv {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The top supervisor.
    pub fn supervisor(&self) -> &SupervisorRef {
        &self.supervisor
    }

    /// The names its processes are registered under.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The registry now running, if any (none while it is being restarted).
    pub fn registry(&self) -> Option<RegistryRef> {
        Registry::whereis(&self.names.registry)
    }

    /// The acceptor now running, if any.
    pub fn acceptor(&self) -> Option<AcceptorRef> {
        Acceptor::whereis(&self.names.acceptor)
    }

    /// Stops the tree: the acceptor first (it tells every open connection
    /// `SERVER SHUTTING DOWN` and closes it), then the registry and the
    /// buckets. Returns once all have ended.
    pub async fn stop(self) -> Result<(), StopError> {
        self.supervisor.stop().await
    }
}

/// What `cargo run --example kv -- serve [ADDR]` runs: listens on `addr` (port
/// 0: a free one) under the guide's names, prints the address it got (`KV
/// server listening on 127.0.0.1:4040`) and the process tree on stdout, and
/// serves until SIGINT or SIGTERM; then stops the tree gracefully with
/// [`run_until`](gensrv::supervisor::run_until) (every connection is told
/// `SERVER SHUTTING DOWN`, every terminate runs), prints how it went and how
/// many processes are left (none), and returns.
///
/// The signal handlers are installed before the address is printed, so that a
/// signal sent by whoever read it is never the one that kills the program.
/// Fails if the address cannot be bound, the tree does not start, the tree
/// ends by itself (it gave up after too many restarts), or the stop fails.
pub async fn serve(addr: SocketAddr) -> Result<(), String> {
    let signal = sup::shutdown_signal()
        .map_err(|error| format!("cannot wait for SIGINT and SIGTERM: {error}"))?;
    let kv = start(addr).await.map_err(|error| error.to_string())?;
    let addr = kv.local_addr();
    println!("KV server listening on {addr}");
    println!("connect with:  nc {} {}", addr.ip(), addr.port());
    println!("and type e.g.  CREATE shopping / PUT shopping milk 1 / GET shopping milk");
    println!("Ctrl-C (SIGINT) or SIGTERM stops it.");
    println!();
    print!("{}", gensrv::process_tree());
    match sup::run_until(kv.supervisor(), signal).await {
        Ended::Stopped { trigger, stop } => {
            println!();
            println!("{trigger}: stopped the tree: {stop:?}");
            println!("processes left: {}", gensrv::processes().len());
            stop.map_err(|error| format!("the tree did not stop cleanly: {error}"))
        }
        Ended::Exited(reason) => Err(format!("the tree ended by itself: {reason}")),
    }
}
