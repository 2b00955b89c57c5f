//! Running a tree until it is told to stop: [`run_until`], [`run_until_signal`].

use std::fmt;
use std::future::Future;
use std::io;

use crate::{ExitReason, GenServer, ServerRef, StopError};

/// How [`run_until`] or [`run_until_signal`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended<T> {
    /// The trigger fired first, with `trigger`; the tree was then stopped, and
    /// `stop` is what its [`stop`](ServerRef::stop) gave: `Ok(())` once every
    /// process of the tree has ended, as asked.
    Stopped {
        /// What the trigger gave (for [`run_until_signal`], the [`Signal`]).
        trigger: T,
        /// What stopping the top gave.
        stop: Result<(), StopError>,
    },
    /// The top ended by itself first (its supervisor gave up, say), with this
    /// reason; the trigger was dropped.
    Exited(ExitReason),
}

/// A signal that asks the whole program to stop, as OTP's `init:stop()` does
/// on SIGTERM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGINT (Ctrl-C in a terminal).
    Interrupt,
    /// SIGTERM (what `kill`, systemd and container runtimes send).
    Terminate,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Runs until `trigger` resolves, then stops the tree under `top` gracefully;
/// returns once every process of the tree has ended.
///
/// The top is stopped with [`stop`](ServerRef::stop), reason
/// [`Shutdown`](ExitReason::Shutdown), as OTP's application master stops an
/// application's top supervisor: a supervisor stops its children last started
/// first, each within its [`Shutdown`](super::Shutdown) (its terminate runs,
/// and it is killed if that takes too long), children before their parents.
/// Nothing bounds the stop as a whole beyond those timeouts (OTP's default for
/// a supervisor child is `infinity`).
///
/// Gives [`Ended::Stopped`] with the trigger's output and what the stop gave,
/// or [`Ended::Exited`] with the top's reason if it ended by itself first
/// (the trigger is then dropped). `top` is the handle of any server, usually a
/// [`SupervisorRef`](super::SupervisorRef).
///
/// [`run_until_signal`] is this with SIGINT and SIGTERM as the trigger.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use gensrv::supervisor::{self, Ended, Strategy, Supervisor};
///
/// # #[derive(Clone)]
/// # pub struct Cache;
/// # #[gensrv::gen_server]
/// # impl Cache {}
/// let sup = Supervisor::start(
///     Supervisor::new(Strategy::OneForOne).child(Cache::child_spec(Cache).with_name("cache")),
/// )
/// .await
/// .unwrap();
/// let cache = Cache::whereis("cache").unwrap();
///
/// // Any future can say when: here, a timer.
/// let ended = supervisor::run_until(&sup, tokio::time::sleep(Duration::from_millis(10))).await;
/// assert_eq!(ended, Ended::Stopped { trigger: (), stop: Ok(()) });
/// assert!(!sup.is_alive() && !cache.is_alive());
/// # }
/// ```
pub async fn run_until<S, F>(top: &ServerRef<S>, trigger: F) -> Ended<F::Output>
where
    S: GenServer,
    F: Future,
{
    let exited = top.exited();
    tokio::select! {
        // A tree that has ended is reported so, even if the trigger is ready too.
        biased;
        reason = exited => Ended::Exited(reason),
        trigger = trigger => {
            let stop = top.stop().reason(ExitReason::Shutdown).await;
            Ended::Stopped { trigger, stop }
        }
    }
}

/// Runs until the program gets SIGINT or SIGTERM, then stops the tree under
/// `top` gracefully and returns once every process of it has ended: OTP's
/// `init:stop()`, which an Erlang node runs on SIGTERM. See [`run_until`] for
/// how the tree is stopped and what is returned; the trigger's output is the
/// [`Signal`] that came.
///
/// The signal handlers are installed when this is first polled; a signal that
/// comes before that has its default effect (the program ends at once). A
/// program that tells the world it is ready (prints its address, say) installs
/// them first with [`shutdown_signal`] and passes that to [`run_until`].
///
/// Fails if the handlers cannot be installed. It must run on a tokio runtime
/// with its I/O driver enabled (`enable_all`, or `#[tokio::main]`). On other
/// platforms than Unix, only Ctrl-C is waited for.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use gensrv::supervisor::{self, Ended, Strategy, Supervisor};
///
/// let sup = Supervisor::start(Supervisor::new(Strategy::OneForOne)).await.unwrap();
/// match supervisor::run_until_signal(&sup).await? {
///     Ended::Stopped { trigger: signal, stop } => println!("{signal}: stopped: {stop:?}"),
///     Ended::Exited(reason) => println!("the tree ended by itself: {reason}"),
/// }
/// # Ok(()) }
/// ```
pub async fn run_until_signal<S: GenServer>(top: &ServerRef<S>) -> io::Result<Ended<Signal>> {
    let signal = shutdown_signal()?;
    Ok(run_until(top, signal).await)
}

/// Installs handlers for SIGINT and SIGTERM now, and gives a future that
/// resolves with the first of them to come after this call: the trigger of
/// [`run_until_signal`], for a program that must be ready for the signals
/// before it goes on (the signals no longer end the program by themselves).
///
/// Fails if the handlers cannot be installed; panics outside a tokio runtime,
/// and needs its I/O driver enabled. On other platforms than Unix, only Ctrl-C
/// is waited for (its handler is installed when the future is first polled).
pub fn shutdown_signal() -> io::Result<impl Future<Output = Signal> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            // `recv` gives `None` only once the runtime is going away: no signal
            // can come any more, so wait for the other.
            tokio::select! {
                Some(()) = interrupt.recv() => Signal::Interrupt,
                Some(()) = terminate.recv() => Signal::Terminate,
                else => std::future::pending().await,
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => Signal::Interrupt,
                // No handler: no signal will ever come.
                Err(_) => std::future::pending().await,
            }
        })
    }
}
