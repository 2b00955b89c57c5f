//! Monitors, links, exit signals, stop and `exited()` across nodes (feature
//! `remote`). Two nodes in this process reach each other's servers through Zenoh
//! as servers of another node; a node process killed with SIGKILL shows what
//! `NoConnection` reaches. Every wait is bounded.
#![cfg(feature = "remote")]

use std::time::Duration;

use gensrv::remote::{Node, NodeConfig};
use gensrv::{CallError, CastError, ExitReason, Pid, ServerRef, Start, StopError};
use gensrv_tests::remote::{
    Echo, EchoCall, EchoCast, EchoRef, NodeProcess, Relay, RelayRef, Watcher, through, two_nodes,
};
use gensrv_tests::{seen, until, within};

const NODE: &str = env!("CARGO_BIN_EXE_remote-node");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_of_a_server_of_another_node_gets_its_real_reason() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Start::<Echo>::new(()).await.unwrap();
        let remote_pid = through(&b, &a, echo.pid());
        assert!(!remote_pid.is_local());
        let remote = ServerRef::<Echo>::from_pid(remote_pid).unwrap();
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        watcher.monitor(remote_pid).await.unwrap();
        // A second monitor, removed: no `Down` for it.
        let removed = watcher.monitor(remote_pid).await.unwrap();
        assert!(watcher.demonitor(removed).await.unwrap());

        let crashed = remote.call(|reply_to| EchoCall::Crash { reply_to }).await;
        let reason = ExitReason::Panic("asked to crash".into());
        assert_eq!(crashed, Err(CallError::Exited(reason.clone())));
        assert_eq!(remote.exited().await, reason);
        assert!(!remote.is_alive());
        until(
            "downs",
            || watcher.downs_now(),
            vec![(remote_pid, reason.clone())],
        )
        .await;

        // A monitor of a server that has ended: `NoProc` at once, as OTP's.
        watcher.monitor(remote_pid).await.unwrap();
        until(
            "downs",
            || watcher.downs_now(),
            vec![(remote_pid, reason), (remote_pid, ExitReason::NoProc)],
        )
        .await;
        // Requests to it fail as to a local server that has ended.
        let after = remote.call(|reply_to| EchoCall::Log { reply_to }).await;
        assert_eq!(after, Err(CallError::NoProc));
        assert_eq!(remote.cast(EchoCast::Push { n: 1 }), Err(CastError::NoProc));
        assert_eq!(remote.stop().await, Err(StopError::NoProc));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_across_nodes_carry_exit_signals_both_ways() {
    within(60, async {
        let (a, b) = two_nodes().await;

        // Here to there: a trapping watcher linked to a server there gets its
        // exit signal, from the server's pid as this node names it.
        let echo = Start::<Echo>::new(()).await.unwrap();
        let remote_pid = through(&b, &a, echo.pid());
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        watcher.trap(true).await.unwrap();
        watcher.link(remote_pid).await.unwrap();
        // The link is made there too before the signal is sent: a call through
        // the same nodes comes after it.
        let remote = ServerRef::<Echo>::from_pid(remote_pid).unwrap();
        remote
            .call(|reply_to| EchoCall::Log { reply_to })
            .await
            .unwrap();
        let bye = ExitReason::Error("bye".into());
        gensrv::exit(&remote_pid, bye.clone());
        assert_eq!(echo.exited().await, bye);
        until("exits", || watcher.exits_now(), vec![(remote_pid, bye)]).await;

        // There to here: a process there linked to one here ends with it (it
        // does not trap), through its node's stand-in of the one here.
        let victim = Watcher::start(Watcher::default()).await.unwrap();
        let linked = Watcher::start(Watcher::default()).await.unwrap();
        let linked_there = through(&b, &a, linked.pid());
        victim.link(linked_there).await.unwrap();
        let probe = ServerRef::<Echo>::from_pid(through(
            &b,
            &a,
            Start::<Echo>::new(()).await.unwrap().pid(),
        ))
        .unwrap();
        probe
            .call(|reply_to| EchoCall::Log { reply_to })
            .await
            .unwrap();
        let why = ExitReason::Error("down it goes".into());
        gensrv::exit(&victim, why.clone());
        assert_eq!(victim.exited().await, why);
        assert_eq!(linked.exited().await, why);

        // Unlinked: no signal.
        let calm = Watcher::start(Watcher::default()).await.unwrap();
        let other = Watcher::start(Watcher::default()).await.unwrap();
        let other_there = through(&b, &a, other.pid());
        calm.link(other_there).await.unwrap();
        calm.unlink(other_there).await.unwrap();
        probe
            .call(|reply_to| EchoCall::Log { reply_to })
            .await
            .unwrap();
        gensrv::exit(&calm, ExitReason::Error("alone".into()));
        calm.exited().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(other.is_alive(), "an unlinked process is left alone");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kill_and_exit_signals_reach_a_server_of_another_node() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let handle = |pid: Pid| ServerRef::<Echo>::from_pid(through(&b, &a, pid)).unwrap();

        let stopped = Start::<Echo>::new(()).await.unwrap();
        let remote = handle(stopped.pid());
        // Stop comes after the casts sent before it, as a local stop does.
        for n in 0..10 {
            remote.cast(EchoCast::Push { n }).unwrap();
        }
        let log = remote.call(|reply_to| EchoCall::Log { reply_to }).send();
        assert_eq!(remote.stop().reason(ExitReason::Shutdown).await, Ok(()));
        assert_eq!(log.await, Ok((0..10).collect::<Vec<u64>>()));
        assert_eq!(stopped.exited().await, ExitReason::Shutdown);

        let killed = Start::<Echo>::new(()).await.unwrap();
        let remote = handle(killed.pid());
        remote.kill();
        assert_eq!(remote.exited().await, ExitReason::Killed);
        assert_eq!(killed.exited().await, ExitReason::Killed);

        // A stop with a timeout kills a server that does not stop in time.
        let slow = Start::<Echo>::new(()).await.unwrap();
        let remote = handle(slow.pid());
        let busy = remote
            .call(|reply_to| EchoCall::Sleep {
                ms: 60_000,
                reply_to,
            })
            .timeout(Duration::from_secs(30))
            .send();
        let stop = remote.stop().timeout(Duration::from_millis(200)).await;
        assert_eq!(stop, Err(StopError::Timeout));
        assert_eq!(slow.exited().await, ExitReason::Killed);
        assert_eq!(busy.await, Err(CallError::Exited(ExitReason::Killed)));
    })
    .await;
}

