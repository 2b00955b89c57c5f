//! The TCP side: the [`Acceptor`] server, the accept loop it owns, and one task
//! per connection, which reads lines with a bounded [`LineReader`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gensrv::{Context, ExitReason, gen_server};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::MAX_LINE;
use super::command::{self, Reply};

/// Accepts connections and serves each in a task of its own.
///
/// Its init takes a handle of the listening socket (bound once, by
/// [`start`](super::start)) and spawns the accept loop, which the acceptor owns:
/// the loop, and every connection it accepted, ends with the acceptor, however
/// the acceptor ends (a `kill` too). A connection that fails or panics ends alone.
///
/// When the acceptor stops (its terminate runs), it stops accepting and tells
/// every open connection: each finishes the command it is running, if any,
/// sends `SERVER SHUTTING DOWN` ([`Reply::ShuttingDown`]) and closes. The
/// terminate waits for them for up to [`SHUTDOWN_GRACE`], then cuts off those
/// still open. A `kill` cuts them all off at once, untold.
///
/// An accept error that is not about one connection ends the acceptor with
/// reason `Error`, and its supervisor starts another on the same socket.
pub struct Acceptor {
    local_addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    accept_loop: OwnedTask,
    /// Set to `true` when the acceptor stops: the loop and the connections
    /// watch it.
    shutdown: watch::Sender<bool>,
}

/// How long a stopping acceptor waits for its connections to finish their
/// command and say goodbye, before it cuts them off. (Under the 5 s a
/// supervisor gives a worker to stop.)
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How long a connection told to shut down keeps reading (and dropping) what
/// the client still sends, after its goodbye, waiting for the client to close
/// first: closing a socket with unread data resets it, and the client could
/// lose the goodbye.
const LINGER: Duration = Duration::from_millis(500);

/// What an [`Acceptor`] is started with, cloned for every incarnation.
#[derive(Clone, Debug)]
pub struct AcceptorConfig {
    /// The listening socket. It belongs to the tree, not to one acceptor: a
    /// restarted acceptor accepts on the same address, and connections waiting in
    /// the backlog meanwhile are not refused.
    listener: Arc<std::net::TcpListener>,
    /// The registered name of the registry the connections use.
    registry: String,
}

impl AcceptorConfig {
    /// Accepting on `listener` (made non-blocking here), for the registry
    /// registered as `registry`.
    pub fn new(listener: std::net::TcpListener, registry: impl Into<String>) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(AcceptorConfig {
            listener: Arc::new(listener),
            registry: registry.into(),
        })
    }
}

/// The accept loop failed: the acceptor stops with this error, so that its
/// supervisor starts a new one.
#[derive(Clone, Debug)]
pub struct AcceptFailed(pub String);

#[gen_server]
impl Acceptor {
    /// Starts accepting on the configured socket.
    #[init]
    fn init(config: AcceptorConfig, ctx: &mut Context<Self>) -> Result<Self, String> {
        let listener = config
            .listener
            .try_clone()
            .and_then(TcpListener::from_std)
            .map_err(|error| format!("cannot use the listening socket: {error}"))?;
        let local_addr = listener
            .local_addr()
            .map_err(|error| format!("cannot use the listening socket: {error}"))?;
        let connections = Arc::new(AtomicUsize::new(0));
        let (shutdown, shutting_down) = watch::channel(false);
        let accept_loop = tokio::spawn(accept_loop(
            listener,
            config.registry,
            ctx.this(),
            connections.clone(),
            shutting_down,
        ));
        Ok(Acceptor {
            local_addr,
            connections,
            accept_loop: OwnedTask(accept_loop),
            shutdown,
        })
    }

    /// The address it accepts on.
    #[call]
    fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many connections are open.
    #[call]
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The accept loop failed: stops abnormally, for the supervisor to restart.
    #[info]
    fn accept_failed(&mut self, failed: AcceptFailed, ctx: &mut Context<Self>) {
        ctx.stop(ExitReason::Error(format!("accept failed: {}", failed.0)));
    }

