//! More attacks on distribution (feature `remote`), on what `remote_attack.rs`
//! does not cover: handles nested in containers and forwarded across three
//! nodes, pids serialized outside a node, the nesting limit at its edge, calls
//! and casts interleaved into a full mailbox, client nodes losing their peer,
//! nodes replaced in one process, racing global names, call-backs and many
//! concurrent calls with random timeouts. Every wait is bounded; every node
//! listens on 127.0.0.1.
#![cfg(feature = "remote")]

use std::collections::HashMap;
use std::time::Duration;

use gensrv::remote::{Mode, NameError, Node, NodeConfig};
use gensrv::{CallError, ExitReason, Pid, ServerRef, Start, gen_server};
use gensrv_tests::remote::{Echo, EchoRef, Tree, Watcher, free_port, through, two_nodes};
use gensrv_tests::{until, within};
use serde::{Deserialize, Serialize};

/// A typed handle to the local server `pid`, reached through the nodes (`from`
/// names it as a server of node `at`).
fn remote<S: gensrv::remote::Remote>(from: &Node, at: &Node, pid: Pid) -> ServerRef<S> {
    ServerRef::<S>::from_pid(through(from, at, pid)).expect("a handle")
}

/// A third node, connecting to `first`, seen by both others.
async fn third(first: &Node, second: &Node, endpoint: String) -> Node {
    let node = Node::start(NodeConfig::default().connect(endpoint))
        .await
        .expect("the third node starts");
    for other in [first, second] {
        assert!(node.wait_for(other.id(), Duration::from_secs(10)).await);
        assert!(other.wait_for(node.id(), Duration::from_secs(10)).await);
    }
    node
}

/// Three nodes: the first listens, the others connect to it.
async fn three_nodes() -> (Node, Node, Node) {
    let port = free_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let a = Node::start(NodeConfig::default().listen([endpoint.clone()]))
        .await
        .expect("the first node starts");
    let b = Node::start(NodeConfig::default().connect(endpoint.clone()))
        .await
        .expect("the second node starts");
    assert!(a.wait_for(b.id(), Duration::from_secs(10)).await);
    assert!(b.wait_for(a.id(), Duration::from_secs(10)).await);
    let c = third(&a, &b, endpoint).await;
    (a, b, c)
}

// ---------------------------------------------------------------------------
// Handles and pids nested in containers, across three nodes
// ---------------------------------------------------------------------------

/// A user enum holding handles.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Target {
    Nobody,
    One(EchoRef),
    Pair { first: EchoRef, pid: Option<Pid> },
}

/// Everything a [`Bag`] keeps: handles and pids in containers.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Bundle {
    list: Vec<EchoRef>,
    pid: Option<Pid>,
    named: HashMap<String, EchoRef>,
    targets: Vec<Target>,
}

#[derive(Debug, Default)]
pub struct Bag {
    bundle: Bundle,
}

#[gen_server(remote)]
impl Bag {
    /// Keeps `bundle`.
    #[call]
    fn keep(&mut self, bundle: Bundle) {
        self.bundle = bundle;
    }

    /// What it keeps: a reply with handles.
    #[call]
    fn kept(&self) -> Bundle {
        self.bundle.clone()
    }

    /// Passes what it keeps on to `next` (wherever it runs).
    #[call]
    async fn pass(&self, next: BagRef) -> Result<(), CallError> {
        next.keep(self.bundle.clone()).await
    }

    /// Calls every echo server it keeps, in order: the list, the named ones
    /// (sorted by name), the targets.
    #[call]
    async fn echo_all(&self, text: String) -> Vec<Result<String, CallError>> {
        let mut out = Vec::new();
        for echo in &self.bundle.list {
            out.push(echo.echo(text.clone()).await);
        }
        let mut names: Vec<_> = self.bundle.named.keys().cloned().collect();
        names.sort();
        for name in names {
            out.push(self.bundle.named[&name].echo(text.clone()).await);
        }
        for target in &self.bundle.targets {
            match target {
                Target::Nobody => {}
                Target::One(echo) | Target::Pair { first: echo, .. } => {
                    out.push(echo.echo(text.clone()).await);
                }
            }
        }
        out
    }

