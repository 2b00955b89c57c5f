//! Supervisors (`gensrv::supervisor::Supervisor`): start and stop order, the three
//! strategies, the three restart types, the three shutdowns, the restart
//! intensity, the child operations, named children, and supervision trees. Every
//! worker writes its start and its stop to a log shared with the test, so that the
//! order of things is checked, not only the end state. Waits are bounded by
//! `within`.
//!
//! After a test crashes a child and awaits its `exited()`, the exit signal is
//! already in the supervisor's mailbox, so the supervisor's answer to the next call
//! comes after it has handled the signal (and restarted what it restarts):
//! `settle(&sup)` is such a call, made before looking at the log.

mod supervision;

use std::time::{Duration, Instant};

use gensrv::supervisor::{
    ChildCount, ChildKind, DeleteChildError, Restart, RestartChildError, Shutdown, StartChildError,
    Strategy, Supervisor, SupervisorRef, TerminateChildError,
};
use gensrv::{Context, ExitReason, Pid, StartError, gen_server};
use gensrv_tests::{info, within};
use supervision::{
    Boot, Ending, Log, Plan, Watcher, Worker, WorkerRef, child, children, crash, crash_child,
    crashed, ids, pid_of, settle, shutdowns, starts, supervisor_ref, worker, worker_ref,
};

async fn start(sup: Supervisor) -> SupervisorRef {
    within(5, Supervisor::start(sup)).await.unwrap()
}

/// The pids of the children of `sup`, in order.
async fn pids(sup: &SupervisorRef) -> Vec<Option<Pid>> {
    children(sup).await.into_iter().map(|c| c.pid).collect()
}

async fn count(sup: &SupervisorRef) -> ChildCount {
    within(5, sup.count_children()).await.unwrap()
}

fn panic_reason(msg: &str) -> ExitReason {
    ExitReason::Panic(msg.into())
}

/// A supervisor of workers `ids`, with `strategy`.
fn workers(strategy: Strategy, ids: &[&str], log: &Log) -> Supervisor {
    ids.iter().fold(Supervisor::new(strategy), |sup, id| {
        sup.child(worker(id, log))
    })
}

