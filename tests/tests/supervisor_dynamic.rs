//! Dynamic supervisors (`gensrv::supervisor::DynamicSupervisor`): children added at
//! run time, `max_children`, `terminate_child` by pid, one-for-one restarts by
//! restart type, the restart intensity, and a dynamic supervisor in a tree. The
//! workers write their starts and stops to a log shared with the test. Waits are
//! bounded by `within`.
//!
//! After a test crashes a child and awaits its `exited()`, the exit signal is
//! already in the supervisor's mailbox, so `settle(&sup)` (a call) returns after
//! the supervisor has handled it.

mod supervision;

use std::time::{Duration, Instant};

use gensrv::supervisor::{
    ChildCount, ChildKind, DynamicSupervisor, DynamicSupervisorRef, Restart, Shutdown,
    StartChildError, Strategy, Supervisor, TerminateChildError,
};
use gensrv::{ExitReason, Pid, StartError};
use gensrv_tests::{info, within};
use supervision::{
    Boot, Ending, Log, Plan, Worker, WorkerRef, crash, crashed, dynamic_pids, pid_of, shutdowns,
    starts, worker, worker_ref,
};

async fn start(sup: DynamicSupervisor) -> DynamicSupervisorRef {
    within(5, DynamicSupervisor::start(sup)).await.unwrap()
}

/// Starts worker `id` under `sup`; its handle.
async fn add(sup: &DynamicSupervisorRef, id: &str, log: &Log) -> WorkerRef {
    let spec = Worker::child_spec(Plan::new(id, log)).with_id(id);
    within(5, sup.start_child(spec)).await.unwrap().unwrap()
}

async fn count(sup: &DynamicSupervisorRef) -> ChildCount {
    within(5, sup.count_children()).await.unwrap()
}

/// Returns once `sup` has handled what is in its mailbox now, or has ended.
async fn settle(sup: &DynamicSupervisorRef) {
    let _ = within(5, sup.count_children()).await;
}