    /// The pids it keeps, with whether each is local.
    #[call]
    fn pids(&self) -> Vec<(Pid, bool)> {
        let mut pids: Vec<Pid> = self.bundle.list.iter().map(|e| e.pid()).collect();
        pids.extend(self.bundle.pid);
        for target in &self.bundle.targets {
            if let Target::Pair { pid: Some(pid), .. } = target {
                pids.push(*pid);
            }
        }
        pids.into_iter().map(|pid| (pid, pid.is_local())).collect()
    }
}

/// A handle to an echo server "of A", with handles in a Vec, a HashMap, an
/// Option and a user enum, goes A→B→C (each hop a call made on the node the
/// bag is reached through) and every handle reaches its server from C; the
/// reply with the handles comes back to A as local handles again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_nested_in_containers_go_across_three_nodes() {
    within(90, async {
        let (a, b, c) = three_nodes().await;
        let echoes: Vec<_> = (0..3).map(|_| Start::<Echo>::new(())).collect::<Vec<_>>();
        let mut started = Vec::new();
        for echo in echoes {
            started.push(echo.await.unwrap());
        }
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        let bag_b = Bag::start(Bag::default()).await.unwrap();
        let bag_c = Bag::start(Bag::default()).await.unwrap();

        // From A: the bag "of B", handed local handles (servers of A).
        let to_b: BagRef = remote::<Bag>(&a, &b, bag_b.pid()).into();
        let bundle = Bundle {
            list: vec![started[0].clone(), started[1].clone()],
            pid: Some(watcher.pid()),
            named: HashMap::from([("x".to_string(), started[2].clone())]),
            targets: vec![
                Target::Nobody,
                Target::One(started[0].clone()),
                Target::Pair {
                    first: started[1].clone(),
                    pid: Some(started[2].pid()),
                },
            ],
        };
        to_b.keep(bundle).await.unwrap();
        // On B they are servers of A, not local ones.
        let pids = to_b.pids().await.unwrap();
        assert_eq!(pids.len(), 4, "{pids:?}");
        assert_eq!(
            to_b.echo_all("b".into()).await.unwrap(),
            vec![Ok("b".to_string()); 5]
        );

        // B passes it all on to the bag "of C": a handle A hands it (a server
        // of C for A; for B too, once it has crossed).
        let b_to_c: BagRef = remote::<Bag>(&a, &c, bag_c.pid()).into();
        to_b.pass(b_to_c).await.unwrap().unwrap();
        let to_c: BagRef = remote::<Bag>(&a, &c, bag_c.pid()).into();
        assert_eq!(
            to_c.echo_all("c".into()).await.unwrap(),
            vec![Ok("c".to_string()); 5]
        );
        // Back at A, the reply's handles are local again, and the same servers.
        let back = to_c.kept().await.unwrap();
        let expected: Vec<Pid> = vec![started[0].pid(), started[1].pid()];
        assert_eq!(
            back.list.iter().map(|e| e.pid()).collect::<Vec<_>>(),
            expected
        );
        assert!(back.list.iter().all(|e| e.pid().is_local()));
        assert_eq!(back.pid, Some(watcher.pid()));
        assert_eq!(back.named["x"].pid(), started[2].pid());
        match &back.targets[2] {
            Target::Pair { first, pid } => {
                assert_eq!(first.pid(), started[1].pid());
                assert_eq!(*pid, Some(started[2].pid()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(back.list[0].echo("home".into()).await, Ok("home".into()));
    })
    .await;
}

/// A server that keeps handles it got through one node and is then asked,
/// through another node of the same process, to pass them on: they must still
/// travel (the pids are those of node A, whichever local node encodes them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_received_through_one_node_pass_on_through_another() {
    within(90, async {
        let (a, b, c) = three_nodes().await;
        let echo = Echo::start().await.unwrap();
        let bag = Bag::start(Bag::default()).await.unwrap();
        let sink = Bag::start(Bag::default()).await.unwrap();
        // The bag gets, through B, a handle to an echo server of A.
        let via_b: BagRef = remote::<Bag>(&a, &b, bag.pid()).into();
        via_b
            .keep(Bundle {
                list: vec![echo.clone()],
                ..Bundle::default()
            })
            .await
            .unwrap();
        // Then, through C, is told to pass it on to a sink of A (a handle made
        // on C).
        let via_c: BagRef = remote::<Bag>(&a, &c, bag.pid()).into();
        let sink_from_c: BagRef = remote::<Bag>(&c, &a, sink.pid()).into();
        // The handle to the sink crosses A→C, and is a handle of C there.
        let sent = via_c.pass(sink_from_c).await.unwrap();
        assert_eq!(
            sent,
            Ok(()),
            "a handle of node A, kept from B, passed on via C"
        );
        let kept = sink.kept().await.unwrap();
        assert_eq!(kept.list[0].pid(), echo.pid());
    })
    .await;
}

// ---------------------------------------------------------------------------
// Pids and handles outside a node's messages
// ---------------------------------------------------------------------------

/// A pid or handle serialized (or deserialized) with postcard or serde_json
/// outside a node's messages is an error, never a wrong pid; even with nodes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pids_and_handles_outside_a_node_are_errors() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let there = remote::<Echo>(&b, &a, echo.pid());
        for pid in [echo.pid(), there.pid()] {
            assert!(postcard::to_stdvec(&pid).is_err(), "postcard {pid:?}");
            assert!(serde_json::to_string(&pid).is_err(), "json {pid:?}");
        }
        let local: EchoRef = echo.clone();
        let far: EchoRef = there.clone().into();
        for handle in [&local, &far] {
            assert!(postcard::to_stdvec(handle).is_err());
            assert!(serde_json::to_string(handle).is_err());
            assert!(serde_json::to_string(&vec![Some(handle.clone())]).is_err());
        }
        // Decoding: what a node would send, decoded outside one.
        let json = format!(r#"{{"node":"{}","index":1}}"#, a.id());
        assert!(serde_json::from_str::<Pid>(&json).is_err());
        assert!(serde_json::from_str::<EchoRef>(&format!("[{json},1]")).is_err());
        // Still, from another runtime thread.
        let handle = tokio::task::spawn_blocking(move || {
            (
                postcard::to_stdvec(&there.pid()).is_err(),
                serde_json::to_string(&there).is_err(),
            )
        });
        assert_eq!(handle.await.unwrap(), (true, true));
    })
    .await;
}

