//! Monitors (`Context::monitor` / `demonitor`): a `Down` per monitor, exactly
//! once, with the target's reason; `NoProc` at once for a target that has ended;
//! none after `demonitor`, not even one already queued. Waits are bounded by
//! `within`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use gensrv::{Context, Down, ExitReason, MonitorRef, Pid, gen_server};
use gensrv_tests::{info, within};

/// Something to watch: it ends however the test asks.
struct Target;

#[gen_server]
impl Target {
    /// Panics with `msg`.
    #[cast]
    fn crash(&mut self, msg: String) {
        panic!("{msg}");
    }

    #[call]
    fn ping(&self) {}
}

/// Monitors what it is told to and records every `Down` it handles.
#[derive(Default)]
struct Watcher {
    downs: Vec<Down>,
}

#[gen_server]
impl Watcher {
    /// Monitors a process named by its pid.
    #[call]
    fn watch(&mut self, target: Pid, ctx: &mut Context<Self>) -> MonitorRef {
        ctx.monitor(&target)
    }

    /// Monitors a server named by its typed handle, and by its `ServerRef`.
    #[call]
    fn watch_handle(&mut self, target: TargetRef, ctx: &mut Context<Self>) -> Vec<MonitorRef> {
        vec![ctx.monitor(&target), ctx.monitor(&*target)]
    }

    /// Monitors `target` `n` times.
    #[call]
    fn watch_many(&mut self, target: Pid, n: usize, ctx: &mut Context<Self>) -> Vec<MonitorRef> {
        (0..n).map(|_| ctx.monitor(&target)).collect()
    }

    #[call]
    fn unwatch(&mut self, monitor: MonitorRef, ctx: &mut Context<Self>) -> bool {
        ctx.demonitor(monitor)
    }

    /// Monitors `target` twice, kills it, and waits (without handling messages)
    /// until both `Down`s are in the mailbox; then demonitors the first one. Gives
    /// both monitors.
    #[call]
    async fn demonitor_a_queued_down(
        &mut self,
        target: TargetRef,
        ctx: &mut Context<Self>,
    ) -> (MonitorRef, MonitorRef, bool) {
        let dropped = ctx.monitor(&target);
        let kept = ctx.monitor(&target);
        target.kill();
        target.exited().await;
        // The Downs are queued by now (`exited` resolves after they are sent); the
        // pause only makes sure of it, whatever that order.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let removed_before_down = ctx.demonitor(dropped);
        (dropped, kept, removed_before_down)
    }

    /// Monitors the ended `target` (its `Down` is queued by `monitor` itself), then
    /// demonitors it in the same handler.
    #[call]
    fn monitor_and_demonitor_ended(&mut self, target: Pid, ctx: &mut Context<Self>) -> bool {
        let monitor = ctx.monitor(&target);
        ctx.demonitor(monitor)
    }

    #[info]
    fn down(&mut self, down: Down) {
        self.downs.push(down);
    }

    #[call]
    fn downs(&self) -> Vec<Down> {
        self.downs.clone()
    }

    /// How many `Down`s it has handled for each monitor.
    #[call]
    fn counts(&self) -> HashMap<MonitorRef, usize> {
        let mut counts = HashMap::new();
        for down in &self.downs {
            *counts.entry(down.monitor).or_insert(0) += 1;
        }
        counts
    }
}

async fn watcher() -> WatcherRef {
    within(5, Watcher::start(Watcher::default())).await.unwrap()
}

async fn target() -> TargetRef {
    within(5, Target::start(Target)).await.unwrap()
}

/// Gives late duplicates time to arrive, then returns what the watcher handled
/// (the call itself is behind anything already queued).
async fn settled_downs(watcher: &WatcherRef) -> Vec<Down> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    within(5, watcher.downs()).await.unwrap()
}