/// What a killed node leaves to the monitors, links, handles and callers of its
/// servers here: `NoConnection`, at once.
#[tokio::test(flavor = "current_thread")]
async fn a_killed_node_is_no_connection_to_monitors_links_handles_and_callers() {
    within(60, async {
        let mut other = NodeProcess::start(NODE);
        let node = Node::start(NodeConfig::default().connect(other.endpoint.clone()))
            .await
            .unwrap();
        assert!(
            node.wait_for(&other.echo.node, Duration::from_secs(10))
                .await
        );
        let pid = other.echo.pid(&node);
        let remote = ServerRef::<Echo>::from_pid(pid).unwrap();
        assert_eq!(pid.node().as_ref(), Some(&other.echo.node));
        assert!(pid.to_string().starts_with('<') && !pid.to_string().starts_with("<0."));

        let monitor = Watcher::start(Watcher::default()).await.unwrap();
        monitor.monitor(pid).await.unwrap();
        let linked = Watcher::start(Watcher::default()).await.unwrap();
        linked.trap(true).await.unwrap();
        linked.link(pid).await.unwrap();
        let unaware = Watcher::start(Watcher::default()).await.unwrap();
        unaware.link(pid).await.unwrap();
        assert_eq!(
            remote
                .call(|reply_to| EchoCall::Echo {
                    text: "up".into(),
                    reply_to
                })
                .await,
            Ok("up".to_string())
        );
        let exited = tokio::spawn(remote.exited());
        let pending = remote
            .call(|reply_to| EchoCall::Sleep {
                ms: 60_000,
                reply_to,
            })
            .timeout(Duration::from_secs(30))
            .send();

        other.kill();
        let gone = ExitReason::NoConnection;
        assert_eq!(pending.await, Err(CallError::Exited(gone.clone())));
        assert_eq!(exited.await.unwrap(), gone);
        until("downs", || monitor.downs_now(), vec![(pid, gone.clone())]).await;
        until("exits", || linked.exits_now(), vec![(pid, gone.clone())]).await;
        // Not trapping: `NoConnection` ends it, as any abnormal reason.
        assert_eq!(unaware.exited().await, gone);
        assert!(!remote.is_alive());
        assert_eq!(
            remote.call(|reply_to| EchoCall::Log { reply_to }).await,
            Err(CallError::Exited(gone.clone()))
        );
        assert_eq!(remote.cast(EchoCast::Push { n: 1 }), Err(CastError::NoProc));
        // A monitor set now: `NoConnection` at once, as OTP's.
        monitor.monitor(pid).await.unwrap();
        until(
            "downs",
            || monitor.downs_now(),
            vec![(pid, gone.clone()), (pid, gone)],
        )
        .await;
    })
    .await;
}

