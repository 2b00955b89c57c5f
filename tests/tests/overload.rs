//! Bounded mailboxes under overload (`Start::mailbox`): a flood of casts from
//! many tasks is either handled or refused with `CastError::Full`, never queued
//! past the capacity, never lost; calls get their reply or `Timeout`; the
//! runtime's own messages (stop, sys requests, `Down`s, exit signals) are never
//! refused or held up by a full mailbox.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gensrv::supervisor::{DynamicSupervisor, Restart, Shutdown};
use gensrv::{CallError, CastError, Context, Down, ExitReason, gen_server};
use gensrv_tests::{Slow, SlowRef, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_under_a_flood_get_their_reply_or_time_out() {
    let server = Slow::start(Slow::default()).mailbox(32).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flooding: Vec<_> = (0..8)
        .map(|_| {
            let (server, stop) = (server.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match server.work(vec![0; 64]) {
                        Ok(()) | Err(CastError::Full) => {}
                        Err(other) => panic!("{other}"),
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let (mut answered, mut timed_out) = (0, 0);
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                let (mut answered, mut timed_out) = (0, 0);
                for _ in 0..50 {
                    match within(5, server.handled().timeout(Duration::from_millis(20))).await {
                        Ok(_) => answered += 1,
                        Err(CallError::Timeout) => timed_out += 1,
                        Err(other) => panic!("{other}"),
                    }
                }
                (answered, timed_out)
            })
        })
        .collect();
    for caller in callers {
        let (a, t) = within(10, caller).await.unwrap();
        answered += a;
        timed_out += t;
    }
    stop.store(true, Ordering::Relaxed);
    for flooder in flooding {
        within(5, flooder).await.unwrap();
    }
    println!("calls under the flood: {answered} answered, {timed_out} timed out");
    assert_eq!(answered + timed_out, 200);
    assert!(answered > 0);
}

// Under paused time: the clock moves only if every task waits on a timer, so a
// call that got in only when some timer woke it would show as time passed.
#[tokio::test(start_paused = true)]
async fn a_call_to_a_full_mailbox_waits_for_room_and_keeps_its_place() {
    let started = tokio::time::Instant::now();
    let server = Slow::start(Slow::default()).mailbox(2).await.unwrap();
    within(5, server.suspend()).await.unwrap();
    server.work(vec![]).unwrap();
    server.work(vec![]).unwrap();
    assert_eq!(server.work(vec![]), Err(CastError::Full));
    // The call waits for room in a task of its own, which the server wakes when
    // there is room.
    let call = tokio::spawn({
        let server = server.clone();
        async move { server.handled().await }
    });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    within(5, server.resume()).await.unwrap();
    // While the server works through the two casts, room comes, but casts sent
    // meanwhile are refused for as long as the call waits: they would overtake it.
    let mut refused = 0;
    for _ in 0..10_000 {
        if call.is_finished() {
            break;
        }
        if server.work(vec![]) == Err(CastError::Full) {
            refused += 1;
        }
        tokio::task::yield_now().await;
    }
    assert!(call.is_finished(), "the call never got in");
    assert!(refused > 0);
    // It got in right after the two casts before it, and before any sent since.
    assert_eq!(within(2, call).await.unwrap(), Ok(2));
    // Woken by the server as room came, not by a timer.
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn a_call_waiting_for_room_times_out_and_leaves_its_place() {
    let server = Slow::start(Slow::default()).mailbox(1).await.unwrap();
    within(5, server.suspend()).await.unwrap();
    server.work(vec![]).unwrap();
    assert_eq!(
        within(5, server.handled().timeout(Duration::from_millis(20))).await,
        Err(CallError::Timeout)
    );
    // It left the line: the mailbox takes a cast again once there is room.
    within(5, server.resume()).await.unwrap();
    assert_eq!(within(5, server.handled()).await, Ok(1));
    server.work(vec![]).unwrap();
}

#[tokio::test]
async fn a_call_waiting_for_room_fails_at_once_when_the_server_ends() {
    let server = Slow::start(Slow::default()).mailbox(1).await.unwrap();
    within(5, server.suspend()).await.unwrap();
    server.work(vec![]).unwrap();
    let call = server.handled().send();
    tokio::task::yield_now().await;
    gensrv::exit(&server, ExitReason::Error("gone".into()));
    assert_eq!(
        within(5, call).await,
        Err(CallError::Exited(ExitReason::Error("gone".into())))
    );
}

/// Watches a slow server whose mailbox is full.
struct Watcher {
    down: Option<Down>,
}

#[gen_server]
impl Watcher {
    #[call]
    fn watch(&mut self, target: gensrv::Pid, ctx: &mut Context<Self>) {
        ctx.monitor(&target);
    }

    #[info]
    fn down(&mut self, down: Down) {
        self.down = Some(down);
    }

    #[call]
    fn seen(&self) -> Option<ExitReason> {
        self.down.as_ref().map(|d| d.reason.clone())
    }
}

#[tokio::test]
async fn runtime_messages_pass_a_full_mailbox() {
    // A full watcher still gets its `Down`; a full server still answers sys
    // requests and stops.
    let watcher = Watcher::start(Watcher { down: None })
        .mailbox(1)
        .await
        .unwrap();
    let server = Slow::start(Slow::default()).mailbox(1).await.unwrap();
    within(5, watcher.watch(server.pid())).await.unwrap();
    within(5, server.suspend()).await.unwrap();
    within(5, watcher.suspend()).await.unwrap();
    server.work(vec![]).unwrap();
    assert_eq!(server.work(vec![]), Err(CastError::Full));
    assert_eq!(within(5, server.statistics()).await.unwrap().mailbox_len, 1);
    assert!(within(5, server.get_status()).await.unwrap().suspended);
    within(5, server.stop().reason(ExitReason::Shutdown))
        .await
        .unwrap();
    within(5, watcher.resume()).await.unwrap();
    assert_eq!(
        within(5, watcher.seen()).await,
        Ok(Some(ExitReason::Shutdown))
    );
}

#[tokio::test]
async fn a_supervisor_stops_children_whose_mailboxes_are_full() {
    let sup = DynamicSupervisor::start(DynamicSupervisor::new().child_mailbox(1))
        .await
        .unwrap();
    let mut children = Vec::new();
    for _ in 0..3 {
        let spec = Slow::child_spec(Slow::default())
            .with_restart(Restart::Temporary)
            .with_shutdown(Shutdown::Timeout(Duration::from_secs(1)));
        let child: SlowRef = within(5, sup.start_child(spec)).await.unwrap().unwrap();
        within(5, child.suspend()).await.unwrap();
        child.work(vec![]).unwrap();
        assert_eq!(child.work(vec![]), Err(CastError::Full));
        children.push(child);
    }
    within(5, sup.stop()).await.unwrap();
    for child in children {
        assert_eq!(within(5, child.exited()).await, ExitReason::Shutdown);
    }
}

#[test]
#[should_panic(expected = "a bounded mailbox holds at least one message")]
fn a_mailbox_of_no_room_is_refused_where_it_is_asked_for() {
    let _ = Slow::start(Slow::default()).mailbox(0);
}

#[test]
fn a_spec_carries_its_bound() {
    let spec = Slow::child_spec(Slow::default()).with_mailbox(8);
    assert_eq!(spec.mailbox(), Some(8));
    let untyped: gensrv::ChildSpec = spec.into();
    assert_eq!(untyped.mailbox(), Some(8));
}

/// Logs what it is sent, in the order handled.
#[derive(Default)]
struct Logger {
    log: Vec<u32>,
}

#[gen_server]
impl Logger {
    #[call]
    fn push(&mut self, n: u32) -> u32 {
        self.log.push(n);
        n
    }

    #[cast]
    fn note(&mut self, n: u32) {
        self.log.push(n);
    }

    #[call]
    fn log(&self) -> Vec<u32> {
        self.log.clone()
    }
}

/// A full, suspended logger with 1 queued, its mailbox bounded to 1.
async fn full_logger() -> LoggerRef {
    let logger = Logger::start(Logger::default()).mailbox(1).await.unwrap();
    within(5, logger.suspend()).await.unwrap();
    logger.note(1).unwrap();
    logger
}

// A call sent to a full mailbox is in line at once, as any call is sent at once:
// the sender's later call comes after it, even if the first is awaited last.
#[tokio::test]
async fn a_call_sent_to_a_full_mailbox_keeps_the_senders_order() {
    let logger = full_logger().await;
    let first = logger.push(2).send();
    let resume = tokio::spawn({
        let logger = logger.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            logger.resume().await
        }
    });
    assert_eq!(within(5, logger.push(3)).await, Ok(3));
    assert_eq!(within(5, first).await, Ok(2));
    within(5, resume).await.unwrap().unwrap();
    assert_eq!(within(5, logger.log()).await.unwrap(), vec![1, 2, 3]);
}

// A call in line that nobody polls holds up nobody: the server moves it in as
// room comes, and other callers go on.
#[tokio::test]
async fn a_call_in_line_that_is_not_polled_holds_up_no_one() {
    let logger = full_logger().await;
    let kept = logger.push(2).send();
    within(5, logger.resume()).await.unwrap();
    assert_eq!(within(5, logger.push(3)).await, Ok(3));
    assert_eq!(within(5, logger.log()).await.unwrap(), vec![1, 2, 3]);
    assert_eq!(within(5, kept).await, Ok(2));
}

// A call in line whose caller gave up (dropped, or timed out) is not handled.
#[tokio::test]
async fn a_call_given_up_in_line_is_skipped() {
    let logger = full_logger().await;
    drop(logger.push(2).send());
    assert_eq!(
        within(5, logger.push(3).timeout(Duration::from_millis(10))).await,
        Err(CallError::Timeout)
    );
    within(5, logger.resume()).await.unwrap();
    assert_eq!(within(5, logger.push(4)).await, Ok(4));
    assert_eq!(within(5, logger.log()).await.unwrap(), vec![1, 4]);
}
