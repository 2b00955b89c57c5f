//! Call timeouts under load: many calls waiting at once, with different timeouts,
//! on both runtime flavours and across runtimes. Each must time out no earlier
//! than its timeout and not much later, and a reply that comes first must win.

use std::time::{Duration, Instant};

use gensrv::{CallError, ReplyTo, gen_server};
use gensrv_tests::within;

/// Keeps the replies of `hold` calls unanswered; answers `echo` at once.
#[derive(Default)]
struct Holder {
    held: Vec<ReplyTo<u32>>,
}

#[gen_server]
impl Holder {
    #[call]
    fn hold(&mut self, reply: ReplyTo<u32>) {
        self.held.push(reply);
    }

    #[call]
    fn echo(&self, n: u32) -> u32 {
        n
    }
}

/// A small deterministic spread of timeouts, 1 to 60 ms.
fn timeout_of(i: u64) -> Duration {
    Duration::from_millis(1 + (i * 7919) % 60)
}

async fn many_waiting_calls_time_out_on_time() {
    let holder = within(5, Holder::start(Holder::default())).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..2000u64 {
        let holder = holder.clone();
        calls.push(tokio::spawn(async move {
            let timeout = timeout_of(i);
            let started = Instant::now();
            if i % 3 == 0 {
                // Answered before any timeout.
                let n = i as u32;
                let reply = holder.echo(n).timeout(Duration::from_secs(5)).await;
                assert_eq!(reply, Ok(n));
                return;
            }
            let reply = holder.hold().timeout(timeout).await;
            let took = started.elapsed();
            assert_eq!(reply, Err(CallError::Timeout));
            assert!(
                took >= timeout,
                "call {i} timed out after {took:?} < {timeout:?}"
            );
            assert!(
                took < timeout + Duration::from_secs(2),
                "call {i} timed out after {took:?}, for {timeout:?}"
            );
        }));
    }
    within(30, async {
        for call in calls {
            call.await.unwrap();
        }
    })
    .await;
    within(5, holder.stop()).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn many_waiting_calls_time_out_on_time_on_one_thread() {
    many_waiting_calls_time_out_on_time().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_waiting_calls_time_out_on_time_on_two_workers() {
    many_waiting_calls_time_out_on_time().await;
}

/// A holder on a one-worker runtime of its own (kept alive by the caller).
fn holder_on_a_runtime_of_its_own() -> (tokio::runtime::Runtime, HolderRef) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let holder = runtime
        .block_on(async { Holder::start(Holder::default()).await })
        .unwrap();
    (runtime, holder)
}

// One thread taking turns between two runtimes: each call times out on the clock
// of the runtime it waits on, and neither runtime's end stops the other's timeouts.
#[test]
fn calls_time_out_on_each_runtime_a_thread_takes_turns_on() {
    let (_server_runtime, holder) = holder_on_a_runtime_of_its_own();
    for round in 0..3 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let reply = runtime
            .block_on(async { within(5, holder.hold().timeout(Duration::from_millis(20))).await });
        assert_eq!(reply, Err(CallError::Timeout), "round {round}");
        drop(runtime);
    }
}

// The default 5 s timeout, under paused time: nothing real waits.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_default_timeout_is_five_seconds() {
    let holder = Holder::start(Holder::default()).await.unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(holder.hold().await, Err(CallError::Timeout));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_millis(5100),
        "{took:?}"
    );
}

// Timeouts of a second or more wait in a per-thread epoch before they get a timer
// of their own (see `gensrv::call`): under paused time each still ends exactly on
// its deadline, whether its call started early or late in an epoch.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn long_timeouts_end_on_their_deadline_under_paused_time() {
    let holder = Holder::start(Holder::default()).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..600u64 {
        let holder = holder.clone();
        // Started at different points of the epochs.
        tokio::time::sleep(Duration::from_millis(i % 7 * 150)).await;
        calls.push(tokio::spawn(async move {
            if i % 3 == 0 {
                assert_eq!(holder.echo(i as u32).await, Ok(i as u32));
                return;
            }
            let timeout = Duration::from_millis(1000 + (i * 7919) % 9000);
            let slack = Duration::from_millis(2);
            times_out_within(&holder, timeout, slack, &format!("call {i}")).await;
        }));
    }
    for call in calls {
        call.await.unwrap();
    }
}