/// Crashes `worker`, a child of `sup`, and waits until `sup` has handled its end.
async fn crash_child(sup: &DynamicSupervisorRef, worker: &WorkerRef) {
    crash(worker).await;
    settle(sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_child_starts_linked_children_listed_in_start_order() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new()).await;
    assert_eq!(dynamic_pids(&sup).await, Vec::<Pid>::new());
    let kids = [
        add(&sup, "a", &log).await,
        add(&sup, "b", &log).await,
        add(&sup, "c", &log).await,
    ];
    assert_eq!(log.take(), starts(&["a", "b", "c"]));
    let listed = within(5, sup.which_children()).await.unwrap();
    assert_eq!(
        listed.iter().map(|c| c.pid).collect::<Vec<_>>(),
        kids.iter().map(|k| Some(k.pid())).collect::<Vec<_>>()
    );
    for child in &listed {
        assert_eq!(child.kind, ChildKind::Worker);
        assert_eq!(child.restart, Restart::Permanent);
    }
    for kid in &kids {
        assert_eq!(info(kid.pid()).parent, Some(sup.pid()));
        assert_eq!(info(kid.pid()).links, vec![sup.pid()]);
    }
    let counted = count(&sup).await;
    assert_eq!(
        (
            counted.specs,
            counted.active,
            counted.workers,
            counted.supervisors
        ),
        (3, 3, 3, 0)
    );

    // Stopped last started first.
    within(5, sup.stop()).await.unwrap();
    assert_eq!(log.take(), shutdowns(&["c", "b", "a"]));
    for kid in kids {
        assert_eq!(within(5, kid.exited()).await, ExitReason::Shutdown);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_children_caps_the_children_running_at_once() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new().max_children(2)).await;
    let a = add(&sup, "a", &log).await;
    let b = within(
        5,
        sup.start_child(worker("b", &log).with_restart(Restart::Temporary)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        within(5, sup.start_child(worker("c", &log))).await,
        Err(StartChildError::MaxChildren)
    );
    // Refused before its init ran.
    assert_eq!(log.take(), starts(&["a", "b"]));

    // A slot frees when a child is terminated...
    within(5, sup.terminate_child(a.pid())).await.unwrap();
    add(&sup, "c", &log).await;
    assert_eq!(
        within(5, sup.start_child(worker("d", &log))).await,
        Err(StartChildError::MaxChildren)
    );
    // ...or ends for good.
    crash_child(&sup, &worker_ref(b)).await;
    add(&sup, "d", &log).await;
    assert_eq!(count(&sup).await.active, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_child_stops_the_child_by_pid_as_its_spec_says_and_forgets_it() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new()).await;
    let a = add(&sup, "a", &log).await;
    let b = add(&sup, "b", &log).await;
    let k = within(
        5,
        sup.start_child(worker("k", &log).with_shutdown(Shutdown::BrutalKill)),
    )
    .await
    .unwrap()
    .unwrap();
    log.take();

    assert_eq!(within(5, sup.terminate_child(a.pid())).await, Ok(()));
    assert_eq!(within(5, a.exited()).await, ExitReason::Shutdown);
    assert_eq!(log.take(), ["stop a shutdown"]);
    assert_eq!(dynamic_pids(&sup).await, [b.pid(), k]);
    assert_eq!(
        within(5, sup.terminate_child(a.pid())).await,
        Err(TerminateChildError::NotFound)
    );
    // A process that is not its child.
    let stranger = within(5, Worker::start(Plan::new("x", &log)))
        .await
        .unwrap();
    assert_eq!(
        within(5, sup.terminate_child(stranger.pid())).await,
        Err(TerminateChildError::NotFound)
    );
    assert!(stranger.is_alive());

    // Brutal kill: no terminate.
    let k_ref = worker_ref(k);
    within(5, sup.terminate_child(k)).await.unwrap();
    assert_eq!(within(5, k_ref.exited()).await, ExitReason::Killed);
    assert_eq!(log.take(), ["start x"]);
    assert_eq!(dynamic_pids(&sup).await, [b.pid()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_are_restarted_alone_as_their_restart_type_says() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new().max_restarts(10)).await;
    let spec = |id, restart| worker(id, &log).with_restart(restart);
    let mut kids = vec![];
    for (id, restart) in [
        ("p", Restart::Permanent),
        ("tr", Restart::Transient),
        ("te", Restart::Temporary),
        ("other", Restart::Permanent),
    ] {
        let pid = within(5, sup.start_child(spec(id, restart)))
            .await
            .unwrap()
            .unwrap();
        kids.push(worker_ref(pid));
    }
    let [p, tr, te, other] = &kids[..] else {
        unreachable!()
    };
    log.take();

    // Permanent: restarted in its place, nothing else moves.
    crash_child(&sup, p).await;
    let now = dynamic_pids(&sup).await;
    assert_eq!(log.take(), [crashed("p"), "start p".into()]);
    assert_eq!(now.len(), 4);
    assert_ne!(now[0], p.pid());
    assert_eq!(now[1..], [tr.pid(), te.pid(), other.pid()]);

    // Transient: restarted after a crash, forgotten after a normal end.
    crash_child(&sup, tr).await;
    assert_eq!(log.take(), [crashed("tr"), "start tr".into()]);
    let tr = worker_ref(dynamic_pids(&sup).await[1]);
    tr.exit_with(ExitReason::Normal).unwrap();
    within(5, tr.exited()).await;
    settle(&sup).await;
    assert_eq!(log.take(), ["stop tr normal"]);
    assert_eq!(dynamic_pids(&sup).await.len(), 3);

    // Temporary: forgotten.
    crash_child(&sup, te).await;
    assert_eq!(log.take(), [crashed("te")]);
    let now = dynamic_pids(&sup).await;
    assert_eq!(now.len(), 2);
    assert_eq!(now[1], other.pid());
    let counted = count(&sup).await;
    assert_eq!((counted.specs, counted.active), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_restarts_end_the_dynamic_supervisor_after_its_children() {
    // The default: 3 restarts in 5 s.
    let log = Log::new();
    let sup = start(DynamicSupervisor::new()).await;
    let a = add(&sup, "a", &log).await;
    let b = add(&sup, "b", &log).await;
    log.take();
    let mut a = a;
    for round in 1..=3 {
        crash_child(&sup, &a).await;
        assert_eq!(
            log.take(),
            [crashed("a"), "start a".into()],
            "round {round}"
        );
        a = worker_ref(dynamic_pids(&sup).await[0]);
    }
    crash(&a).await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    // b was stopped before the supervisor ended.
    assert_eq!(log.take(), [crashed("a"), "stop b shutdown".into()]);
    assert_eq!(within(5, b.exited()).await, ExitReason::Shutdown);

    // Set lower.
    let sup = start(DynamicSupervisor::new().max_restarts(1).max_seconds(5)).await;
    let a = add(&sup, "a", &log).await;
    crash_child(&sup, &a).await;
    assert!(sup.is_alive());
    crash(&worker_ref(dynamic_pids(&sup).await[0])).await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_whose_init_ignores_or_panics_is_not_kept() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new()).await;
    let ignoring = Plan::new("i", &log).boot(Boot::Ignore);
    assert_eq!(within(5, sup.start_child(ignoring.spec())).await, Ok(None));
    let panicking = Plan::new("p", &log).boot(Boot::Panic);
    assert_eq!(
        within(5, sup.start_child(panicking.spec())).await,
        Err(StartChildError::Start(StartError::Init(ExitReason::Panic(
            "p failed to boot".into()
        ))))
    );
    assert_eq!(count(&sup).await.specs, 0);
    assert_eq!(log.take(), ["ignore i", "boot-panic p"]);
    assert!(sup.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_failing_during_a_restart_is_retried_and_counts_against_the_intensity() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new()).await;
    let a = Plan::new("a", &log);
    let pid = within(5, sup.start_child(a.spec())).await.unwrap().unwrap();
    log.take();

    a.set_boot(Boot::PanicOnce);
    crash_child(&sup, &worker_ref(pid)).await;
    // The next attempt may be queued behind that call: one more.
    settle(&sup).await;
    assert_eq!(
        log.take(),
        [crashed("a"), "boot-panic a".into(), "start a".into()]
    );
    // Two of three used: one more restart, then it gives up.
    crash_child(&sup, &worker_ref(dynamic_pids(&sup).await[0])).await;
    assert!(sup.is_alive());
    assert_eq!(log.take(), [crashed("a"), "start a".into()]);
    crash(&worker_ref(dynamic_pids(&sup).await[0])).await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    assert_eq!(log.take(), [crashed("a")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_seconds_zero_fails_the_start_of_a_dynamic_supervisor() {
    let failed = within(
        5,
        DynamicSupervisor::start(DynamicSupervisor::new().max_seconds(0)),
    )
    .await;
    match failed {
        Err(StartError::Init(ExitReason::Error(msg))) => {
            assert!(msg.contains("max_seconds 0"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_children_zero_refuses_every_child() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new().max_children(0)).await;
    assert_eq!(
        within(5, sup.start_child(worker("a", &log))).await,
        Err(StartChildError::MaxChildren)
    );
    assert_eq!(log.take(), Vec::<String>::new());
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
async fn a_restarting_child_counts_against_max_children_and_is_terminated_by_its_old_pid() {
    let log = Log::new();
    // 100 attempts of 50 ms each: 5 s before it would give up.
    let sup = start(
        DynamicSupervisor::new()
            .max_children(2)
            .max_restarts(100)
            .max_seconds(60),
    )
    .await;
    let a = Plan::new("a", &log);
    let old = within(5, sup.start_child(a.spec())).await.unwrap().unwrap();
    let b = add(&sup, "b", &log).await;
    log.take();
    a.set_boot(Boot::SlowFail(Duration::from_millis(50)));
    let crashed_at = Instant::now();
    crash(&worker_ref(old)).await;

    // Answered between two attempts.
    let listed = within(1, sup.which_children()).await.unwrap();
    assert!(crashed_at.elapsed() < Duration::from_secs(1));
    assert_eq!((listed[0].pid, listed[0].restarting), (None, true));
    assert_eq!(
        (listed[1].pid, listed[1].restarting),
        (Some(b.pid()), false)
    );
    let counted = count(&sup).await;
    assert_eq!((counted.specs, counted.active, counted.workers), (2, 1, 2));
    assert_eq!(
        within(5, sup.start_child(worker("c", &log))).await,
        Err(StartChildError::MaxChildren)
    );
    logged(&log, "boot-fail a", 3).await;

    // Terminated by the pid it had: forgotten, and no more attempts.
    assert_eq!(within(5, sup.terminate_child(old)).await, Ok(()));
    let attempts = log.count("boot-fail a");
    assert_eq!(dynamic_pids(&sup).await, [b.pid()]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(log.count("boot-fail a"), attempts);
    assert!(sup.is_alive());
    assert_eq!(
        within(5, sup.terminate_child(old)).await,
        Err(TerminateChildError::NotFound)
    );
    add(&sup, "c", &log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failed_attempt_counts_until_the_dynamic_supervisor_gives_up() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new().max_restarts(4).max_seconds(60)).await;
    let a = Plan::new("a", &log);
    let pid = within(5, sup.start_child(a.spec())).await.unwrap().unwrap();
    let b = add(&sup, "b", &log).await;
    log.take();
    a.set_boot(Boot::SlowFail(Duration::from_millis(10)));
    crash(&worker_ref(pid)).await;
    assert_eq!(within(5, sup.exited()).await, ExitReason::Shutdown);
    let mut expected = vec![crashed("a")];
    expected.extend(vec!["boot-fail a".to_string(); 4]);
    expected.push("stop b shutdown".into());
    assert_eq!(log.take(), expected);
    assert_eq!(within(5, b.exited()).await, ExitReason::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_child_of_a_dynamic_supervisor_keeps_its_name_across_restarts() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new()).await;
    within(
        5,
        sup.start_child(worker("n", &log).with_name("dynamic-named-child")),
    )
    .await
    .unwrap()
    .unwrap();
    let first = Worker::whereis("dynamic-named-child").unwrap();
    crash_child(&sup, &first).await;
    let second = Worker::whereis("dynamic-named-child").unwrap();
    assert_ne!(second, first);
    assert_eq!(dynamic_pids(&sup).await, [second.pid()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_dynamic_supervisor_ends_its_children_with_killed() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new()).await;
    let a = add(&sup, "a", &log).await;
    let b = add(&sup, "b", &log).await;
    sup.kill();
    assert_eq!(within(5, a.exited()).await, ExitReason::Killed);
    assert_eq!(within(5, b.exited()).await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_supervisor_in_a_tree_is_restarted_empty() {
    let log = Log::new();
    let top = within(
        5,
        Supervisor::start(
            Supervisor::new(Strategy::OneForOne)
                .child(worker("w", &log))
                .child(
                    DynamicSupervisor::child_spec(DynamicSupervisor::new())
                        .with_id("pool")
                        .with_name("dynamic-pool"),
                ),
        ),
    )
    .await
    .unwrap();
    let listed = within(5, top.which_children()).await.unwrap();
    assert_eq!(listed[1].kind, ChildKind::Supervisor);
    let pool = DynamicSupervisor::whereis("dynamic-pool").unwrap();
    assert_eq!(Some(pool.pid()), listed[1].pid);
    let a = add(&pool, "a", &log).await;
    let w = pid_of(&top, "w").await;

    pool.kill();
    assert_eq!(within(5, a.exited()).await, ExitReason::Killed);
    within(5, pool.exited()).await;
    let _ = within(5, top.count_children()).await;
    let new_pool = DynamicSupervisor::whereis("dynamic-pool").unwrap();
    assert_ne!(new_pool, pool);
    assert_eq!(pid_of(&top, "pool").await, Some(new_pool.pid()));
    assert_eq!(count(&new_pool).await.specs, 0);
    assert_eq!(pid_of(&top, "w").await, w);

    // Stopping the tree stops the pool's children too, before the pool.
    add(&new_pool, "b", &log).await;
    log.take();
    within(5, top.stop()).await.unwrap();
    assert_eq!(log.take(), shutdowns(&["b", "w"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_spec_starts_a_child_that_comes_back_as_its_handle() {
    let log = Log::new();
    let sup = start(DynamicSupervisor::new()).await;
    let spec = Worker::child_spec(Plan::new("typed", &log));
    let typed: WorkerRef = within(5, sup.start_child(spec)).await.unwrap().unwrap();
    within(5, typed.ping()).await.unwrap();
    assert_eq!(dynamic_pids(&sup).await, [typed.pid()]);
    // Terminated by its handle, or by its pid.
    within(5, sup.terminate_child(&typed)).await.unwrap();
    assert!(!typed.is_alive());
    assert_eq!(log.take(), ["start typed", "stop typed shutdown"]);
}

// Paused time: the 6 s pass at once, and a call's default 5 s timeout would have
// fired first.
#[tokio::test(start_paused = true)]
async fn terminate_child_waits_as_long_as_the_childs_shutdown_allows() {
    let log = Log::new();
    let sup = DynamicSupervisor::start(DynamicSupervisor::new())
        .await
        .unwrap();
    let slow = Plan::new("slow", &log).ending(Ending::Slow(Duration::from_secs(6)));
    let spec = Worker::child_spec(slow).with_shutdown(Shutdown::Timeout(Duration::from_secs(7)));
    let child = sup.start_child(spec).await.unwrap().unwrap();
    let began = tokio::time::Instant::now();
    assert_eq!(sup.terminate_child(&child).await, Ok(()));
    assert!(began.elapsed() >= Duration::from_secs(6));
    assert_eq!(log.take(), ["start slow", "stop slow shutdown"]);
}
