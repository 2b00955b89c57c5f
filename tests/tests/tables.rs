//! No relation outlives what it relates: once the messages are handled, no
//! process's table keeps a monitor or link to one that has ended, and the ended
//! one is gone from the process table. Waits are bounded by `within`.

use std::time::Duration;

use gensrv::{Context, Down, Exit, ExitReason, Pid, gen_server};
use gensrv_tests::{info, within};

/// Monitors or links to others, and counts what it hears of them.
#[derive(Default)]
struct Peer {
    downs: Vec<Down>,
    exits: Vec<Exit>,
}

#[gen_server]
impl Peer {
    #[init]
    fn init(trap: bool, ctx: &mut Context<Self>) -> Self {
        ctx.trap_exit(trap);
        Peer::default()
    }

    #[call]
    fn watch(&mut self, other: Pid, ctx: &mut Context<Self>) {
        ctx.monitor(&other);
    }

    #[call]
    fn link_to(&mut self, other: Pid, ctx: &mut Context<Self>) {
        ctx.link(&other);
    }

    #[info]
    fn down(&mut self, down: Down) {
        self.downs.push(down);
    }

    #[info]
    fn exit(&mut self, exit: Exit) {
        self.exits.push(exit);
    }

    /// The Downs and Exits it has handled.
    #[call]
    fn heard(&self) -> (Vec<Down>, Vec<Exit>) {
        (self.downs.clone(), self.exits.clone())
    }
}

async fn peer(trap: bool) -> PeerRef {
    within(5, Peer::start(trap)).await.unwrap()
}

/// Waits until `peer` has handled `downs` Downs and `exits` Exits, then gives them.
async fn until_heard(peer: &PeerRef, downs: usize, exits: usize) -> (Vec<Down>, Vec<Exit>) {
    within(5, async {
        loop {
            let heard = peer.heard().await.unwrap();
            if heard.0.len() >= downs && heard.1.len() >= exits {
                return heard;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_monitored_and_linked_by_many_leaks_no_table_entry() {
    const MANY: usize = 100;
    let target = peer(false).await;
    let dead = target.pid();
    let mut watchers = Vec::new();
    let mut linked = Vec::new();
    for _ in 0..MANY {
        let watcher = peer(false).await;
        within(5, watcher.watch(dead)).await.unwrap();
        watchers.push(watcher);
        let trapping = peer(true).await;
        within(5, trapping.link_to(dead)).await.unwrap();
        linked.push(trapping);
    }
    let before = info(dead);
    assert_eq!(before.monitored_by.len(), MANY);
    assert_eq!(before.links.len(), MANY);

    target.kill();
    assert_eq!(within(5, target.exited()).await, ExitReason::Killed);
    assert_eq!(gensrv::process_info(dead), None);
    assert!(!gensrv::processes().contains(&dead));

    for watcher in &watchers {
        // Handling the Down is what lets the watcher forget the monitor.
        let (downs, _) = until_heard(watcher, 1, 0).await;
        assert_eq!(downs.len(), 1);
        assert_eq!(
            (downs[0].pid, &downs[0].reason),
            (dead, &ExitReason::Killed)
        );
        let left = info(watcher.pid());
        assert!(!left.monitors.contains(&dead), "{left:?}");
        assert!(
            left.links.is_empty() && left.monitored_by.is_empty(),
            "{left:?}"
        );
    }
    for trapping in &linked {
        let (_, exits) = until_heard(trapping, 0, 1).await;
        assert_eq!(
            exits,
            vec![Exit {
                pid: dead,
                reason: ExitReason::Killed
            }]
        );
        let left = info(trapping.pid());
        assert!(!left.links.contains(&dead), "{left:?}");
        assert!(
            left.monitors.is_empty() && left.monitored_by.is_empty(),
            "{left:?}"
        );
    }
    for pid in gensrv::processes() {
        if let Some(info) = gensrv::process_info(pid) {
            assert!(
                !info.links.contains(&dead)
                    && !info.monitors.contains(&dead)
                    && !info.monitored_by.contains(&dead),
                "{info:?} still refers to {dead}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_end_leave_no_entry_in_the_survivors_tables() {
    const MANY: usize = 100;
    let survivor = peer(true).await;
    let mut others = Vec::new();
    for i in 0..MANY {
        let other = peer(false).await;
        within(5, other.watch(survivor.pid())).await.unwrap();
        within(5, other.link_to(survivor.pid())).await.unwrap();
        others.push((i, other));
    }
    let before = info(survivor.pid());
    assert_eq!(before.monitored_by.len(), MANY);
    assert_eq!(before.links.len(), MANY);

    // Half stop, half are killed.
    for (i, other) in &others {
        if i % 2 == 0 {
            within(5, other.stop()).await.unwrap();
        } else {
            other.kill();
            within(5, other.exited()).await;
        }
    }
    // A watcher's end removes its monitors from the target at once; the links go
    // as the survivor handles the exit signals.
    assert!(info(survivor.pid()).monitored_by.is_empty());
    let (_, exits) = until_heard(&survivor, 0, MANY).await;
    assert_eq!(exits.len(), MANY);
    let after = info(survivor.pid());
    assert!(after.links.is_empty(), "{after:?}");
    assert!(after.monitored_by.is_empty(), "{after:?}");
    for (_, other) in &others {
        assert_eq!(gensrv::process_info(other.pid()), None);
        assert!(!gensrv::processes().contains(&other.pid()));
    }
}
