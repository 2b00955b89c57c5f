//! What gensrv costs over the same server written by hand on tokio.
//!
//! Every group puts a gensrv server beside a hand-written **baseline** doing the same
//! work: a task owning a `u64`, one `tokio::sync::mpsc::unbounded_channel` carrying a
//! request enum, one `tokio::sync::oneshot` per call for the reply, no timeout, no
//! process table, no panic catching. The gensrv server is the same counter, written
//! with `#[gen_server]`.
//!
//! # Groups
//!
//! - `call/<runtime>`: one call round trip, the client sends a request and awaits the
//!   reply (the server is started once, outside the measurement).
//!   - `gensrv`: `counter.get().await`.
//!   - `gensrv_bounded`: the same, to a server whose mailbox is bounded
//!     (`Start::mailbox`, 128 messages): what the bound costs.
//!   - `tokio_baseline`: send `Get(oneshot::Sender)`, await the `oneshot::Receiver`.
//!   - `tokio_baseline_timeout`: the same, with the receiver wrapped in
//!     `tokio::time::timeout(5 s, ..)`. gensrv's calls have a 5 s timeout by default,
//!     so this line shows how much of the gap to `tokio_baseline` is the timer alone.
//! - `cast/<runtime>`: one cast, *including the server handling it*. The client
//!   sends batches of [`BATCH`] casts, each batch followed by one call that flushes
//!   the mailbox (it is answered only after every cast before it has been handled);
//!   the time of all batches is divided by the number of casts. Each cast's figure
//!   thus includes 1/[`BATCH`] of a call round trip (gensrv's call for gensrv, the
//!   baseline's call without timeout for the baseline). `gensrv_bounded`: the same,
//!   to a server whose mailbox is bounded to 128 (a batch always fits).
//! - `start_stop/<runtime>`: start a server and stop it, awaiting both.
//!   - `gensrv`: `Counter::start(state).await` (returns once init ran in the server
//!     task), then `counter.stop().await` (returns once the server has ended).
//!   - `tokio_baseline`: spawn the task, await an init acknowledgement on a oneshot,
//!     send a `Stop` message and await the `JoinHandle`.
//!
//! # Runtimes (the `<runtime>` in the group names)
//!
//! - `current_thread`: one thread; the client and the server take turns on it. No
//!   cross-thread wakeup, so this is the closest to the bare cost of each library.
//! - `multi_thread`: 2 worker threads; the client is a task spawned on the runtime
//!   (as when a server or a request handler calls another server). tokio then
//!   usually runs the woken server next on the client's own worker (its LIFO slot),
//!   so most round trips stay on one thread, at multi-thread atomics' price.
//! - `multi_thread_external`: 2 worker threads; the client is the bench thread itself,
//!   outside the runtime (`Runtime::block_on`). Every request and every reply wakes a
//!   task parked on another thread: this is the worst case, dominated by
//!   cross-thread wakeups (futex/eventfd syscalls, cache misses), and both lines
//!   should be close.
//!
//! # Reading the numbers
//!
//! Criterion reports the time per operation of each line. The figure of interest is
//! the ratio `gensrv / tokio_baseline` within one group: 1.0 means gensrv adds
//! nothing, 1.5 that an operation costs half as much again as the hand-written
//! server. The absolute difference (`gensrv - tokio_baseline`, in ns) is the
//! per-operation overhead; it is mostly the same in every runtime, so the ratio is
//! largest on `current_thread` and closest to 1 on `multi_thread_external`, where
//! wakeups dwarf it. For calls, compare gensrv against `tokio_baseline_timeout` too:
//! what remains beyond the timer is the rest of gensrv (process handle, self-call
//! check, panic catching, task-local process scope).
//!
//! Run with `cargo bench -p gensrv --bench round_trip`; filter with e.g.
//! `cargo bench -p gensrv --bench round_trip -- call/current_thread`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gensrv::gen_server;
use tokio::runtime::Runtime;

/// Casts per flushing call in the `cast` groups.
pub const BATCH: u64 = 64;

/// The gensrv server: a counter.
#[derive(Default)]
pub struct Counter {
    n: u64,
}