// Order, links.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_start_in_order_and_stop_in_reverse_order() {
    let log = Log::new();
    let sup = start(workers(Strategy::OneForOne, &["a", "b", "c"], &log)).await;
    assert_eq!(log.take(), starts(&["a", "b", "c"]));

    let listed = children(&sup).await;
    assert_eq!(ids(&sup).await, ["a", "b", "c"]);
    for child in &listed {
        assert_eq!(child.kind, ChildKind::Worker);
        assert_eq!(child.restart, Restart::Permanent);
    }
    let workers: Vec<_> = listed.iter().map(|c| worker_ref(c.pid.unwrap())).collect();

    within(5, sup.stop()).await.unwrap();
    assert_eq!(log.take(), shutdowns(&["c", "b", "a"]));
    assert_eq!(within(5, sup.exited()).await, ExitReason::Normal);
    for worker in workers {
        assert_eq!(within(5, worker.exited()).await, ExitReason::Shutdown);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_are_linked_to_their_supervisor_as_their_parent() {
    let log = Log::new();
    let sup = start(workers(Strategy::OneForOne, &["a", "b"], &log)).await;
    let kids: Vec<Pid> = pids(&sup).await.into_iter().map(Option::unwrap).collect();
    for &kid in &kids {
        let kid_info = info(kid);
        assert_eq!(kid_info.parent, Some(sup.pid()));
        assert_eq!(kid_info.links, vec![sup.pid()]);
    }
    let mut sup_links = info(sup.pid()).links;
    sup_links.sort();
    assert_eq!(sup_links, kids);
}

// Strategies.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_one_restarts_only_the_crashed_child() {
    let log = Log::new();
    let sup = start(workers(Strategy::OneForOne, &["a", "b", "c"], &log)).await;
    log.take();
    let before = pids(&sup).await;

    let b = child(&sup, "b").await;
    assert_eq!(crash(&b).await, panic_reason("b crashed"));
    let after = pids(&sup).await;
    assert_eq!(log.take(), [crashed("b"), "start b".into()]);
    assert_eq!(after[0], before[0]);
    assert_eq!(after[2], before[2]);
    assert!(after[1].is_some() && after[1] != before[1]);
    assert!(!b.is_alive());
    within(5, child(&sup, "b").await.ping()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_stops_the_others_in_reverse_and_restarts_all_in_order() {
    let log = Log::new();
    let sup = start(workers(Strategy::OneForAll, &["a", "b", "c", "d"], &log)).await;
    log.take();
    let before = pids(&sup).await;
    let old: Vec<_> = before.iter().map(|p| worker_ref(p.unwrap())).collect();

    crash(&old[1]).await;
    let after = pids(&sup).await;
    let mut expected = vec![crashed("b")];
    expected.extend(shutdowns(&["d", "c", "a"]));
    expected.extend(starts(&["a", "b", "c", "d"]));
    assert_eq!(log.take(), expected);
    for (old_pid, new_pid) in before.iter().zip(&after) {
        assert!(new_pid.is_some() && new_pid != old_pid);
    }
    for i in [0, 2, 3] {
        assert_eq!(within(5, old[i].exited()).await, ExitReason::Shutdown);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_restarts_the_crashed_child_and_those_after_it() {
    let log = Log::new();
    let sup = start(workers(Strategy::RestForOne, &["a", "b", "c", "d"], &log)).await;
    log.take();
    let before = pids(&sup).await;

    crash_child(&sup, "b").await;
    let after = pids(&sup).await;
    let mut expected = vec![crashed("b")];
    expected.extend(shutdowns(&["d", "c"]));
    expected.extend(starts(&["b", "c", "d"]));
    assert_eq!(log.take(), expected);
    assert_eq!(after[0], before[0]);
    for i in 1..4 {
        assert!(after[i].is_some() && after[i] != before[i]);
    }

    // The last one: alone.
    crash_child(&sup, "d").await;
    assert_eq!(log.take(), [crashed("d"), "start d".into()]);
    assert_eq!(pids(&sup).await[..3], after[..3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_restart_drops_its_temporary_children_instead_of_restarting_them() {
    let log = Log::new();
    let temporary = |id| worker(id, &log).with_restart(Restart::Temporary);
    let tree = |strategy| {
        Supervisor::new(strategy)
            .child(temporary("t1"))
            .child(worker("a", &log))
            .child(temporary("t2"))
            .child(worker("b", &log))
            .max_restarts(10)
    };

    // One for all: both temporaries go, wherever they stand.
    let sup = start(tree(Strategy::OneForAll)).await;
    log.take();
    crash_child(&sup, "a").await;
    let mut expected = vec![crashed("a")];
    expected.extend(shutdowns(&["b", "t2", "t1"]));
    expected.extend(starts(&["a", "b"]));
    assert_eq!(log.take(), expected);
    assert_eq!(ids(&sup).await, ["a", "b"]);

    // Rest for one: the temporary after it goes, the one before stays as it was.
    let sup = start(tree(Strategy::RestForOne)).await;
    log.take();
    let t1 = pid_of(&sup, "t1").await;
    crash_child(&sup, "a").await;
    let mut expected = vec![crashed("a")];
    expected.extend(shutdowns(&["b", "t2"]));
    expected.extend(starts(&["a", "b"]));
    assert_eq!(log.take(), expected);
    assert_eq!(ids(&sup).await, ["t1", "a", "b"]);
    assert_eq!(pid_of(&sup, "t1").await, t1);
}

// Restart types.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_child_is_restarted_whatever_its_reason() {
    let log = Log::new();
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("p", &log))
            .max_restarts(10),
    )
    .await;
    log.take();
    for reason in [
        ExitReason::Normal,
        ExitReason::Shutdown,
        ExitReason::Error("failed".into()),
    ] {
        let p = child(&sup, "p").await;
        p.exit_with(reason.clone()).unwrap();
        assert_eq!(within(5, p.exited()).await, reason);
        let restarted = pid_of(&sup, "p").await;
        assert!(
            restarted.is_some() && restarted != Some(p.pid()),
            "{reason}"
        );
        assert_eq!(
            log.take(),
            [format!("stop p {reason}"), "start p".into()],
            "{reason}"
        );
    }
    let p = child(&sup, "p").await;
    p.kill();
    assert_eq!(within(5, p.exited()).await, ExitReason::Killed);
    settle(&sup).await;
    assert_eq!(log.take(), ["start p"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_child_is_restarted_only_after_an_abnormal_end() {
    let log = Log::new();
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("t", &log).with_restart(Restart::Transient))
            .max_restarts(10),
    )
    .await;
    assert_eq!(children(&sup).await[0].restart, Restart::Transient);
    log.take();

    // Abnormal: a panic, an error, a kill.
    crash_child(&sup, "t").await;
    assert_eq!(log.take(), [crashed("t"), "start t".into()]);
    let t = child(&sup, "t").await;
    t.exit_with(ExitReason::Error("failed".into())).unwrap();
    within(5, t.exited()).await;
    settle(&sup).await;
    assert_eq!(log.take(), ["stop t error: failed", "start t"]);
    let t = child(&sup, "t").await;
    t.kill();
    within(5, t.exited()).await;
    settle(&sup).await;
    assert_eq!(log.take(), ["start t"]);

    // Normal and Shutdown: not restarted, the spec stays.
    for reason in [ExitReason::Normal, ExitReason::Shutdown] {
        let t = child(&sup, "t").await;
        t.exit_with(reason.clone()).unwrap();
        within(5, t.exited()).await;
        assert_eq!(pid_of(&sup, "t").await, None, "{reason}");
        assert_eq!(log.take(), [format!("stop t {reason}")]);
        let counted = count(&sup).await;
        assert_eq!((counted.specs, counted.active), (1, 0));
        // It can be started again by hand.
        let again = within(5, sup.restart_child("t")).await.unwrap();
        assert_eq!(again, pid_of(&sup, "t").await);
        assert_eq!(log.take(), ["start t"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_child_is_never_restarted_and_its_spec_is_removed() {
    let log = Log::new();
    let temporary = |id| worker(id, &log).with_restart(Restart::Temporary);
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(temporary("crashes"))
            .child(temporary("ends"))
            .child(temporary("terminated"))
            .child(worker("p", &log)),
    )
    .await;
    log.take();

    crash_child(&sup, "crashes").await;
    assert_eq!(ids(&sup).await, ["ends", "terminated", "p"]);
    let ends = child(&sup, "ends").await;
    ends.exit_with(ExitReason::Normal).unwrap();
    within(5, ends.exited()).await;
    assert_eq!(ids(&sup).await, ["terminated", "p"]);
    within(5, sup.terminate_child("terminated")).await.unwrap();
    assert_eq!(ids(&sup).await, ["p"]);
    assert_eq!(
        log.take(),
        [
            crashed("crashes"),
            "stop ends normal".into(),
            "stop terminated shutdown".into()
        ]
    );
    assert_eq!(
        within(5, sup.restart_child("crashes")).await,
        Err(RestartChildError::NotFound)
    );
    assert_eq!(count(&sup).await.specs, 1);
}

// Shutdowns.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_specs_default_as_in_otp() {
    let log = Log::new();
    let spec = Worker::child_spec(Plan::new("w", &log));
    assert_eq!(spec.id(), "Worker");
    assert_eq!(spec.restart(), Restart::Permanent);
    assert_eq!(spec.shutdown(), Shutdown::Timeout(Duration::from_secs(5)));
    assert_eq!(spec.kind(), ChildKind::Worker);

    let spec = Supervisor::child_spec(Supervisor::new(Strategy::OneForOne));
    assert_eq!(spec.id(), "Supervisor");
    assert_eq!(spec.shutdown(), Shutdown::Infinity);
    assert_eq!(spec.kind(), ChildKind::Supervisor);
}

/// Terminates child `id` of `sup`; the time it took.
async fn time_terminate(sup: &SupervisorRef, id: &str) -> Duration {
    let started = Instant::now();
    within(5, sup.terminate_child(id)).await.unwrap();
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_asks_the_child_to_stop_and_its_terminate_runs() {
    let log = Log::new();
    let spec = worker("a", &log).with_shutdown(Shutdown::Timeout(Duration::from_secs(2)));
    let sup = start(Supervisor::new(Strategy::OneForOne).child(spec)).await;
    log.take();
    let a = child(&sup, "a").await;

    let took = time_terminate(&sup, "a").await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(log.take(), ["stop a shutdown"]);
    assert_eq!(within(5, a.exited()).await, ExitReason::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_whose_terminate_hangs_is_killed_after_its_shutdown_timeout() {
    let timeout = Duration::from_millis(200);
    let log = Log::new();
    let hanging = |id| {
        Plan::new(id, &log)
            .ending(Ending::Hang)
            .spec()
            .with_shutdown(Shutdown::Timeout(timeout))
    };
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("b", &log))
            .child(hanging("h1"))
            .child(hanging("h2")),
    )
    .await;
    log.take();

    // By terminate_child.
    let h1 = child(&sup, "h1").await;
    let took = time_terminate(&sup, "h1").await;
    assert!(took >= timeout && took < timeout * 5, "{took:?}");
    assert_eq!(log.take(), ["hang h1"], "terminate began, and never ended");
    assert_eq!(within(5, h1.exited()).await, ExitReason::Killed);

    // By the supervisor's own stop, which goes on with the next child.
    let h2 = child(&sup, "h2").await;
    let started = Instant::now();
    within(5, sup.stop()).await.unwrap();
    let took = started.elapsed();
    assert!(took >= timeout && took < timeout * 5, "{took:?}");
    assert_eq!(log.take(), ["hang h2", "stop b shutdown"]);
    assert_eq!(within(5, h2.exited()).await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brutal_kill_kills_the_child_without_running_its_terminate() {
    let log = Log::new();
    let killed = |id| worker(id, &log).with_shutdown(Shutdown::BrutalKill);
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("b", &log))
            .child(killed("k1"))
            .child(killed("k2")),
    )
    .await;
    log.take();

    let k1 = child(&sup, "k1").await;
    time_terminate(&sup, "k1").await;
    assert_eq!(within(5, k1.exited()).await, ExitReason::Killed);
    let k2 = child(&sup, "k2").await;
    within(5, sup.stop()).await.unwrap();
    assert_eq!(within(5, k2.exited()).await, ExitReason::Killed);
    assert_eq!(log.take(), ["stop b shutdown"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_infinity_waits_for_a_slow_terminate() {
    let slow = Duration::from_millis(300);
    let log = Log::new();
    let slow_child = |id, shutdown| {
        Plan::new(id, &log)
            .ending(Ending::Slow(slow))
            .spec()
            .with_shutdown(shutdown)
    };
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(slow_child("patient", Shutdown::Infinity))
            .child(slow_child(
                "hasty",
                Shutdown::Timeout(Duration::from_millis(50)),
            )),
    )
    .await;
    log.take();

    let patient = child(&sup, "patient").await;
    let took = time_terminate(&sup, "patient").await;
    assert!(took >= slow, "{took:?}");
    assert_eq!(log.take(), ["stop patient shutdown"]);
    assert_eq!(within(5, patient.exited()).await, ExitReason::Shutdown);

    // The same terminate, under a shorter timeout: killed before it is done.
    let hasty = child(&sup, "hasty").await;
    let took = time_terminate(&sup, "hasty").await;
    assert!(took < slow, "{took:?}");
    assert_eq!(within(5, hasty.exited()).await, ExitReason::Killed);
    tokio::time::sleep(slow).await;
    assert_eq!(log.take(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_zero_kills_at_once_and_max_waits_as_long_as_it_takes() {
    let slow = Duration::from_millis(300);
    let log = Log::new();
    let slow_child = |id, timeout| {
        Plan::new(id, &log)
            .ending(Ending::Slow(slow))
            .spec()
            .with_shutdown(Shutdown::Timeout(timeout))
    };
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(slow_child("zero", Duration::ZERO))
            .child(slow_child("max", Duration::MAX)),
    )
    .await;
    log.take();

    let zero = child(&sup, "zero").await;
    let took = time_terminate(&sup, "zero").await;
    assert!(took < slow, "{took:?}");
    assert_eq!(within(5, zero.exited()).await, ExitReason::Killed);

    let max = child(&sup, "max").await;
    let took = time_terminate(&sup, "max").await;
    assert!(took >= slow, "{took:?}");
    assert_eq!(within(5, max.exited()).await, ExitReason::Shutdown);
    // Only the patient one's terminate finished.
    assert_eq!(log.take(), ["stop max shutdown"]);
}

// Intensity.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_intensity_is_three_restarts_in_five_seconds() {
    let log = Log::new();
    let sup = start(workers(Strategy::OneForOne, &["a", "b"], &log)).await;
    let b = child(&sup, "b").await;
    log.take();
    for round in 1..=3 {
        crash_child(&sup, "a").await;
        assert_eq!(
            log.take(),
            [crashed("a"), "start a".into()],
            "round {round}"
        );
        assert!(sup.is_alive(), "round {round}");
    }
    // Still within the window, which is longer than a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    crash_child(&sup, "a").await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    // The supervisor stopped b before it ended, and did not restart a.
    assert_eq!(log.take(), [crashed("a"), "stop b shutdown".into()]);
    assert_eq!(within(5, b.exited()).await, ExitReason::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_restarts_end_the_supervisor_with_shutdown_after_it_has_stopped_its_children() {
    let log = Log::new();
    let sup = start(
        workers(Strategy::OneForOne, &["a", "b", "c"], &log)
            .max_restarts(1)
            .max_seconds(5),
    )
    .await;
    let watcher = within(5, Watcher::start(Watcher::default())).await.unwrap();
    within(5, watcher.watch(sup.pid())).await.unwrap();
    let others = [child(&sup, "a").await, child(&sup, "c").await];
    log.take();

    crash_child(&sup, "b").await;
    assert_eq!(log.take(), [crashed("b"), "start b".into()]);
    crash_child(&sup, "b").await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    let mut expected = vec![crashed("b")];
    expected.extend(shutdowns(&["c", "a"]));
    assert_eq!(log.take(), expected);
    for other in others {
        assert_eq!(within(5, other.exited()).await, ExitReason::Shutdown);
    }
    let downs = within(5, watcher.downs()).await.unwrap();
    assert_eq!(downs.len(), 1);
    assert_eq!(downs[0].reason, ExitReason::Shutdown);

    // None allowed: the first crash is one too many.
    let sup = start(workers(Strategy::OneForOne, &["a"], &log).max_restarts(0)).await;
    log.take();
    crash_child(&sup, "a").await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    assert_eq!(log.take(), [crashed("a")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_older_than_max_seconds_no_longer_count() {
    let log = Log::new();
    let sup = start(
        workers(Strategy::OneForOne, &["a"], &log)
            .max_restarts(1)
            .max_seconds(1),
    )
    .await;
    crash_child(&sup, "a").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    crash_child(&sup, "a").await;
    assert!(sup.is_alive());
    assert!(pid_of(&sup, "a").await.is_some());
    // But two within the second are one too many.
    crash_child(&sup, "a").await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_restart_counts_once_against_the_intensity() {
    for strategy in [Strategy::OneForAll, Strategy::RestForOne] {
        let log = Log::new();
        // Default intensity, 3 in 5 s; each crash restarts all four.
        let sup = start(workers(strategy, &["a", "b", "c", "d"], &log)).await;
        for round in 1..=3 {
            crash_child(&sup, "a").await;
            let now = pids(&sup).await;
            assert!(
                now.iter().all(Option::is_some),
                "{strategy:?}, round {round}: {now:?}"
            );
            assert!(sup.is_alive(), "{strategy:?}, round {round}");
        }
        crash_child(&sup, "a").await;
        assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_failing_during_a_restart_counts_against_the_intensity() {
    // A restart whose init fails is tried again, and each attempt counts.
    let log = Log::new();
    let a = Plan::new("a", &log);
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(a.spec())
            .child(worker("b", &log)),
    )
    .await;
    log.take();
    a.set_boot(Boot::PanicOnce);
    crash_child(&sup, "a").await;
    // The next attempt may be queued behind that call: one more.
    settle(&sup).await;
    assert_eq!(
        log.take(),
        [crashed("a"), "boot-panic a".into(), "start a".into()]
    );
    // Two restarts counted: one more is allowed, and the next is one too many.
    crash_child(&sup, "a").await;
    assert!(sup.is_alive());
    assert_eq!(log.take(), [crashed("a"), "start a".into()]);
    crash_child(&sup, "a").await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    assert_eq!(log.take(), [crashed("a"), "stop b shutdown".into()]);

    // An init that always fails: three attempts, then the supervisor gives up.
    let a = Plan::new("a", &log);
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(a.spec())
            .child(worker("b", &log)),
    )
    .await;
    log.take();
    a.set_boot(Boot::Panic);
    crash_child(&sup, "a").await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    let mut expected = vec![crashed("a")];
    expected.extend(vec!["boot-panic a".to_string(); 3]);
    expected.push("stop b shutdown".into());
    assert_eq!(log.take(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_seconds_zero_fails_the_start() {
    // OTP rejects a period of 0: no restart would ever count.
    let log = Log::new();
    let failed = within(
        5,
        Supervisor::start(workers(Strategy::OneForOne, &["a"], &log).max_seconds(0)),
    )
    .await;
    match failed {
        Err(StartError::Init(ExitReason::Error(msg))) => {
            assert!(msg.contains("max_seconds 0"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    // Refused before any child started.
    assert_eq!(log.take(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_max_seconds_still_limits_restarts() {
    let log = Log::new();
    let sup = start(
        workers(Strategy::OneForOne, &["a"], &log)
            .max_restarts(1)
            .max_seconds(u64::MAX),
    )
    .await;
    crash_child(&sup, "a").await;
    assert!(sup.is_alive());
    assert!(pid_of(&sup, "a").await.is_some());
    crash_child(&sup, "a").await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
}

// Failed restarts.

/// A one-for-one supervisor of `a` and `b`, allowing `max_restarts` in a minute.
async fn a_and_b(a: &Plan, log: &Log, max_restarts: u32) -> SupervisorRef {
    start(
        Supervisor::new(Strategy::OneForOne)
            .child(a.spec())
            .child(worker("b", log))
            .max_restarts(max_restarts)
            .max_seconds(60),
    )
    .await
}

/// Waits until `line` is in `log` `times` times.
async fn logged(log: &Log, line: &str, times: usize) {
    within(5, async {
        while log.count(line) < times {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_answers_calls_between_attempts_to_restart_a_failing_child() {
    let log = Log::new();
    let a = Plan::new("a", &log);
    // 100 attempts of 50 ms each: 5 s before it would give up.
    let sup = a_and_b(&a, &log, 100).await;
    let b = pid_of(&sup, "b").await;
    log.take();
    a.set_boot(Boot::SlowFail(Duration::from_millis(50)));
    let crashed_at = Instant::now();
    crash(&child(&sup, "a").await).await;

    let counted = within(1, sup.count_children()).await.unwrap();
    let listed = within(1, sup.which_children()).await.unwrap();
    assert!(crashed_at.elapsed() < Duration::from_secs(1));
    assert_eq!(
        (counted.specs, counted.active, counted.workers),
        (2, 1, 2),
        "a counted, not as active"
    );
    assert_eq!((listed[0].pid, listed[0].restarting), (None, true));
    assert_eq!((listed[1].pid, listed[1].restarting), (b, false));
    // A restarting child can be neither restarted nor deleted by hand.
    assert_eq!(
        within(1, sup.restart_child("a")).await,
        Err(RestartChildError::Restarting)
    );
    assert_eq!(
        within(1, sup.delete_child("a")).await,
        Err(DeleteChildError::Restarting)
    );
    // It keeps trying, and still answers.
    logged(&log, "boot-fail a", 3).await;
    assert!(within(1, sup.which_children()).await.unwrap()[0].restarting);

    // And stops when asked.
    within(5, sup.stop()).await.unwrap();
    assert_eq!(log.lines().last().unwrap(), "stop b shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_child_ends_the_attempts_to_restart_a_failing_child() {
    let log = Log::new();
    let a = Plan::new("a", &log);
    // Three restarts allowed; five more attempts would make the supervisor give up.
    let sup = a_and_b(&a, &log, 3).await;
    log.take();
    a.set_boot(Boot::SlowFail(Duration::from_millis(50)));
    crash(&child(&sup, "a").await).await;

    assert_eq!(within(5, sup.terminate_child("a")).await, Ok(()));
    let attempts = log.count("boot-fail a");
    assert!(attempts >= 1);
    // The attempt still in the mailbox does nothing.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(log.count("boot-fail a"), attempts);
    assert!(sup.is_alive());
    let listed = children(&sup).await;
    assert_eq!((listed[0].pid, listed[0].restarting), (None, false));
    let counted = count(&sup).await;
    assert_eq!((counted.specs, counted.active), (2, 1));

    // An ordinary stopped child now: restarted by hand.
    a.set_boot(Boot::Ready);
    let restarted = within(5, sup.restart_child("a")).await.unwrap();
    assert!(restarted.is_some());
    assert_eq!(pid_of(&sup, "a").await, restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failed_attempt_counts_until_the_supervisor_gives_up() {
    let log = Log::new();
    let a = Plan::new("a", &log);
    let sup = a_and_b(&a, &log, 4).await;
    log.take();
    a.set_boot(Boot::SlowFail(Duration::from_millis(10)));
    crash(&child(&sup, "a").await).await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    let mut expected = vec![crashed("a")];
    expected.extend(vec!["boot-fail a".to_string(); 4]);
    expected.push("stop b shutdown".into());
    assert_eq!(log.take(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_restart_that_failed_restarts_the_group_again() {
    // One for all: the next attempt stops the children the failed one started,
    // and starts every child again, in order.
    let log = Log::new();
    let b = Plan::new("b", &log);
    let sup = start(
        Supervisor::new(Strategy::OneForAll)
            .child(worker("a", &log))
            .child(b.spec())
            .child(worker("c", &log)),
    )
    .await;
    log.take();
    let before = pids(&sup).await;
    b.set_boot(Boot::PanicOnce);
    crash_child(&sup, "a").await;
    // The next attempt may be queued behind that call: one more.
    settle(&sup).await;
    let mut expected = vec![crashed("a")];
    expected.extend(shutdowns(&["c", "b"]));
    expected.extend(["start a".to_string(), "boot-panic b".into()]);
    expected.extend(shutdowns(&["a"]));
    expected.extend(starts(&["a", "b", "c"]));
    assert_eq!(log.take(), expected);
    let listed = children(&sup).await;
    for (was, now) in before.iter().zip(&listed) {
        assert!(now.pid.is_some() && now.pid != *was, "{now:?}");
        assert!(!now.restarting, "{now:?}");
    }
    for id in ["a", "b", "c"] {
        within(5, child(&sup, id).await.ping()).await.unwrap();
    }

    // Rest for one: the group of the child that failed, which is it and those
    // after it; the one before it, restarted by the first attempt, stays.
    let c = Plan::new("c", &log);
    let sup = start(
        Supervisor::new(Strategy::RestForOne)
            .child(worker("a", &log))
            .child(worker("b", &log))
            .child(c.spec())
            .child(worker("d", &log)),
    )
    .await;
    log.take();
    c.set_boot(Boot::PanicOnce);
    crash_child(&sup, "b").await;
    settle(&sup).await;
    let mut expected = vec![crashed("b")];
    expected.extend(shutdowns(&["d", "c"]));
    expected.extend(["start b".to_string(), "boot-panic c".into()]);
    expected.extend(starts(&["c", "d"]));
    assert_eq!(log.take(), expected);
    assert!(pids(&sup).await.iter().all(Option::is_some));
}

// Init.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_whose_init_panics_fails_the_start_and_stops_the_children_started() {
    let log = Log::new();
    let c = Plan::new("c", &log).boot(Boot::Panic);
    let tree = Supervisor::new(Strategy::OneForOne)
        .child(worker("a", &log).with_name("sup-init-panics-a"))
        .child(worker("b", &log))
        .child(c.spec())
        .child(worker("d", &log));

    let failed = within(5, Supervisor::start(tree.clone()).name("sup-init-panics")).await;
    match failed {
        Err(StartError::Init(ExitReason::Error(msg))) => {
            assert!(
                msg.contains("`c`") && msg.contains("c failed to boot"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut expected = starts(&["a", "b"]);
    expected.push("boot-panic c".into());
    expected.extend(shutdowns(&["b", "a"]));
    assert_eq!(log.take(), expected);
    assert!(Worker::whereis("sup-init-panics-a").is_none());
    assert!(Supervisor::whereis("sup-init-panics").is_none());

    // Both names are free again.
    c.set_boot(Boot::Ready);
    let sup = within(5, Supervisor::start(tree).name("sup-init-panics"))
        .await
        .unwrap();
    assert_eq!(log.take(), starts(&["a", "b", "c", "d"]));
    assert_eq!(
        Worker::whereis("sup-init-panics-a").map(|a| a.pid()),
        pid_of(&sup, "a").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_whose_init_ignores_is_kept_without_a_process() {
    let log = Log::new();
    let ignoring = Plan::new("i", &log).boot(Boot::Ignore);
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("a", &log))
            .child(ignoring.spec())
            .child(worker("b", &log)),
    )
    .await;
    assert_eq!(log.take(), ["start a", "ignore i", "start b"]);
    assert_eq!(pid_of(&sup, "i").await, None);
    let counted = count(&sup).await;
    assert_eq!((counted.specs, counted.active), (3, 2));

    // Added at run time: Ok(None), and the spec is kept.
    let j = Plan::new("j", &log).boot(Boot::Ignore);
    assert_eq!(within(5, sup.start_child(j.spec())).await, Ok(None));
    assert_eq!(ids(&sup).await, ["a", "i", "b", "j"]);

    assert_eq!(within(5, sup.restart_child("i")).await, Ok(None));
    ignoring.set_boot(Boot::Ready);
    let started = within(5, sup.restart_child("i")).await.unwrap();
    assert!(started.is_some());
    assert_eq!(pid_of(&sup, "i").await, started);
    assert_eq!(log.take(), ["ignore j", "ignore i", "start i"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_child_whose_init_ignores_is_not_kept() {
    // As OTP: a temporary child that is not running has nothing to keep it for.
    let log = Log::new();
    let ignoring = Plan::new("t", &log).boot(Boot::Ignore);
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("a", &log))
            .child(ignoring.spec().with_restart(Restart::Temporary)),
    )
    .await;
    assert_eq!(ids(&sup).await, ["a"]);
    let later = Plan::new("u", &log).boot(Boot::Ignore);
    assert_eq!(
        within(
            5,
            sup.start_child(later.spec().with_restart(Restart::Temporary))
        )
        .await,
        Ok(None)
    );
    assert_eq!(ids(&sup).await, ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_child_ids_fail_the_start() {
    // As OTP's `{duplicate_child_name, Id}`: two children of one type, neither
    // given an id, share the type's name.
    let log = Log::new();
    let twins = Supervisor::new(Strategy::OneForOne)
        .child(Worker::child_spec(Plan::new("a", &log)))
        .child(Worker::child_spec(Plan::new("b", &log)));
    match within(5, Supervisor::start(twins)).await {
        Err(StartError::Init(ExitReason::Error(msg))) => {
            assert!(msg.contains("`Worker`"), "{msg}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log.take(), Vec::<String>::new(), "no child was started");
}

// Operations.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_children_and_count_children_describe_the_children() {
    let log = Log::new();
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("a", &log).with_restart(Restart::Transient))
            .child(
                Supervisor::child_spec(workers(Strategy::OneForOne, &["x"], &log)).with_id("inner"),
            )
            .child(worker("t", &log).with_restart(Restart::Temporary)),
    )
    .await;
    let listed = children(&sup).await;
    let described: Vec<_> = listed
        .iter()
        .map(|c| (c.id.as_str(), c.kind, c.restart, c.pid.is_some()))
        .collect();
    assert_eq!(
        described,
        [
            ("a", ChildKind::Worker, Restart::Transient, true),
            ("inner", ChildKind::Supervisor, Restart::Permanent, true),
            ("t", ChildKind::Worker, Restart::Temporary, true),
        ]
    );
    let inner = supervisor_ref(listed[1].pid.unwrap());
    assert_eq!(ids(&inner).await, ["x"]);
    let counted = count(&sup).await;
    assert_eq!(
        (
            counted.specs,
            counted.active,
            counted.supervisors,
            counted.workers
        ),
        (3, 3, 1, 2)
    );

    time_terminate(&sup, "a").await;
    let counted = count(&sup).await;
    assert_eq!((counted.specs, counted.active), (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_restart_and_delete_child_by_id() {
    let log = Log::new();
    let sup = start(workers(Strategy::OneForOne, &["a", "b"], &log)).await;
    log.take();
    let a = child(&sup, "a").await;

    // terminate_child: stopped, not restarted, spec kept.
    assert_eq!(within(5, sup.terminate_child("a")).await, Ok(()));
    assert_eq!(within(5, a.exited()).await, ExitReason::Shutdown);
    assert_eq!(pid_of(&sup, "a").await, None);
    assert_eq!(ids(&sup).await, ["a", "b"]);
    // Again: nothing to stop, still fine (as OTP).
    assert_eq!(within(5, sup.terminate_child("a")).await, Ok(()));
    assert_eq!(
        within(5, sup.terminate_child("zz")).await,
        Err(TerminateChildError::NotFound)
    );
    assert_eq!(log.take(), ["stop a shutdown"]);

    // A running child can be neither restarted nor deleted.
    assert_eq!(
        within(5, sup.restart_child("b")).await,
        Err(RestartChildError::Running)
    );
    assert_eq!(
        within(5, sup.delete_child("b")).await,
        Err(DeleteChildError::Running)
    );
    assert_eq!(
        within(5, sup.restart_child("zz")).await,
        Err(RestartChildError::NotFound)
    );
    assert_eq!(
        within(5, sup.delete_child("zz")).await,
        Err(DeleteChildError::NotFound)
    );

    // restart_child: a new incarnation, in its place.
    let restarted = within(5, sup.restart_child("a")).await.unwrap();
    assert!(restarted.is_some() && restarted != Some(a.pid()));
    assert_eq!(pids(&sup).await[0], restarted);
    assert_eq!(log.take(), ["start a"]);

    // delete_child: once terminated, forgotten.
    time_terminate(&sup, "a").await;
    assert_eq!(within(5, sup.delete_child("a")).await, Ok(()));
    assert_eq!(ids(&sup).await, ["b"]);
    assert_eq!(
        within(5, sup.delete_child("a")).await,
        Err(DeleteChildError::NotFound)
    );
    assert_eq!(
        within(5, sup.restart_child("a")).await,
        Err(RestartChildError::NotFound)
    );
    assert_eq!(log.take(), ["stop a shutdown"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_child_adds_a_supervised_child_after_the_others() {
    let log = Log::new();
    let sup = start(workers(Strategy::OneForOne, &["a"], &log)).await;
    log.take();

    let c = within(5, sup.start_child(worker("c", &log)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(&sup).await, ["a", "c"]);
    assert_eq!(info(c).parent, Some(sup.pid()));
    assert_eq!(
        within(5, sup.start_child(worker("c", &log))).await,
        Err(StartChildError::AlreadyStarted(c))
    );

    // One that fails to start is not kept.
    let bad = Plan::new("bad", &log).boot(Boot::Panic);
    assert_eq!(
        within(5, sup.start_child(bad.spec())).await,
        Err(StartChildError::Start(StartError::Init(panic_reason(
            "bad failed to boot"
        ))))
    );
    assert_eq!(ids(&sup).await, ["a", "c"]);

    time_terminate(&sup, "c").await;
    assert_eq!(
        within(5, sup.start_child(worker("c", &log))).await,
        Err(StartChildError::AlreadyPresent)
    );
    assert_eq!(log.take(), ["start c", "boot-panic bad", "stop c shutdown"]);

    // Once running, it is restarted and stopped like the others.
    within(5, sup.restart_child("c")).await.unwrap().unwrap();
    crash_child(&sup, "c").await;
    within(5, sup.stop()).await.unwrap();
    assert_eq!(
        log.take(),
        [
            "start c".to_string(),
            crashed("c"),
            "start c".into(),
            "stop c shutdown".into(),
            "stop a shutdown".into()
        ]
    );
}

// Names.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_child_keeps_its_name_across_restarts() {
    let log = Log::new();
    let sup = start(
        Supervisor::new(Strategy::OneForAll)
            .child(worker("a", &log).with_name("sup-named-a"))
            .child(worker("b", &log).with_name("sup-named-b")),
    )
    .await;
    let a = Worker::whereis("sup-named-a").unwrap();
    let b = Worker::whereis("sup-named-b").unwrap();
    assert_eq!(Some(a.pid()), pid_of(&sup, "a").await);

    crash(&a).await;
    settle(&sup).await;
    let new_a = Worker::whereis("sup-named-a").unwrap();
    let new_b = Worker::whereis("sup-named-b").unwrap();
    assert_ne!(new_a, a);
    assert_ne!(new_b, b);
    assert_eq!(Some(new_a.pid()), pid_of(&sup, "a").await);
    assert_eq!(Some(new_b.pid()), pid_of(&sup, "b").await);
    within(5, new_a.ping()).await.unwrap();

    within(5, sup.stop()).await.unwrap();
    assert!(Worker::whereis("sup-named-a").is_none());
    assert!(Worker::whereis("sup-named-b").is_none());
}

// A supervisor is a process.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_can_be_named_and_monitored() {
    let log = Log::new();
    let sup = within(
        5,
        Supervisor::start(workers(Strategy::OneForOne, &["a"], &log)).name("sup-named"),
    )
    .await
    .unwrap();
    assert_eq!(Supervisor::whereis("sup-named"), Some(sup.clone()));
    assert_eq!(gensrv::whereis("sup-named"), Some(sup.pid()));
    assert_eq!(
        within(
            5,
            Supervisor::start(Supervisor::new(Strategy::OneForOne)).name("sup-named")
        )
        .await
        .unwrap_err(),
        StartError::AlreadyStarted(sup.pid())
    );

    let watcher = within(5, Watcher::start(Watcher::default())).await.unwrap();
    let monitor = within(5, watcher.watch(sup.pid())).await.unwrap();
    sup.kill();
    within(5, sup.exited()).await;
    let downs = within(5, watcher.downs()).await.unwrap();
    assert_eq!(downs.len(), 1);
    assert_eq!(downs[0].monitor, monitor);
    assert_eq!(downs[0].pid, sup.pid());
    assert_eq!(downs[0].reason, ExitReason::Killed);
    assert!(Supervisor::whereis("sup-named").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_supervisor_ends_its_children_with_killed() {
    let log = Log::new();
    let sup = start(workers(Strategy::OneForOne, &["a", "b"], &log)).await;
    let kids = [child(&sup, "a").await, child(&sup, "b").await];
    log.take();
    sup.kill();
    assert_eq!(within(5, sup.exited()).await, ExitReason::Killed);
    for kid in kids {
        assert_eq!(within(5, kid.exited()).await, ExitReason::Killed);
    }
    // They ended by the exit signal, not by a kill: their terminate ran.
    let mut lines = log.take();
    lines.sort();
    assert_eq!(lines, ["stop a killed", "stop b killed"]);
}

/// Starts supervisors linked to itself.
struct Owner;

#[gen_server]
impl Owner {
    #[call]
    async fn start_supervisor(
        &mut self,
        sup: Supervisor,
        ctx: &mut Context<Self>,
    ) -> Result<SupervisorRef, StartError> {
        Supervisor::start(sup).link(ctx).await
    }

    #[cast]
    fn crash(&mut self) {
        panic!("owner crashed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_is_linked_like_any_process() {
    // Its parent crashes: it stops its children, then ends with the same reason.
    let log = Log::new();
    let owner = within(5, Owner::start(Owner)).await.unwrap();
    let sup = within(
        5,
        owner.start_supervisor(workers(Strategy::OneForOne, &["a", "b"], &log)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(info(sup.pid()).parent, Some(owner.pid()));
    log.take();
    owner.crash().unwrap();
    assert_eq!(within(5, sup.exited()).await, panic_reason("owner crashed"));
    assert_eq!(log.take(), shutdowns(&["b", "a"]));

    // It dies: its linked parent dies of it.
    let owner = within(5, Owner::start(Owner)).await.unwrap();
    let sup = within(
        5,
        owner.start_supervisor(workers(Strategy::OneForOne, &["a"], &log)),
    )
    .await
    .unwrap()
    .unwrap();
    sup.kill();
    assert_eq!(within(5, owner.exited()).await, ExitReason::Killed);
}

// Trees.

/// top (one for one): w, mid1 (one for all: a, b), mid2 (one for one: c).
async fn tree(log: &Log) -> SupervisorRef {
    let mid1 = Supervisor::new(Strategy::OneForAll)
        .child(worker("a", log))
        .child(worker("b", log));
    let mid2 = workers(Strategy::OneForOne, &["c"], log);
    start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("w", log))
            .child(Supervisor::child_spec(mid1).with_id("mid1"))
            .child(Supervisor::child_spec(mid2).with_id("mid2")),
    )
    .await
}

async fn mid(top: &SupervisorRef, id: &str) -> SupervisorRef {
    supervisor_ref(pid_of(top, id).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_deep_in_a_tree_restarts_only_its_subtree() {
    let log = Log::new();
    let top = tree(&log).await;
    assert_eq!(log.take(), starts(&["w", "a", "b", "c"]));
    let top_pids = pids(&top).await;
    let mid1 = mid(&top, "mid1").await;
    let mid2 = mid(&top, "mid2").await;
    let c = pid_of(&mid2, "c").await;
    assert_eq!(info(mid1.pid()).parent, Some(top.pid()));

    crash_child(&mid1, "a").await;
    // mid1 has restarted its group by now; nothing above or beside it moved.
    assert_eq!(ids(&mid1).await, ["a", "b"]);
    assert_eq!(
        log.take(),
        [
            crashed("a"),
            "stop b shutdown".into(),
            "start a".into(),
            "start b".into()
        ]
    );
    assert_eq!(pids(&top).await, top_pids);
    assert_eq!(pid_of(&mid2, "c").await, c);

    // Stopping the top stops the tree depth first, last started first.
    within(5, top.stop()).await.unwrap();
    assert_eq!(log.take(), shutdowns(&["c", "b", "a", "w"]));
    assert_eq!(within(5, mid1.exited()).await, ExitReason::Shutdown);
    assert_eq!(within(5, mid2.exited()).await, ExitReason::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_middle_supervisor_takes_its_children_down_and_the_top_restarts_it() {
    let log = Log::new();
    let top = tree(&log).await;
    log.take();
    let w = pid_of(&top, "w").await;
    let mid1 = mid(&top, "mid1").await;
    let mid2 = mid(&top, "mid2").await;
    let c = pid_of(&mid2, "c").await;
    let a = child(&mid1, "a").await;
    let b = child(&mid1, "b").await;

    mid1.kill();
    assert_eq!(within(5, a.exited()).await, ExitReason::Killed);
    assert_eq!(within(5, b.exited()).await, ExitReason::Killed);
    within(5, mid1.exited()).await;
    let new_mid1 = mid(&top, "mid1").await;
    assert_ne!(new_mid1, mid1);
    let new_a = pid_of(&new_mid1, "a").await;
    let new_b = pid_of(&new_mid1, "b").await;
    assert!(new_a.is_some() && new_a != Some(a.pid()));
    assert!(new_b.is_some() && new_b != Some(b.pid()));
    assert_eq!(pid_of(&top, "w").await, w);
    assert_eq!(mid(&top, "mid2").await, mid2);
    assert_eq!(pid_of(&mid2, "c").await, c);

    // The old a and b ended by the exit signal while the new ones started.
    let lines = log.take();
    for line in ["stop a killed", "stop b killed", "start a", "start b"] {
        assert_eq!(
            lines.iter().filter(|l| *l == line).count(),
            1,
            "{line}: {lines:?}"
        );
    }
    assert_eq!(lines.len(), 4, "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_middle_supervisor_that_gives_up_is_restarted_by_the_top() {
    let log = Log::new();
    let fragile = workers(Strategy::OneForOne, &["a", "b"], &log).max_restarts(0);
    let top = start(
        Supervisor::new(Strategy::OneForOne).child(Supervisor::child_spec(fragile).with_id("mid")),
    )
    .await;
    log.take();
    let old_mid = mid(&top, "mid").await;

    crash_child(&old_mid, "a").await;
    assert_eq!(within(5, old_mid.exited()).await, ExitReason::Shutdown);
    let new_mid = mid(&top, "mid").await;
    assert_ne!(new_mid, old_mid);
    assert_eq!(
        log.take(),
        [
            crashed("a"),
            "stop b shutdown".into(),
            "start a".into(),
            "start b".into()
        ]
    );
    assert_eq!(count(&new_mid).await.active, 2);
}

// Logs.

/// Where the test's `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// While the guards live, the `tracing` events of this thread are written to the
/// buffer returned.
///
/// `tracing` caches, per call site, whether some subscriber wants its events.
/// While a single subscriber is registered, a site first reached on a thread of
/// another test (which has none) is cached as wanted by nobody, and this test's
/// subscriber would miss it too. A second, silent subscriber kept registered makes
/// every site ask the subscriber of the thread it runs on instead.
fn capture_logs() -> (
    Captured,
    tracing::Dispatch,
    tracing::subscriber::DefaultGuard,
) {
    let silent = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, silent, guard)
}

// On one thread: the subscriber set here is that thread's, and every task of the
// test (the supervisor's among them) runs on it.
#[tokio::test(flavor = "current_thread")]
async fn restarts_are_logged_with_the_child_id_the_reason_and_the_restart_count() {
    let (captured, _silent, _subscriber) = capture_logs();

    let log = Log::new();
    let sup = start(workers(Strategy::OneForOne, &["logged"], &log).max_restarts(2)).await;
    for _ in 0..3 {
        crash_child(&sup, "logged").await;
    }
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines = |what: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(what))
            .map(str::to_string)
            .collect()
    };
    let restarts = lines("restarting child");
    assert_eq!(restarts.len(), 2, "{text}");
    for (line, count) in restarts.iter().zip(1..) {
        for field in [
            "WARN".to_string(),
            format!("supervisor={}", sup.pid()),
            "child=logged".into(),
            "reason=panic: logged crashed".into(),
            format!("restarts={count}"),
        ] {
            assert!(line.contains(&field), "{field} in {line}");
        }
    }
    let gave_up = lines("too many restarts");
    assert_eq!(gave_up.len(), 1, "{text}");
    for field in ["ERROR", "child=logged", "restarts=2"] {
        assert!(gave_up[0].contains(field), "{field} in {}", gave_up[0]);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn failed_restarts_are_logged_and_each_attempt_is_logged_as_a_restart() {
    let (captured, _silent, _subscriber) = capture_logs();
    let log = Log::new();
    let plan = Plan::new("failing", &log);
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(plan.spec())
            .max_restarts(2),
    )
    .await;
    plan.set_boot(Boot::SlowFail(Duration::from_millis(1)));
    crash(&child(&sup, "failing").await).await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines = |what: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(what))
            .map(str::to_string)
            .collect()
    };
    let restarts = lines("restarting child");
    assert_eq!(restarts.len(), 2, "{text}");
    assert!(
        restarts[0].contains("reason=panic: failing crashed"),
        "{text}"
    );
    for field in ["reason=error: failing failed to boot", "restarts=2"] {
        assert!(restarts[1].contains(field), "{field} in {}", restarts[1]);
    }
    let failed = lines("child failed to restart");
    assert_eq!(failed.len(), 2, "{text}");
    for field in [
        "ERROR",
        "child=failing",
        "reason=error: failing failed to boot",
    ] {
        assert!(failed[0].contains(field), "{field} in {}", failed[0]);
    }
    assert_eq!(lines("too many restarts").len(), 1, "{text}");
}

// The API on the handle: requests that wait as OTP's, typed children, `&str` ids,
// one error per operation.

/// A supervisor of one worker `slow` whose terminate takes 6 s, and whose
/// shutdown allows it 7 s.
async fn slow_to_stop(log: &Log) -> SupervisorRef {
    let slow = Plan::new("slow", log).ending(Ending::Slow(Duration::from_secs(6)));
    let spec = slow
        .spec()
        .with_shutdown(Shutdown::Timeout(Duration::from_secs(7)));
    let sup = Supervisor::start(Supervisor::new(Strategy::OneForOne).child(spec))
        .await
        .unwrap();
    log.take();
    sup
}

// Paused time: the 6 s pass at once, and a call's default 5 s timeout would have
// fired first.
#[tokio::test(start_paused = true)]
async fn terminate_child_waits_as_long_as_the_childs_shutdown_allows() {
    let log = Log::new();
    let sup = slow_to_stop(&log).await;
    let began = tokio::time::Instant::now();
    assert_eq!(sup.terminate_child("slow").await, Ok(()));
    assert!(began.elapsed() >= Duration::from_secs(6));
    assert_eq!(log.take(), ["stop slow shutdown"]);
    assert_eq!(pid_of(&sup, "slow").await, None);
}

#[tokio::test(start_paused = true)]
async fn a_request_timeout_bounds_the_wait_and_the_stop_goes_on() {
    let log = Log::new();
    let sup = slow_to_stop(&log).await;
    assert_eq!(
        sup.terminate_child("slow")
            .timeout(Duration::from_secs(1))
            .await,
        Err(TerminateChildError::Call(gensrv::CallError::Timeout))
    );
    // Answered once the stop is done. (No `within`: its 5 s would be up first.)
    let listed = sup.which_children().await.unwrap();
    assert_eq!(listed[0].pid, None);
    assert_eq!(log.take(), ["stop slow shutdown"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_spec_starts_a_child_that_comes_back_as_its_handle() {
    let log = Log::new();
    let sup = start(Supervisor::new(Strategy::OneForOne)).await;
    let spec = Worker::child_spec(Plan::new("typed", &log)).with_id("typed");
    let typed: WorkerRef = within(5, sup.start_child(spec)).await.unwrap().unwrap();
    within(5, typed.ping()).await.unwrap();
    assert_eq!(pid_of(&sup, "typed").await, Some(typed.pid()));
    // An untyped spec gives the pid.
    let pid: Pid = within(5, sup.start_child(worker("plain", &log)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pid_of(&sup, "plain").await, Some(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_children_shows_each_childs_name_and_shutdown() {
    let log = Log::new();
    let sup = start(
        Supervisor::new(Strategy::OneForOne)
            .child(worker("a", &log).with_name("sup-api-named"))
            .child(worker("b", &log).with_shutdown(Shutdown::BrutalKill)),
    )
    .await;
    let listed = children(&sup).await;
    assert_eq!(listed[0].name.as_deref(), Some("sup-api-named"));
    assert_eq!(
        listed[0].shutdown,
        Shutdown::Timeout(Duration::from_secs(5))
    );
    assert_eq!(listed[1].name, None);
    assert_eq!(listed[1].shutdown, Shutdown::BrutalKill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_on_a_supervisor_that_is_gone_fails_with_its_own_error() {
    let log = Log::new();
    let sup = start(workers(Strategy::OneForOne, &["a"], &log)).await;
    within(5, sup.stop()).await.unwrap();
    let gone = gensrv::CallError::NoProc;
    assert_eq!(
        within(5, sup.terminate_child("a")).await,
        Err(TerminateChildError::Call(gone.clone()))
    );
    assert_eq!(
        within(5, sup.restart_child("a")).await,
        Err(RestartChildError::Call(gone.clone()))
    );
    assert_eq!(
        within(5, sup.delete_child(String::from("a"))).await,
        Err(DeleteChildError::Call(gone.clone()))
    );
    assert_eq!(
        within(5, sup.start_child(worker("b", &log))).await,
        Err(StartChildError::Call(gone.clone()))
    );
    assert_eq!(within(5, sup.which_children()).await, Err(gone));
}

/// Its init always fails.
#[derive(Clone)]
struct Refuses;

#[gen_server]
impl Refuses {
    #[init]
    fn init(_: Refuses) -> Result<Self, String> {
        Err("disk full".into())
    }
}

// Issue 8: an error message never repeats itself; the child's own reason is said
// once, inside the supervisor's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_fails_to_start_is_named_once_in_the_supervisors_error() {
    let started = Supervisor::start(
        Supervisor::new(Strategy::OneForOne).child(Refuses::child_spec(Refuses).with_id("disk")),
    )
    .await;
    let error = started.unwrap_err();
    assert_eq!(
        error.to_string(),
        "init failed: error: child `disk` failed to start: disk full"
    );
}