    /// Stops accepting, tells the connections, and waits until they have
    /// closed, for up to [`SHUTDOWN_GRACE`]; then cuts off those still open.
    #[terminate]
    async fn terminate(&mut self) {
        // Nobody listening: the loop has ended already (it failed).
        let _ = self.shutdown.send(true);
        self.accept_loop.wait_or_abort(SHUTDOWN_GRACE).await;
    }
}

/// A task that ends when its owner is dropped (also when the owner is killed and
/// its terminate does not run).
#[derive(Debug)]
struct OwnedTask(JoinHandle<()>);

impl OwnedTask {
    /// Waits for the task to end for up to `grace`, then aborts it and waits
    /// for that.
    async fn wait_or_abort(&mut self, grace: Duration) {
        if tokio::time::timeout(grace, &mut self.0).await.is_err() {
            self.0.abort();
            let _ = (&mut self.0).await;
        }
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Accepts connections until `shutdown` turns `true`, each served in a task of
/// the set it owns; then waits for the connections to close. When the loop is
/// dropped (aborted), so is the set, and every connection task is aborted.
async fn accept_loop(
    listener: TcpListener,
    registry: String,
    acceptor: AcceptorRef,
    connections: Arc<AtomicUsize>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            // Once shutting down, nothing more is accepted.
            biased;
            _ = shutting_down(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let counted = Counted::new(&connections);
                    let registry = registry.clone();
                    let shutdown = shutdown.clone();
                    tasks.spawn(async move {
                        let _counted = counted;
                        tracing::debug!(%peer, "connection opened");
                        match serve(stream, &registry, shutdown).await {
                            Ok(()) => tracing::debug!(%peer, "connection closed"),
                            Err(error) => tracing::debug!(%peer, %error, "connection failed"),
                        }
                    });
                }
                // The connection went away before it was accepted: not the
                // listener's fault.
                Err(error) if lost_connection(&error) => {
                    tracing::debug!(%error, "connection lost while being accepted");
                }
                Err(error) => {
                    let _ = acceptor.send(AcceptFailed(error.to_string()));
                    return;
                }
            },
            Some(ended) = tasks.join_next() => log_panic(ended),
        }
    }
    drop(listener);
    while let Some(ended) = tasks.join_next().await {
        log_panic(ended);
    }
}

fn log_panic(ended: Result<(), tokio::task::JoinError>) {
    match ended {
        Err(error) if error.is_panic() => {
            tracing::error!(%error, "connection task panicked; other connections go on");
        }
        _ => {}
    }
}

/// Resolves once `shutdown` is `true` (`true`: a graceful stop), or once its
/// acceptor is gone without saying so (`false`: killed, its terminate skipped).
async fn shutting_down(shutdown: &mut watch::Receiver<bool>) -> bool {
    shutdown.wait_for(|&down| down).await.is_ok()
}

fn lost_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Counts one open connection while it lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one connection: a reply to every line, in order, until the client
/// closes it, or until `shutdown` turns `true`: then, between two commands, it
/// says `SERVER SHUTTING DOWN` and closes.
async fn serve(
    mut stream: TcpStream,
    registry: &str,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.split();
    let mut lines = LineReader::new(read);
    loop {
        let line = tokio::select! {
            // No command is started once shutting down, even if one is waiting.
            biased;
            graceful = shutting_down(&mut shutdown) => {
                if graceful {
                    break;
                }
                // The acceptor was killed: cut off, as its abort of this task
                // would (which may come a moment later, from another thread).
                return Ok(());
            }
            line = lines.next_line() => line?,
        };
        let reply = match line {
            Line::End => return Ok(()),
            Line::TooLong => Reply::LineTooLong,
            Line::Complete(line) => match command::parse(line) {
                Ok(command) => command.run(registry).await,
                Err(command::UnknownCommand) => Reply::UnknownCommand,
            },
        };
        write.write_all(reply.to_wire().as_bytes()).await?;
    }
    write
        .write_all(Reply::ShuttingDown.to_wire().as_bytes())
        .await?;
    write.shutdown().await?;
    // Drops what the client still sends until it closes too, for a while.
    let _ = tokio::time::timeout(LINGER, async {
        while !matches!(lines.next_line().await, Ok(Line::End) | Err(_)) {}
    })
    .await;
    Ok(())
}