#[gen_server]
impl Counter {
    /// The current count.
    #[call]
    fn get(&self) -> u64 {
        self.n
    }

    /// Adds `n` to the count.
    #[cast]
    fn add(&mut self, n: u64) {
        self.n += n;
    }
}

/// The same counter, written by hand on tokio: what gensrv is measured against.
mod baseline {
    use std::time::Duration;

    use tokio::sync::{mpsc, oneshot};
    use tokio::task::JoinHandle;

    /// gensrv's default call timeout, for the `tokio_baseline_timeout` line.
    const CALL_TIMEOUT: Duration = Duration::from_secs(5);

    enum Request {
        Get(oneshot::Sender<u64>),
        Add(u64),
        Stop,
    }

    /// The client handle.
    #[derive(Clone)]
    pub(crate) struct CounterRef {
        mailbox: mpsc::UnboundedSender<Request>,
    }

    /// A running counter: its handle and its task.
    pub(crate) struct Counter {
        pub(crate) handle: CounterRef,
        task: JoinHandle<()>,
    }

    impl Counter {
        /// Spawns the server task and returns once it has built its state.
        pub(crate) async fn start(n: u64) -> Counter {
            let (mailbox, mut inbox) = mpsc::unbounded_channel();
            let (ack, acked) = oneshot::channel();
            let task = tokio::spawn(async move {
                let mut state = n;
                let _ = ack.send(());
                while let Some(request) = inbox.recv().await {
                    match request {
                        Request::Get(reply) => {
                            let _ = reply.send(state);
                        }
                        Request::Add(n) => state += n,
                        Request::Stop => break,
                    }
                }
            });
            acked.await.expect("baseline init");
            Counter {
                handle: CounterRef { mailbox },
                task,
            }
        }

        /// Asks the server to stop and waits until its task has ended.
        pub(crate) async fn stop(self) {
            self.handle
                .mailbox
                .send(Request::Stop)
                .unwrap_or_else(|_| panic!("baseline stop"));
            self.task.await.expect("baseline task");
        }
    }

    impl CounterRef {
        /// A call, as gensrv's without the timeout.
        pub(crate) async fn get(&self) -> u64 {
            let (reply, replied) = oneshot::channel();
            self.mailbox
                .send(Request::Get(reply))
                .unwrap_or_else(|_| panic!("baseline call"));
            replied.await.expect("baseline reply")
        }

        /// A call with gensrv's default timeout around the reply.
        pub(crate) async fn get_with_timeout(&self) -> u64 {
            let (reply, replied) = oneshot::channel();
            self.mailbox
                .send(Request::Get(reply))
                .unwrap_or_else(|_| panic!("baseline call"));
            tokio::time::timeout(CALL_TIMEOUT, replied)
                .await
                .expect("baseline reply in time")
                .expect("baseline reply")
        }

        /// A cast.
        pub(crate) fn add(&self, n: u64) {
            self.mailbox
                .send(Request::Add(n))
                .unwrap_or_else(|_| panic!("baseline cast"));
        }
    }
}

/// Where the client runs: one runtime flavour and the client's place on it.
struct Setup {
    name: &'static str,
    rt: Runtime,
    /// Whether the timed loop runs in a task spawned on the runtime (`true`) or in
    /// `Runtime::block_on` on the bench thread (`false`).
    client_is_task: bool,
}

impl Setup {
    fn all() -> [fn() -> Setup; 3] {
        [
            || Setup {
                name: "current_thread",
                rt: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime"),
                client_is_task: true,
            },
            || Setup {
                name: "multi_thread",
                rt: multi_thread(),
                client_is_task: true,
            },
            || Setup {
                name: "multi_thread_external",
                rt: multi_thread(),
                client_is_task: false,
            },
        ]
    }
}