/// A pid of a node that never shows up (from a message of a node since gone,
/// say): its monitors and links get `NoConnection` within a few seconds, its
/// calls fail, and nothing waits forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pid_of_a_node_never_seen_is_no_connection() {
    within(60, async {
        let node = Node::start(NodeConfig::default()).await.unwrap();
        let nowhere = gensrv::remote::NodeId::parse("abcdef0123456789").unwrap();
        let pid = node.__pid(&nowhere, 70);
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        watcher.monitor(pid).await.unwrap();
        let handle = ServerRef::<Echo>::from_pid(pid).unwrap();
        let call = handle
            .call(|reply_to| EchoCall::Log { reply_to })
            .timeout(Duration::from_secs(20))
            .await;
        assert!(
            matches!(call, Err(CallError::Exited(ExitReason::NoConnection))),
            "{call:?}"
        );
        until(
            "downs",
            || watcher.downs_now(),
            vec![(pid, ExitReason::NoConnection)],
        )
        .await;
        assert_eq!(handle.exited().await, ExitReason::NoConnection);
    })
    .await;
}

/// A `FooRef` and a `Pid` sent inside a message work where they arrive: a
/// handle that comes back to its own node is local again, one to a third
/// node's server reaches it from there, one to a server that has ended fails
/// with `NoProc`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_and_pids_travel_inside_messages() {
    within(60, async {
        let (a, b) = two_nodes().await;
        // The relay and an echo run "on a"; `b` reaches both through the nodes.
        let relay = Relay::start(Relay::default()).await.unwrap();
        let relay_from_b =
            RelayRef::from(ServerRef::<Relay>::from_pid(through(&b, &a, relay.pid())).unwrap());
        let echo_on_a = Echo::start().await.unwrap();
        let echo_from_b =
            EchoRef::from(ServerRef::<Echo>::from_pid(through(&b, &a, echo_on_a.pid())).unwrap());

        // Back home: local again, to the same server.
        relay_from_b
            .keep(echo_from_b.clone(), echo_from_b.pid())
            .await
            .unwrap();
        assert_eq!(relay.echo_is_local().await.unwrap(), Some(true));
        let (kept, pid) = relay.kept().await.unwrap();
        assert_eq!(kept.unwrap().pid(), echo_on_a.pid());
        assert_eq!(pid, Some(echo_on_a.pid()));
        assert_eq!(
            relay_from_b.relay("home".into()).await.unwrap(),
            Ok("home".into())
        );

        // To the other node's server ("on b", local to b): a handle there.
        let echo_on_b = Echo::start().await.unwrap();
        relay_from_b
            .keep(echo_on_b.clone(), echo_on_b.pid())
            .await
            .unwrap();
        assert_eq!(relay.echo_is_local().await.unwrap(), Some(false));
        let (kept, pid) = relay.kept().await.unwrap();
        let kept = kept.unwrap();
        assert!(!kept.pid().is_local());
        assert_eq!(kept.pid().node().as_ref(), Some(b.id()));
        assert_eq!(pid, Some(kept.pid()));
        assert_eq!(
            relay_from_b.relay("away".into()).await.unwrap(),
            Ok("away".into())
        );
        // And back to b in a reply: b's own server, local to it again.
        let (back, back_pid) = relay_from_b.kept().await.unwrap();
        assert_eq!(back.unwrap().pid(), echo_on_b.pid());
        assert_eq!(back_pid, Some(echo_on_b.pid()));

        // A handle to a server that has ended by the time it comes home.
        let short = Echo::start().await.unwrap();
        let short_from_b =
            EchoRef::from(ServerRef::<Echo>::from_pid(through(&b, &a, short.pid())).unwrap());
        short.stop().await.unwrap();
        relay_from_b
            .keep(short_from_b.clone(), short_from_b.pid())
            .await
            .unwrap();
        assert_eq!(
            relay_from_b.relay("anyone?".into()).await.unwrap(),
            Err(CallError::NoProc)
        );

        // A handle encoded outside any node's message is an error, not a
        // wrong pid.
        assert!(gensrv::remote::to_body(&echo_on_a.pid()).is_err());
    })
    .await;
}

/// A call to another node waits as long as its caller says, not the default
/// 5 s of the node there: the caller's timeout is the call's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_call_waits_as_long_as_its_caller_says() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = ServerRef::<Echo>::from_pid(through(&b, &a, echo.pid())).unwrap();
        let long = remote
            .call(|reply_to| EchoCall::Sleep {
                ms: 5_500,
                reply_to,
            })
            .timeout(Duration::from_secs(20))
            .await;
        assert_eq!(long, Ok(()));
    })
    .await;
}