// ---------------------------------------------------------------------------
// The nesting limit in a real message
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct Grove;

#[gen_server(remote)]
impl Grove {
    /// The depth of `tree`.
    #[call]
    fn depth(&self, tree: Tree) -> u64 {
        tree.depth()
    }

    /// A tree of `depth`: a deep reply.
    #[call]
    fn grow(&self, depth: u64) -> Tree {
        Tree::of_depth(depth as usize)
    }
}

/// A call whose argument nests 200 deep works; 300 is refused, and so is a
/// reply 300 deep; the node serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_at_and_past_the_limit_in_a_typed_call() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let grove = Grove::start(Grove).await.unwrap();
        let there: GroveRef = remote::<Grove>(&b, &a, grove.pid()).into();
        assert_eq!(there.depth(Tree::of_depth(200)).await, Ok(200));
        assert!(
            matches!(
                there.depth(Tree::of_depth(300)).await,
                Err(CallError::Refused(_))
            ),
            "a 300-deep argument is refused"
        );
        assert_eq!(there.depth(Tree::of_depth(3)).await, Ok(3));
        assert_eq!(there.grow(200).await.map(|t| t.depth()), Ok(200));
        let deep = there.grow(300).await;
        assert!(
            matches!(deep, Err(CallError::Refused(_))),
            "a 300-deep reply is refused: {:?}",
            deep.map(|t| t.depth())
        );
        assert!(grove.is_alive());
        assert_eq!(there.depth(Tree::of_depth(1)).await, Ok(1));
        // Where exactly the edge is: a depth that passes, the next one refused,
        // both between 200 and 300, and the same for replies.
        let mut last_ok = 0;
        for depth in 200..300 {
            if there.depth(Tree::of_depth(depth)).await.is_ok() {
                last_ok = depth;
            } else {
                break;
            }
        }
        assert!((200..300).contains(&last_ok), "{last_ok}");
        assert!(matches!(
            there.depth(Tree::of_depth(last_ok + 1)).await,
            Err(CallError::Refused(_))
        ));
    })
    .await;
}