/// A call that gets no reply times out no earlier than `timeout`, and at most
/// `slack` after it.
async fn times_out_within(holder: &HolderRef, timeout: Duration, slack: Duration, what: &str) {
    // tokio's clock: paused time counts.
    let started = tokio::time::Instant::now();
    assert_eq!(
        holder.hold().timeout(timeout).await,
        Err(CallError::Timeout)
    );
    let took = started.elapsed();
    assert!(
        took >= timeout && took <= timeout + slack,
        "{what}: {took:?} for {timeout:?}"
    );
}

/// `times_out_within` a second: on time on a busy machine.
async fn times_out_on_time(holder: &HolderRef, timeout: Duration, what: &str) {
    times_out_within(holder, timeout, Duration::from_secs(1), what).await;
}

// The same in real time, on two workers, with calls answered in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_timeouts_end_on_time_on_two_workers() {
    let holder = within(5, Holder::start(Holder::default())).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..2000u64 {
        let holder = holder.clone();
        calls.push(tokio::spawn(async move {
            if i % 2 == 0 {
                for _ in 0..10 {
                    assert_eq!(holder.echo(i as u32).await, Ok(i as u32));
                }
                return;
            }
            let timeout = Duration::from_millis(1000 + i % 300);
            times_out_on_time(&holder, timeout, &format!("call {i}")).await;
        }));
    }
    within(10, async {
        for call in calls {
            call.await.unwrap();
        }
    })
    .await;
}

// A task that calls again and again finds its waker already in its thread's epoch
// and waits without registering anew (on a multi-thread runtime, without asking
// for the runtime either): its long call still times out on time, and the epochs
// that end while it is not waiting (waking it for nothing) do it no harm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_calling_in_a_loop_still_times_out_on_time() {
    let holder = within(5, Holder::start(Holder::default())).await.unwrap();
    let tasks: Vec<_> = (0..8u64)
        .map(|k| {
            let holder = holder.clone();
            tokio::spawn(async move {
                for round in 0..3u64 {
                    for i in 0..200u32 {
                        assert_eq!(holder.echo(i).await, Ok(i));
                    }
                    let timeout = Duration::from_millis(1000 + 150 * k + 50 * round);
                    times_out_on_time(&holder, timeout, &format!("task {k}, round {round}")).await;
                }
            })
        })
        .collect();
    within(15, async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await;
}

/// Polls `future` once.
async fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx)))
        .await
}

/// How a waiting call leaves the runtime (and thread) it first waited on.
#[derive(Clone, Copy, Debug)]
enum Move {
    /// That runtime is shut down.
    ShutDown,
    /// That runtime lives on, idle.
    LeftIdle,
    /// It waited on another thread, which has exited.
    ThreadExited,
}

// A call first polled on one runtime and then awaited on another still times out
// on time, however it left the first.
#[test]
fn a_waiting_call_moved_to_another_runtime_times_out_on_time() {
    let (_server_runtime, holder) = holder_on_a_runtime_of_its_own();
    let timeout = Duration::from_millis(1200);
    let current = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    for how in [Move::ShutDown, Move::LeftIdle, Move::ThreadExited] {
        let started = Instant::now();
        let mut pending = Box::pin(holder.hold().timeout(timeout).send());
        let first = current();
        let mut kept = None;
        match how {
            Move::ThreadExited => {
                pending = std::thread::spawn(move || {
                    assert!(first.block_on(poll_once(&mut pending)).is_pending());
                    pending
                })
                .join()
                .unwrap();
            }
            _ => {
                assert!(first.block_on(poll_once(&mut pending)).is_pending());
                if let Move::LeftIdle = how {
                    kept = Some(first);
                }
            }
        }
        let reply = current().block_on(within(5, pending));
        let took = started.elapsed();
        assert_eq!(reply, Err(CallError::Timeout), "{how:?}");
        assert!(
            took >= timeout && took < timeout + Duration::from_secs(1),
            "{how:?}: {took:?}"
        );
        drop(kept);
    }
}

// A waiting call polled again and again (here by a `select!` loop) keeps its
// deadline.
#[tokio::test(flavor = "current_thread")]
async fn a_call_polled_again_while_waiting_keeps_its_deadline() {
    let holder = Holder::start(Holder::default()).await.unwrap();
    let timeout = Duration::from_millis(1200);
    let started = Instant::now();
    let mut pending = std::pin::pin!(holder.hold().timeout(timeout).send());
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    let reply = loop {
        tokio::select! {
            reply = &mut pending => break reply,
            _ = ticks.tick() => {}
        }
    };
    let took = started.elapsed();
    assert_eq!(reply, Err(CallError::Timeout));
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(1),
        "{took:?}"
    );
}