fn multi_thread() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Times `$body`, which does `$iters` operations on `$client` (a clone of `$server`
/// made outside the timing), where the [`Setup`] puts the client.
macro_rules! timed {
    ($bencher:expr, $setup:expr, $server:expr, |$client:pat_param, $iters:ident| $body:expr) => {{
        let setup: &Setup = $setup;
        let server = $server;
        let client_is_task = setup.client_is_task;
        $bencher.to_async(&setup.rt).iter_custom(|$iters| {
            let $client = server.clone();
            let run = async move {
                let start = Instant::now();
                $body;
                start.elapsed()
            };
            async move {
                if client_is_task {
                    tokio::spawn(run).await.expect("client task")
                } else {
                    run.await
                }
            }
        })
    }};
}

/// A gensrv counter, one with a bounded mailbox, and a baseline counter, started.
async fn start_both() -> (CounterRef, CounterRef, baseline::Counter) {
    let counter = Counter::start(Counter::default())
        .await
        .expect("gensrv start");
    let bounded = Counter::start(Counter::default())
        .mailbox(2 * BATCH as usize)
        .await
        .expect("gensrv start");
    (counter, bounded, baseline::Counter::start(0).await)
}

fn call(c: &mut Criterion) {
    for setup in Setup::all().map(|make| make()) {
        let (counter, bounded, base) = setup.rt.block_on(start_both());

        let mut group = c.benchmark_group(format!("call/{}", setup.name));
        group.bench_function("gensrv", |b| {
            timed!(b, &setup, &counter, |counter, iters| for _ in 0..iters {
                black_box(counter.get().await.expect("gensrv call"));
            })
        });
        group.bench_function("gensrv_bounded", |b| {
            timed!(b, &setup, &bounded, |counter, iters| for _ in 0..iters {
                black_box(counter.get().await.expect("gensrv call"));
            })
        });
        group.bench_function("tokio_baseline", |b| {
            timed!(b, &setup, &base.handle, |base, iters| for _ in 0..iters {
                black_box(base.get().await);
            })
        });
        group.bench_function("tokio_baseline_timeout", |b| {
            timed!(b, &setup, &base.handle, |base, iters| for _ in 0..iters {
                black_box(base.get_with_timeout().await);
            })
        });
        group.finish();

        setup.rt.block_on(async {
            counter.stop().await.expect("gensrv stop");
            bounded.stop().await.expect("gensrv stop");
            base.stop().await;
        });
    }
}

fn cast(c: &mut Criterion) {
    for setup in Setup::all().map(|make| make()) {
        let (counter, bounded, base) = setup.rt.block_on(start_both());

        let mut group = c.benchmark_group(format!("cast/{}", setup.name));
        for (name, counter) in [("gensrv", &counter), ("gensrv_bounded", &bounded)] {
            group.bench_function(name, |b| {
                timed!(b, &setup, counter, |counter, iters| {
                    let mut left = iters;
                    while left > 0 {
                        let batch = left.min(BATCH);
                        for _ in 0..batch {
                            counter.add(black_box(1)).expect("gensrv cast");
                        }
                        black_box(counter.get().await.expect("gensrv flush"));
                        left -= batch;
                    }
                })
            });
        }
        group.bench_function("tokio_baseline", |b| {
            timed!(b, &setup, &base.handle, |base, iters| {
                let mut left = iters;
                while left > 0 {
                    let batch = left.min(BATCH);
                    for _ in 0..batch {
                        base.add(black_box(1));
                    }
                    black_box(base.get().await);
                    left -= batch;
                }
            })
        });
        group.finish();

        setup.rt.block_on(async {
            counter.stop().await.expect("gensrv stop");
            bounded.stop().await.expect("gensrv stop");
            base.stop().await;
        });
    }
}

fn start_stop(c: &mut Criterion) {
    for setup in Setup::all().map(|make| make()) {
        let mut group = c.benchmark_group(format!("start_stop/{}", setup.name));
        group.bench_function("gensrv", |b| {
            timed!(b, &setup, (), |(), iters| for _ in 0..iters {
                let counter = Counter::start(Counter::default())
                    .await
                    .expect("gensrv start");
                counter.stop().await.expect("gensrv stop");
            })
        });
        group.bench_function("tokio_baseline", |b| {
            timed!(b, &setup, (), |(), iters| for _ in 0..iters {
                baseline::Counter::start(0).await.stop().await;
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = call, cast, start_stop
}
criterion_main!(benches);