/// A node in client mode reaches the servers of the peer it connects to (which
/// routes for it, as a router would), and is seen by it; a client needs an
/// endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_node_calls_through_the_peer_it_connects_to() {
    within(60, async {
        let config = NodeConfig::default().mode(gensrv::remote::Mode::Client);
        assert!(matches!(
            Node::start(config.clone()).await,
            Err(gensrv::remote::NodeError::Config(_))
        ));
        let port = gensrv_tests::remote::free_port();
        let endpoint = format!("tcp/127.0.0.1:{port}");
        let peer = Node::start(NodeConfig::default().listen([endpoint.clone()]))
            .await
            .unwrap();
        let client = Node::start(config.connect(endpoint)).await.unwrap();
        assert!(client.wait_for(peer.id(), Duration::from_secs(10)).await);
        assert!(peer.wait_for(client.id(), Duration::from_secs(10)).await);

        let echo = Echo::start().await.unwrap();
        peer.register_global(&echo, "client-mode-echo")
            .await
            .unwrap();
        let remote = seen("the name is seen from the client", || {
            Echo::whereis_global(&client, "client-mode-echo")
        })
        .await;
        assert_eq!(remote.pid().node().as_ref(), Some(peer.id()));
        assert_eq!(
            remote.echo("via the peer".into()).await,
            Ok("via the peer".into())
        );
        remote.push(7).unwrap();
        assert_eq!(remote.log().await, Ok(vec![7]));
    })
    .await;
}

/// Handles sent between OS processes: a node process's relay gets a handle to
/// a server here, calls it back through the nodes, and gives it back, local
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_sent_to_another_process_calls_back_and_comes_home() {
    within(60, async {
        let other = NodeProcess::start(NODE);
        let node = Node::start(NodeConfig::default().connect(other.endpoint.clone()))
            .await
            .unwrap();
        assert!(
            node.wait_for(&other.echo.node, Duration::from_secs(10))
                .await
        );
        let name = format!("relay-{}", other.echo.node);
        let relay = seen("the relay's name is seen", || {
            Relay::whereis_global(&node, &name)
        })
        .await;
        assert!(!relay.pid().is_local());

        let here = Echo::start().await.unwrap();
        relay.keep(here.clone(), here.pid()).await.unwrap();
        assert_eq!(relay.echo_is_local().await, Ok(Some(false)));
        assert_eq!(
            relay.relay("round trip".into()).await,
            Ok(Ok("round trip".into()))
        );
        let (back, pid) = relay.kept().await.unwrap();
        let back = back.unwrap();
        assert!(back.pid().is_local());
        assert_eq!(back.pid(), here.pid());
        assert_eq!(pid, Some(here.pid()));
        assert_eq!(back, here);
    })
    .await;
}

/// A node that falls silent with its connection open (frozen with SIGSTOP,
/// as a hung machine or a cut cable would leave it) is taken as gone once its
/// lease (`NodeConfig::lease`, 1 s here) runs out: `NoConnection` to the call
/// waiting on it and to monitors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_is_no_connection_once_its_lease_runs_out() {
    within(60, async {
        let other = NodeProcess::start_env(NODE, &[], &[("GENSRV_TEST_LEASE_MS", "1000")]);
        let node = Node::start(NodeConfig::default().connect(other.endpoint.clone()))
            .await
            .unwrap();
        assert!(
            node.wait_for(&other.echo.node, Duration::from_secs(10))
                .await
        );
        let pid = other.echo.pid(&node);
        let remote = ServerRef::<Echo>::from_pid(pid).unwrap();
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        watcher.monitor(pid).await.unwrap();
        assert_eq!(
            remote
                .call(|reply_to| EchoCall::Echo {
                    text: "up".into(),
                    reply_to
                })
                .await,
            Ok("up".to_string())
        );

        let stopped = std::process::Command::new("kill")
            .args(["-STOP", &other.os_pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(stopped.success());
        let frozen = tokio::time::Instant::now();
        let pending = remote
            .call(|reply_to| EchoCall::Echo {
                text: "frozen?".into(),
                reply_to,
            })
            .timeout(Duration::from_secs(30))
            .await;
        assert_eq!(pending, Err(CallError::Exited(ExitReason::NoConnection)));
        assert!(
            frozen.elapsed() < Duration::from_secs(8),
            "seen gone after {:?}",
            frozen.elapsed()
        );
        until(
            "downs",
            || watcher.downs_now(),
            vec![(pid, ExitReason::NoConnection)],
        )
        .await;
        // `other` is killed (SIGKILL ends a stopped process too) and reaped.
    })
    .await;
}