/// One line read by a [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line, without its `\n` or `\r\n`.
    Complete(&'a [u8]),
    /// A line longer than [`MAX_LINE`] bytes. What of it has come is dropped;
    /// the reader drops the rest as it comes, up to its end of line.
    TooLong,
    /// The peer closed the connection (a line it left unfinished is dropped).
    End,
}

/// Reads lines of at most [`MAX_LINE`] bytes, holding no more than that (and
/// its read buffer) whatever the peer sends.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
    /// Dropping the rest of a line that was too long.
    skipping: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader of the lines of `inner`.
    pub fn new(inner: R) -> Self {
        LineReader {
            inner: BufReader::with_capacity(4096, inner),
            line: Vec::with_capacity(MAX_LINE + 1),
            skipping: false,
        }
    }

    /// The next line. A line that is too long is reported as soon as it is, and
    /// the rest of it is skipped before the line after it is read.
    pub async fn next_line(&mut self) -> io::Result<Line<'_>> {
        self.line.clear();
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                return Ok(Line::End);
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let (chunk, used) = match newline {
                Some(at) => (&available[..at], at + 1),
                None => (available, available.len()),
            };
            if self.skipping {
                self.skipping = newline.is_none();
                self.inner.consume(used);
                continue;
            }
            // One byte more than the limit may be the `\r` of a `\r\n`.
            if self.line.len() + chunk.len() > MAX_LINE + 1 {
                self.skipping = newline.is_none();
                self.inner.consume(used);
                return Ok(Line::TooLong);
            }
            self.line.extend_from_slice(chunk);
            self.inner.consume(used);
            if newline.is_some() {
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                if self.line.len() > MAX_LINE {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Complete(&self.line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8]) -> Vec<Result<String, &'static str>> {
        let mut reader = LineReader::new(input);
        let mut out = Vec::new();
        loop {
            match reader.next_line().await.unwrap() {
                Line::Complete(line) => out.push(Ok(String::from_utf8_lossy(line).into_owned())),
                Line::TooLong => out.push(Err("too long")),
                Line::End => return out,
            }
        }
    }

    #[tokio::test]
    async fn splits_on_lf_and_crlf() {
        assert_eq!(
            lines(b"a\r\nb\n\nc\r\n\r\n").await,
            vec![
                Ok("a".into()),
                Ok("b".into()),
                Ok("".into()),
                Ok("c".into()),
                Ok("".into())
            ]
        );
    }

    #[tokio::test]
    async fn an_unfinished_last_line_is_dropped() {
        assert_eq!(lines(b"a\nGET x").await, vec![Ok("a".into())]);
    }

    #[tokio::test]
    async fn the_limit_does_not_count_the_line_ending() {
        let at_limit = "x".repeat(MAX_LINE);
        for ending in ["\n", "\r\n"] {
            let input = format!("{at_limit}{ending}{at_limit}x{ending}ok{ending}");
            assert_eq!(
                lines(input.as_bytes()).await,
                vec![Ok(at_limit.clone()), Err("too long"), Ok("ok".into())],
                "ending {ending:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_long_line_is_skipped_to_its_end() {
        let mut input = vec![b'y'; 1 << 20];
        input.extend_from_slice(b"\r\nnext\r\n");
        input.extend(vec![b'z'; 5000]);
        assert_eq!(
            lines(&input).await,
            vec![Err("too long"), Ok("next".into()), Err("too long")]
        );
    }

    #[tokio::test]
    async fn holds_no_more_than_the_limit() {
        let input = vec![b'y'; 1 << 20];
        let mut reader = LineReader::new(&input[..]);
        assert_eq!(reader.next_line().await.unwrap(), Line::TooLong);
        assert!(reader.line.capacity() <= MAX_LINE + 1);
        assert_eq!(reader.next_line().await.unwrap(), Line::End);
        assert!(reader.line.capacity() <= MAX_LINE + 1);
    }
}