/// Waits until the watcher has handled `n` Downs.
async fn until_downs(watcher: &WatcherRef, n: usize) -> Vec<Down> {
    within(5, async {
        loop {
            let downs = watcher.downs().await.unwrap();
            if downs.len() >= n {
                return downs;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_gets_one_down_with_the_targets_pid_and_reason() {
    let watcher = watcher().await;
    let target = target().await;
    let monitor = within(5, watcher.watch(target.pid())).await.unwrap();
    assert_eq!(info(target.pid()).monitored_by, vec![watcher.pid()]);
    assert_eq!(info(watcher.pid()).monitors, vec![target.pid()]);

    target.crash("target crashed".into()).unwrap();
    let expected = Down {
        monitor,
        pid: target.pid(),
        reason: ExitReason::Panic("target crashed".into()),
    };
    assert_eq!(until_downs(&watcher, 1).await, vec![expected.clone()]);
    // Exactly once: nothing more comes later.
    assert_eq!(settled_downs(&watcher).await, vec![expected]);
    // The watcher no longer counts the monitor.
    assert!(info(watcher.pid()).monitors.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_monitors_on_one_target_each_fire_once() {
    let (first, second) = (watcher().await, watcher().await);
    let target = target().await;
    // By typed handle, by ServerRef, twice by pid, and from another watcher.
    let mut mine = within(5, first.watch_handle(target.clone())).await.unwrap();
    mine.extend(within(5, first.watch_many(target.pid(), 2)).await.unwrap());
    let theirs = within(5, second.watch(target.pid())).await.unwrap();
    let distinct: HashSet<MonitorRef> = mine.iter().copied().chain([theirs]).collect();
    assert_eq!(distinct.len(), 5, "each monitor call gives a new reference");
    assert_eq!(info(target.pid()).monitored_by.len(), 5);

    let reason = ExitReason::Error("gone".into());
    within(5, target.stop().reason(reason.clone()))
        .await
        .unwrap();

    until_downs(&first, 4).await;
    until_downs(&second, 1).await;
    let downs = settled_downs(&first).await;
    let got: Vec<MonitorRef> = downs.iter().map(|d| d.monitor).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut expected = mine.clone();
    expected.sort();
    assert_eq!(
        got_sorted, expected,
        "one Down per monitor, no more: {got:?}"
    );
    for down in &downs {
        assert_eq!((down.pid, &down.reason), (target.pid(), &reason));
    }
    assert_eq!(
        settled_downs(&second).await,
        vec![Down {
            monitor: theirs,
            pid: target.pid(),
            reason
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_down_is_queued_before_exited_resolves() {
    // Repeated, since a wrong order would lose a race only now and then.
    for round in 0..100 {
        let watcher = watcher().await;
        let target = target().await;
        let monitor = within(5, watcher.watch(target.pid())).await.unwrap();
        target.crash("crashed".into()).unwrap();
        within(5, target.exited()).await;
        // No pause: this call is queued behind the Down.
        assert_eq!(
            within(5, watcher.downs()).await.unwrap(),
            vec![Down {
                monitor,
                pid: target.pid(),
                reason: ExitReason::Panic("crashed".into())
            }],
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_an_ended_process_gives_noproc_at_once() {
    let watcher = watcher().await;
    let target = target().await;
    let pid = target.pid();
    within(5, target.stop()).await.unwrap();

    let by_pid = within(5, watcher.watch(pid)).await.unwrap();
    // The Down was queued by `monitor` itself, ahead of this call: no waiting.
    let downs = within(5, watcher.downs()).await.unwrap();
    assert_eq!(
        downs,
        vec![Down {
            monitor: by_pid,
            pid,
            reason: ExitReason::NoProc
        }]
    );

    // The same through a handle that outlived its server.
    let by_handle = within(5, watcher.watch_handle(target.clone()))
        .await
        .unwrap();
    let downs = within(5, watcher.downs()).await.unwrap();
    assert_eq!(downs.len(), 3, "{downs:?} {by_handle:?}");
    for (down, monitor) in downs[1..].iter().zip(&by_handle) {
        assert_eq!(
            down,
            &Down {
                monitor: *monitor,
                pid,
                reason: ExitReason::NoProc
            }
        );
    }
    assert_eq!(settled_downs(&watcher).await.len(), 3);
    assert!(info(watcher.pid()).monitors.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_demonitor_no_down_arrives() {
    let watcher = watcher().await;
    let target = target().await;
    let monitor = within(5, watcher.watch(target.pid())).await.unwrap();
    assert_eq!(within(5, watcher.unwatch(monitor)).await, Ok(true));
    // Both sides forget it at once.
    assert!(info(target.pid()).monitored_by.is_empty());
    assert!(info(watcher.pid()).monitors.is_empty());
    // A second demonitor finds nothing.
    assert_eq!(within(5, watcher.unwatch(monitor)).await, Ok(false));

    target.crash("unwatched".into()).unwrap();
    within(5, target.exited()).await;
    assert_eq!(settled_downs(&watcher).await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demonitor_drops_a_down_that_is_already_queued() {
    let watcher = watcher().await;
    let target = target().await;
    let (dropped, kept, removed_before_down) =
        within(5, watcher.demonitor_a_queued_down(target.clone()))
            .await
            .unwrap();
    // As OTP's `demonitor(Ref, [flush, info])`: the Down had been sent.
    assert!(!removed_before_down);
    // The other monitor's Down, queued at the same time, shows that the dropped one
    // was in the mailbox too.
    assert_eq!(
        settled_downs(&watcher).await,
        vec![Down {
            monitor: kept,
            pid: target.pid(),
            reason: ExitReason::Killed
        }],
        "the Down of {dropped:?} must be dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demonitor_drops_the_noproc_down_of_an_ended_process() {
    let watcher = watcher().await;
    let target = target().await;
    within(5, target.stop()).await.unwrap();
    let removed_before_down = within(5, watcher.monitor_and_demonitor_ended(target.pid()))
        .await
        .unwrap();
    assert!(!removed_before_down, "the NoProc Down was sent at once");
    assert_eq!(settled_downs(&watcher).await, vec![]);
    assert!(info(watcher.pid()).monitors.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_monitors_on_one_server_all_fire_exactly_once() {
    const WATCHERS: usize = 4;
    const PER_WATCHER: usize = 2_500;
    let target = target().await;
    let mut watchers = Vec::new();
    let mut all = HashSet::new();
    for _ in 0..WATCHERS {
        let watcher = watcher().await;
        let refs = within(5, watcher.watch_many(target.pid(), PER_WATCHER))
            .await
            .unwrap();
        all.extend(refs.iter().copied());
        watchers.push((watcher, refs));
    }
    assert_eq!(all.len(), WATCHERS * PER_WATCHER);
    assert_eq!(
        info(target.pid()).monitored_by.len(),
        WATCHERS * PER_WATCHER
    );

    target.crash("many watch me".into()).unwrap();
    for (watcher, _) in &watchers {
        until_downs(watcher, PER_WATCHER).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let reason = ExitReason::Panic("many watch me".into());
    for (watcher, refs) in &watchers {
        let counts = within(5, watcher.counts()).await.unwrap();
        assert_eq!(
            counts.len(),
            PER_WATCHER,
            "a Down for every monitor, no other"
        );
        for monitor in refs {
            assert_eq!(counts.get(monitor), Some(&1), "{monitor:?} fired once");
        }
        for down in within(5, watcher.downs()).await.unwrap() {
            assert_eq!((down.pid, &down.reason), (target.pid(), &reason));
        }
        assert!(info(watcher.pid()).monitors.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_ends_leaves_no_monitor_on_its_target() {
    let target = target().await;
    let watcher = watcher().await;
    within(5, watcher.watch_many(target.pid(), 3))
        .await
        .unwrap();
    assert_eq!(info(target.pid()).monitored_by.len(), 3);
    watcher.kill();
    within(5, watcher.exited()).await;
    assert!(info(target.pid()).monitored_by.is_empty());
    // The target ending later sends nothing anywhere, and nothing breaks.
    within(5, target.ping()).await.unwrap();
    within(5, target.stop()).await.unwrap();
}