// ---------------------------------------------------------------------------
// Calls and casts interleaved into a full bounded mailbox
// ---------------------------------------------------------------------------

/// From one sender, casts and calls interleaved into a full bounded mailbox of
/// another node: each call's reply sees exactly the casts sent before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_and_calls_interleaved_into_a_full_mailbox_keep_their_order() {
    within(60, async {
        let (a, b) = two_nodes().await;
        for round in 0..3 {
            let echo = Start::<Echo>::new(()).mailbox(1).await.unwrap();
            let there: EchoRef = remote::<Echo>(&b, &a, echo.pid()).into();
            let busy = there.sleep(200).timeout(Duration::from_secs(20)).send();
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut calls = Vec::new();
            for n in 0..20u64 {
                if n % 3 == 2 {
                    calls.push((n, there.log().timeout(Duration::from_secs(20)).send()));
                } else {
                    there.push(n).unwrap();
                }
            }
            assert_eq!(within(20, busy).await, Ok(()));
            for (n, call) in calls {
                let expected: Vec<u64> = (0..n).filter(|m| m % 3 != 2).collect();
                assert_eq!(
                    within(20, call).await,
                    Ok(expected),
                    "round {round}, call {n}"
                );
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// A client node losing its peer
// ---------------------------------------------------------------------------

/// A `Mode::Client` node whose peer goes: calls through it fail with
/// `NoConnection` (or `NoProc`), monitors fire `NoConnection`, nothing hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_node_losing_its_peer() {
    within(60, async {
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let peer = Node::start(
            NodeConfig::default()
                .listen([endpoint.clone()])
                .lease(Duration::from_millis(500)),
        )
        .await
        .unwrap();
        let client = Node::start(
            NodeConfig::default()
                .mode(Mode::Client)
                .connect(endpoint)
                .lease(Duration::from_millis(500)),
        )
        .await
        .unwrap();
        assert!(client.wait_for(peer.id(), Duration::from_secs(10)).await);
        assert!(peer.wait_for(client.id(), Duration::from_secs(10)).await);
        let echo = Echo::start().await.unwrap();
        let there: EchoRef = remote::<Echo>(&client, &peer, echo.pid()).into();
        assert_eq!(there.echo("hi".into()).await, Ok("hi".into()));
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        watcher.monitor(there.pid()).await.unwrap();
        let pending = there.sleep(5_000).timeout(Duration::from_secs(30)).send();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let peer_id = peer.id().clone();
        drop(peer);
        let started = tokio::time::Instant::now();
        let failed = within(20, pending).await;
        assert!(
            matches!(
                failed,
                Err(CallError::Exited(ExitReason::NoConnection)) | Err(CallError::NoProc)
            ),
            "{failed:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "seen gone late: {:?}",
            started.elapsed()
        );
        until(
            "the down",
            || async { watcher.downs().await.unwrap() },
            vec![(there.pid(), ExitReason::NoConnection)],
        )
        .await;
        assert!(!client.is_up(&peer_id).await);
        let after = there.echo("again".into()).await;
        assert!(
            matches!(
                after,
                Err(CallError::Exited(ExitReason::NoConnection)) | Err(CallError::NoProc)
            ),
            "{after:?}"
        );
        assert!(echo.is_alive(), "the local server does not die with a node");
    })
    .await;
}

/// The smallest lease is taken (and clamped): nodes with it connect and work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_lease_still_connects() {
    within(60, async {
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let a = Node::start(
            NodeConfig::default()
                .listen([endpoint.clone()])
                .lease(Duration::ZERO),
        )
        .await
        .unwrap();
        let b = Node::start(
            NodeConfig::default()
                .connect(endpoint)
                .lease(Duration::from_nanos(1)),
        )
        .await
        .unwrap();
        assert!(b.wait_for(a.id(), Duration::from_secs(10)).await);
        let echo = Echo::start().await.unwrap();
        let there: EchoRef = remote::<Echo>(&b, &a, echo.pid()).into();
        for n in 0..20 {
            assert_eq!(there.echo(format!("{n}")).await, Ok(format!("{n}")));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(b.is_up(a.id()).await, "not taken as gone with traffic idle");
    })
    .await;
}

// ---------------------------------------------------------------------------
// A node replaced in one process, with old handles around
// ---------------------------------------------------------------------------

/// Handles and pids from nodes that are gone, used once new nodes run in the
/// same process: they fail cleanly, never reach a server of the new nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_of_dropped_nodes_fail_cleanly_under_new_nodes() {
    within(90, async {
        let echo = Echo::start().await.unwrap();
        let (a, b) = two_nodes().await;
        let old: EchoRef = remote::<Echo>(&b, &a, echo.pid()).into();
        assert_eq!(old.echo("old".into()).await, Ok("old".into()));
        let old_pid = old.pid();
        drop((a, b));
        tokio::time::sleep(Duration::from_millis(200)).await;

        let (c, d) = two_nodes().await;
        let bag = Bag::start(Bag::default()).await.unwrap();
        let new: EchoRef = remote::<Echo>(&d, &c, echo.pid()).into();
        assert_eq!(new.echo("new".into()).await, Ok("new".into()));

        let call = old
            .echo("stale".into())
            .timeout(Duration::from_secs(5))
            .await;
        assert!(
            matches!(
                call,
                Err(CallError::Exited(ExitReason::NoConnection))
                    | Err(CallError::NoProc)
                    | Err(CallError::Refused(_))
            ),
            "{call:?}"
        );
        assert!(old.push(1).is_err() || echo.log().await.unwrap().is_empty());
        // The old handle inside a message to the new nodes: refused.
        let to_bag: BagRef = remote::<Bag>(&d, &c, bag.pid()).into();
        let sent = to_bag
            .keep(Bundle {
                list: vec![old.clone()],
                ..Bundle::default()
            })
            .await;
        // Refused, or taken as a pid of the old node, which is gone: never the
        // echo server, alive here, that it once named.
        match sent {
            Err(CallError::Refused(_)) => {}
            Ok(()) => {
                let echoed = to_bag.echo_all("stale".into()).await.unwrap();
                assert_eq!(echoed.len(), 1);
                assert!(
                    matches!(
                        echoed[0],
                        Err(CallError::Exited(ExitReason::NoConnection)) | Err(CallError::NoProc)
                    ),
                    "{echoed:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        // A monitor of the old pid: a down at once.
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        watcher.monitor(old_pid).await.unwrap();
        until(
            "the down of a pid of a dropped node",
            || async { watcher.downs().await.unwrap().len() },
            1,
        )
        .await;
        assert!(
            echo.log().await.unwrap().is_empty(),
            "no stale cast arrived"
        );
        assert_eq!(new.echo("still".into()).await, Ok("still".into()));
    })
    .await;
}

// ---------------------------------------------------------------------------
// Global names raced
// ---------------------------------------------------------------------------

/// Eight tasks register eight servers under one name on one node at once:
/// exactly one wins, the others are `Taken` and ended, whereis agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_global_raced_on_one_node() {
    within(60, async {
        let (a, b) = two_nodes().await;
        for round in 0..20 {
            let name = format!("raced-{round}");
            let mut servers = Vec::new();
            for _ in 0..8 {
                servers.push(Echo::start().await.unwrap());
            }
            let tasks: Vec<_> = servers
                .iter()
                .map(|server| {
                    let (a, server, name) = (a.clone(), server.clone(), name.clone());
                    tokio::spawn(async move { a.register_global(&server, &name).await })
                })
                .collect();
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.unwrap());
            }
            let winners: Vec<Pid> = results.iter().filter_map(|r| r.clone().ok()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {results:?}");
            for result in &results {
                if let Err(e) = result {
                    assert!(matches!(e, NameError::Taken(_)), "{e:?}");
                }
            }
            let winner = winners[0];
            until("whereis on a", || a.whereis_global(&name), Some(winner)).await;
            until(
                "whereis on b",
                || async { b.whereis_global(&name).await.map(Node::__index) },
                Some(Node::__index(winner)),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let alive: Vec<Pid> = servers
                .iter()
                .filter(|s| s.is_alive())
                .map(|s| s.pid())
                .collect();
            assert_eq!(alive, vec![winner], "round {round}");
        }
    })
    .await;
}

/// Servers registered under one name from two in-process nodes at once: in the
/// end one holder, alive, that both nodes name; every other claimant ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_global_raced_across_two_nodes() {
    within(60, async {
        let (a, b) = two_nodes().await;
        for round in 0..5 {
            let name = format!("crossed-{round}");
            let mut servers = Vec::new();
            for _ in 0..8 {
                servers.push(Echo::start().await.unwrap());
            }
            let tasks: Vec<_> = servers
                .iter()
                .enumerate()
                .map(|(i, server)| {
                    let node = if i % 2 == 0 { a.clone() } else { b.clone() };
                    let (server, name) = (server.clone(), name.clone());
                    tokio::spawn(async move { node.register_global(&server, &name).await })
                })
                .collect();
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.unwrap());
            }
            assert!(
                results.iter().any(|r| r.is_ok()),
                "round {round}: {results:?}"
            );
            for result in &results {
                if let Err(e) = result {
                    assert!(matches!(e, NameError::Taken(_)), "{e:?}");
                }
            }
            // Losers told Ok are ended when the winner's claim comes.
            until(
                "one claimant alive",
                || async { servers.iter().filter(|s| s.is_alive()).count() },
                1,
            )
            .await;
            let holder = servers.iter().find(|s| s.is_alive()).unwrap().pid();
            until(
                "whereis on a",
                || async { a.whereis_global(&name).await.map(Node::__index) },
                Some(Node::__index(holder)),
            )
            .await;
            until(
                "whereis on b",
                || async { b.whereis_global(&name).await.map(Node::__index) },
                Some(Node::__index(holder)),
            )
            .await;
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// Call-backs and many calls
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct Caller;

#[gen_server(remote)]
impl Caller {
    /// Calls `echo`, which may be anywhere.
    #[call]
    async fn via(&self, echo: EchoRef, text: String) -> Result<String, CallError> {
        echo.echo(text).timeout(Duration::from_secs(5)).await
    }

    /// Calls `other`'s `via` with `echo`, with a timeout: a call back to this
    /// server (through the nodes) waits for a server that waits for it.
    #[call]
    async fn bounce(
        &self,
        other: CallerRef,
        echo: EchoRef,
        ms: u64,
    ) -> Result<Result<String, CallError>, CallError> {
        other
            .via(echo, "bounced".into())
            .timeout(Duration::from_millis(ms))
            .await
    }

    /// Calls `other`, which calls this one back: a cycle.
    #[call]
    async fn cycle(&self, other: CallerRef, me: CallerRef, echo: EchoRef, ms: u64) -> String {
        match other
            .bounce(me, echo, ms)
            .timeout(Duration::from_millis(ms * 2))
            .await
        {
            Ok(_) => "answered".into(),
            Err(e) => format!("{e:?}"),
        }
    }
}

/// A server on A called from B, whose handler calls a server "of B" back
/// through the nodes: it works, as in OTP; a true cycle times out and both
/// servers serve on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_calling_back_the_callers_node() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let on_a = Caller::start(Caller).await.unwrap();
        // From B: call on_a (of A), handing it the echo "of B": the handler on A
        // calls back to B.
        let there: CallerRef = remote::<Caller>(&b, &a, on_a.pid()).into();
        // Local to B: a server of B once it has crossed to A.
        let echo_of_b: EchoRef = echo.clone();
        for n in 0..10 {
            assert_eq!(
                there.via(echo_of_b.clone(), format!("{n}")).await,
                Ok(Ok(format!("{n}")))
            );
        }
        // A server on B calls on_a, which calls back the server on B (busy
        // waiting for it): OTP deadlocks until a timeout; so must this, and
        // no longer.
        let on_b = Caller::start(Caller).await.unwrap();
        let on_b_from_a: CallerRef = on_b.clone();
        let result = there
            .bounce(on_b_from_a.clone(), echo_of_b.clone(), 500)
            .timeout(Duration::from_secs(10))
            .await;
        assert_eq!(result, Ok(Ok(Ok("bounced".to_string()))));
        let cycle = on_b
            .cycle(there.clone(), on_b_from_a.clone(), echo_of_b.clone(), 300)
            .timeout(Duration::from_secs(10))
            .await
            .unwrap();
        assert!(cycle.contains("Timeout") || cycle == "answered", "{cycle}");
        assert_eq!(
            there.via(echo_of_b.clone(), "after".into()).await,
            Ok(Ok("after".into()))
        );
    })
    .await;
}

/// 1000 remote calls from 16 tasks with random timeouts: each ends Ok or
/// Timeout, none hangs; the server serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_with_random_timeouts() {
    within(120, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let there: EchoRef = remote::<Echo>(&b, &a, echo.pid()).into();
        let tasks: Vec<_> = (0..16u64)
            .map(|task| {
                let there = there.clone();
                tokio::spawn(async move {
                    let mut seed = task.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    let mut next = move || {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed
                    };
                    let calls: Vec<_> = (0..63)
                        .map(|_| {
                            let timeout = Duration::from_millis(next() % 40);
                            if next() % 4 == 0 {
                                let ms = next() % 20;
                                let f = there.sleep(ms).timeout(timeout).send();
                                tokio::spawn(async move { f.await.map(|()| String::new()) })
                            } else {
                                let f = there.echo("x".into()).timeout(timeout).send();
                                tokio::spawn(f)
                            }
                        })
                        .collect();
                    let mut ends = (0, 0);
                    for call in calls {
                        match within(30, call).await.unwrap() {
                            Ok(_) => ends.0 += 1,
                            Err(CallError::Timeout) => ends.1 += 1,
                            Err(e) => panic!("task {task}: {e:?}"),
                        }
                    }
                    ends
                })
            })
            .collect();
        let mut total = (0, 0);
        for task in tasks {
            let (ok, timeout) = task.await.unwrap();
            total = (total.0 + ok, total.1 + timeout);
        }
        assert_eq!(total.0 + total.1, 16 * 63);
        eprintln!("ok {}, timeouts {}", total.0, total.1);
        assert_eq!(
            there.echo("after".into()).await,
            Ok("after".into()),
            "the server serves on"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------
// Nodes never seen, and why a message did not travel
// ---------------------------------------------------------------------------

/// A handle to a server of a node that never existed: calls fail with
/// `NoConnection` in a few seconds (a node never seen gets 3 s), monitors get
/// their down; nothing waits for the call's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_to_a_node_never_seen_fails_fast() {
    within(60, async {
        let (a, _b) = two_nodes().await;
        let nobody = gensrv::remote::NodeId::parse("0123456789abcdef0123456789abcdef").unwrap();
        let pid = a.__pid(&nobody, 7);
        let echo: EchoRef = ServerRef::<Echo>::from_pid(pid).unwrap().into();
        let started = tokio::time::Instant::now();
        let call = echo.echo("x".into()).timeout(Duration::from_secs(30)).await;
        assert!(
            matches!(
                call,
                Err(CallError::Exited(ExitReason::NoConnection)) | Err(CallError::NoProc)
            ),
            "{call:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        watcher.monitor(pid).await.unwrap();
        until(
            "the down",
            || async { watcher.downs().await.unwrap() },
            vec![(pid, ExitReason::NoConnection)],
        )
        .await;
    })
    .await;
}

/// `CallError::Refused` says why, in words: a message that cannot travel
/// (a pid of a node gone from this process) or nests too deep names its cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_says_why() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let grove = Grove::start(Grove).await.unwrap();
        let there: GroveRef = remote::<Grove>(&b, &a, grove.pid()).into();
        let deep = there.depth(Tree::of_depth(300)).await;
        eprintln!("deep: {deep:?}");
        let Err(CallError::Refused(why)) = deep else {
            panic!("{deep:?}")
        };
        assert!(
            why.contains("nest") || why.contains("deep") || why.contains("256"),
            "{why}"
        );
        // A pid encoded outside a node's messages.
        let outside = gensrv::remote::to_body(&grove.pid());
        let Err(gensrv::remote::Refusal::BadMessage(why)) = outside else {
            panic!("{outside:?}")
        };
        assert!(why.contains("Pid"), "{why}");
        // The next error, of another cause, does not take this one's words.
        let garbage = gensrv::remote::from_body::<String>(&[5, 0xff]);
        let Err(gensrv::remote::Refusal::BadMessage(why)) = garbage else {
            panic!("{garbage:?}")
        };
        assert!(!why.contains("Pid"), "{why}");
    })
    .await;
}
