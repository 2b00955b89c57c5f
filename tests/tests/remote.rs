//! Distribution: nodes in separate OS processes on 127.0.0.1, calling each other
//! (feature `remote`: `cargo test -p gensrv-tests --features remote --test remote`).
#![cfg(feature = "remote")]

use std::time::Duration;

use gensrv::remote::{Node, NodeConfig, NodeId, Refusal, RemoteCallError, from_body, to_body};
use gensrv::{CallError, ExitReason, ServerRef};
use gensrv_tests::remote::{Echo, EchoCall, EchoWire, NodeProcess, RemotePid, push_body};
use gensrv_tests::within;

const NODE: &str = env!("CARGO_BIN_EXE_remote-node");

/// A node here connected to a node process, once each sees the other.
async fn connected() -> (Node, NodeProcess) {
    let other = NodeProcess::start(NODE);
    let node = Node::start(NodeConfig::default().connect(other.endpoint.clone()))
        .await
        .expect("the node starts");
    assert!(
        node.wait_for(&other.echo.node, Duration::from_secs(10))
            .await,
        "the other node is seen within 10 s"
    );
    (node, other)
}

async fn echo(node: &Node, other: &NodeProcess, text: &str) -> Result<String, RemoteCallError> {
    let body = to_body(&EchoWire::Echo { text: text.into() }).unwrap();
    let reply = node
        .call_raw(
            other.echo.pid(node),
            <Echo as gensrv::remote::Remote>::FINGERPRINT,
            body,
            Duration::from_secs(5),
        )
        .await?;
    Ok(from_body(&reply)?)
}

// A current-thread runtime: the node's own runtime runs Zenoh, so callers on any
// runtime can use it.
#[tokio::test(flavor = "current_thread")]
async fn a_call_crosses_processes_and_comes_back() {
    within(60, async {
        let (node, other) = connected().await;
        assert_eq!(echo(&node, &other, "hello").await, Ok("hello".to_string()));
        for n in 0..20 {
            let text = format!("call {n}");
            assert_eq!(echo(&node, &other, &text).await, Ok(text));
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn bad_input_gets_an_error_reply_and_the_node_serves_on() {
    within(60, async {
        let (node, other) = connected().await;
        let at = &other.echo.node;
        let send = |frame: Vec<u8>| node.__call_frame(at, frame, Duration::from_secs(5));

        // Garbage, an empty frame, another protocol version, a truncated request.
        for frame in [b"garbage".to_vec(), Vec::new(), b"gs\x09".to_vec()] {
            assert!(
                matches!(
                    send(frame.clone()).await,
                    Err(RemoteCallError::Refused(Refusal::Malformed(_)))
                ),
                "{frame:?}"
            );
        }
        let body = to_body(&EchoWire::Echo { text: "x".into() }).unwrap();
        let fingerprint = <Echo as gensrv::remote::Remote>::FINGERPRINT;
        let mut good = gensrv_frame(other.echo.index, fingerprint, &body);
        good.truncate(good.len() - 1);
        assert!(matches!(
            send(good).await,
            Err(RemoteCallError::Refused(Refusal::Malformed(_)))
        ));

        // A well-formed request to no server, of another version, with a bad body.
        let nobody = RemotePid {
            node: at.clone(),
            index: 1 << 40,
        };
        let call = |to: RemotePid, fp, body: Vec<u8>| {
            let node = node.clone();
            async move {
                node.call_raw(to.pid(&node), fp, body, Duration::from_secs(5))
                    .await
            }
        };
        assert_eq!(
            call(nobody, fingerprint, body.clone()).await,
            Err(RemoteCallError::Refused(Refusal::NoProc))
        );
        assert_eq!(
            call(other.echo.clone(), fingerprint ^ 1, body.clone()).await,
            Err(RemoteCallError::Refused(Refusal::Fingerprint {
                sender: fingerprint ^ 1,
                server: fingerprint
            }))
        );
        assert!(matches!(
            call(other.echo.clone(), fingerprint, vec![0xff, 0xff, 0xff]).await,
            Err(RemoteCallError::Refused(Refusal::BadMessage(_)))
        ));

        // Bad casts are dropped there (no one to answer), good ones still land.
        node.cast_raw(other.echo.pid(&node), fingerprint, push_body(1));
        node.__cast_frame(at, b"garbage".to_vec());
        node.__cast_frame(at, Vec::new());
        node.cast_raw(other.echo.pid(&node), fingerprint ^ 1, push_body(2));
        node.cast_raw(other.echo.pid(&node), fingerprint, vec![0xff, 0xff]);
        node.cast_raw(other.echo.pid(&node), fingerprint, push_body(3));
        let log = call(
            other.echo.clone(),
            fingerprint,
            to_body(&EchoWire::Log {}).unwrap(),
        )
        .await;
        assert_eq!(
            log.map(|log| from_body::<Vec<u64>>(&log)),
            Ok(Ok(vec![1, 3]))
        );

        // And the node still answers.
        assert_eq!(
            echo(&node, &other, "still here").await,
            Ok("still here".into())
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_that_crashes_on_a_remote_call_fails_the_call_and_is_gone() {
    within(60, async {
        let (node, other) = connected().await;
        let fingerprint = <Echo as gensrv::remote::Remote>::FINGERPRINT;
        let crash = to_body(&EchoWire::Crash {}).unwrap();
        let reply = node
            .call_raw(
                other.echo.pid(&node),
                fingerprint,
                crash,
                Duration::from_secs(5),
            )
            .await;
        let crashed = ExitReason::Panic("asked to crash".into());
        assert_eq!(
            reply,
            Err(RemoteCallError::Refused(Refusal::Failed(
                CallError::Exited(crashed)
            )))
        );
        assert_eq!(
            echo(&node, &other, "anyone?").await,
            Err(RemoteCallError::Refused(Refusal::NoProc))
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_to_a_node_that_is_gone_fails_at_once_with_no_connection() {
    within(60, async {
        let (node, mut other) = connected().await;
        assert_eq!(echo(&node, &other, "before").await, Ok("before".into()));
        other.kill();
        let started = tokio::time::Instant::now();
        // The node's token goes within milliseconds of the kill.
        while node.is_up(&other.echo.node).await {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the killed node still seen"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = tokio::time::Instant::now();
        assert_eq!(
            echo(&node, &other, "after").await,
            Err(RemoteCallError::NoConnection)
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );

        let never = NodeId::parse("abcdef").unwrap();
        assert!(!node.is_up(&never).await);
    })
    .await;
}

/// A request frame as a node makes it, by hand: header, then postcard of
/// `(to, fingerprint, body)`.
fn gensrv_frame(to: u64, fingerprint: u64, body: &[u8]) -> Vec<u8> {
    let mut frame = b"gs\x03".to_vec();
    frame.extend(to_postcard(&(to, fingerprint, body.to_vec())));
    frame
}

fn to_postcard<T: serde::Serialize>(value: &T) -> Vec<u8> {
    to_body(value).unwrap()
}

/// Polls `whereis_global` until it gives `expected`, for at most 10 s.
async fn until_whereis(node: &Node, name: &str, expected: Option<&RemotePid>) {
    let started = tokio::time::Instant::now();
    let expected = expected.map(|pid| pid.pid(node));
    loop {
        let found = node.whereis_global(name).await;
        if found == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} still resolves to {found:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_global_name_is_found_from_another_node_and_vanishes_with_it() {
    within(60, async {
        let mut other = NodeProcess::start_with(NODE, &["echo"]);
        let node = Node::start(NodeConfig::default().connect(other.endpoint.clone()))
            .await
            .unwrap();
        assert!(
            node.wait_for(&other.echo.node, Duration::from_secs(10))
                .await
        );
        assert_eq!(
            node.whereis_global("echo").await,
            Some(other.echo.pid(&node))
        );
        assert_eq!(node.whereis_global("nobody").await, None);
        assert_eq!(node.whereis_global("not/a/name").await, None);
        assert_eq!(echo(&node, &other, "by name").await, Ok("by name".into()));

        other.kill();
        until_whereis(&node, "echo", None).await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_global_name_vanishes_with_its_server() {
    within(60, async {
        let other = NodeProcess::start_with(NODE, &["short-lived"]);
        let node = Node::start(NodeConfig::default().connect(other.endpoint.clone()))
            .await
            .unwrap();
        assert!(
            node.wait_for(&other.echo.node, Duration::from_secs(10))
                .await
        );
        until_whereis(&node, "short-lived", Some(&other.echo)).await;
        let crash = to_body(&EchoWire::Crash {}).unwrap();
        let fingerprint = <Echo as gensrv::remote::Remote>::FINGERPRINT;
        let _ = node
            .call_raw(
                other.echo.pid(&node),
                fingerprint,
                crash,
                Duration::from_secs(5),
            )
            .await;
        until_whereis(&node, "short-lived", None).await;
        // The node itself is still up.
        assert!(node.is_up(&other.echo.node).await);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn two_claims_of_a_global_name_resolve_to_the_same_one_everywhere_and_the_loser_ends() {
    within(60, async {
        let a = NodeProcess::start_with(NODE, &["shared"]);
        let b = NodeProcess::start_with(NODE, &["shared"]);
        let config = || {
            NodeConfig::default()
                .connect(a.endpoint.clone())
                .connect(b.endpoint.clone())
        };
        let one = Node::start(config()).await.unwrap();
        let two = Node::start(config()).await.unwrap();
        for node in [&one, &two] {
            for other in [&a, &b] {
                assert!(
                    node.wait_for(&other.echo.node, Duration::from_secs(10))
                        .await
                );
            }
        }
        let winner = if a.echo.node < b.echo.node {
            &a.echo
        } else {
            &b.echo
        };
        until_whereis(&one, "shared", Some(winner)).await;
        until_whereis(&two, "shared", Some(winner)).await;
        let reply = one
            .call_raw(
                winner.pid(&one),
                <Echo as gensrv::remote::Remote>::FINGERPRINT,
                to_body(&EchoWire::Echo {
                    text: "winner".into(),
                })
                .unwrap(),
                Duration::from_secs(5),
            )
            .await
            .map(|body| from_body::<String>(&body));
        assert_eq!(reply, Ok(Ok("winner".to_string())));

        // The loser's node sees the winning claim (the two node processes met
        // through these nodes' gossip) and ends its holder, as Erlang's `global`.
        let loser = if a.echo.node < b.echo.node { &b } else { &a };
        let started = tokio::time::Instant::now();
        loop {
            match echo(&one, loser, "loser?").await {
                Err(RemoteCallError::Refused(Refusal::NoProc)) => break,
                other => assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the loser still answers: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            one.is_up(&loser.echo.node).await,
            "only the holder ended, not its node"
        );
        until_whereis(&two, "shared", Some(winner)).await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn casts_and_pipelined_calls_from_one_node_arrive_in_the_order_sent() {
    within(60, async {
        let (node, other) = connected().await;
        let fingerprint = <Echo as gensrv::remote::Remote>::FINGERPRINT;
        let log = to_body(&EchoWire::Log {}).unwrap();
        // Every call is sent before any reply is awaited.
        let mut pending = Vec::new();
        for n in 0..1000u64 {
            node.cast_raw(other.echo.pid(&node), fingerprint, push_body(n));
            if n % 100 == 99 {
                let call = node.call_raw(
                    other.echo.pid(&node),
                    fingerprint,
                    log.clone(),
                    Duration::from_secs(10),
                );
                pending.push((n, call));
            }
        }
        for (n, call) in pending {
            let seen: Vec<u64> = from_body(&call.await.expect("the log")).unwrap();
            assert_eq!(
                seen,
                (0..=n).collect::<Vec<_>>(),
                "the log when call {n} came"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_in_flight_fails_at_once_with_no_connection_when_its_node_is_killed() {
    within(60, async {
        let (node, mut other) = connected().await;
        let fingerprint = <Echo as gensrv::remote::Remote>::FINGERPRINT;
        let sleep = to_body(&EchoWire::Sleep { ms: 60_000 }).unwrap();
        let call = node.call_raw(
            other.echo.pid(&node),
            fingerprint,
            sleep,
            Duration::from_secs(30),
        );
        let call = tokio::spawn(call);
        tokio::time::sleep(Duration::from_millis(200)).await;
        other.kill();
        let killed = tokio::time::Instant::now();
        let outcome = call.await.unwrap();
        eprintln!("in flight: {outcome:?} after {:?}", killed.elapsed());
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "took {:?}",
            killed.elapsed()
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_node_told_of_one_node_reaches_the_others_and_keeps_them_when_it_goes() {
    within(60, async {
        let (middle, other) = connected().await;
        // A third node, told only of `middle`; `middle` listens on a port of its own.
        let mut third = None;
        for _ in 0..5 {
            let endpoint = format!("tcp/127.0.0.1:{}", gensrv_tests::remote::free_port());
            let config = NodeConfig::default()
                .listen([endpoint.clone()])
                .connect(other.endpoint.clone());
            if let Ok(node) = Node::start(config).await {
                third = Some((node, endpoint));
                break;
            }
        }
        let (hub, hub_endpoint) = third.expect("a node listening on a free port");
        let edge = Node::start(NodeConfig::default().connect(hub_endpoint))
            .await
            .unwrap();
        drop(middle);
        assert!(edge.wait_for(hub.id(), Duration::from_secs(10)).await);
        assert!(
            edge.wait_for(&other.echo.node, Duration::from_secs(10))
                .await,
            "the node process is seen through the hub"
        );
        assert_eq!(
            echo(&edge, &other, "via the hub").await,
            Ok("via the hub".into())
        );
        // Gossip gave `edge` a link of its own to the node process (a full mesh
        // forms), so it keeps it when the hub goes.
        drop(hub);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            echo(&edge, &other, "without the hub").await,
            Ok("without the hub".into())
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_typed_call_to_another_node_has_the_errors_of_a_local_one() {
    within(60, async {
        let (node, mut other) = connected().await;
        let to = ServerRef::<Echo>::from_pid(other.echo.pid(&node)).expect("a typed handle");
        assert!(!to.pid().is_local());
        assert_eq!(to.pid().node().as_ref(), Some(&other.echo.node));
        let echoed = to
            .call(|reply_to| EchoCall::Echo {
                text: "typed".into(),
                reply_to,
            })
            .await;
        assert_eq!(echoed, Ok("typed".to_string()));

        // The caller's timeout, on the same `Call` as a local call's.
        let slow = to
            .call(|reply_to| EchoCall::Sleep {
                ms: 2_000,
                reply_to,
            })
            .timeout(Duration::from_millis(50))
            .await;
        assert_eq!(slow, Err(CallError::Timeout));

        // A call in flight when the node dies.
        let pending = to
            .call(|reply_to| EchoCall::Sleep {
                ms: 60_000,
                reply_to,
            })
            .timeout(Duration::from_secs(30))
            .send();
        tokio::time::sleep(Duration::from_millis(200)).await;
        other.kill();
        let killed = tokio::time::Instant::now();
        assert_eq!(
            pending.await,
            Err(CallError::Exited(ExitReason::NoConnection))
        );
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "took {:?}",
            killed.elapsed()
        );

        // And one made right after: the node's departure is seen by then, or
        // comes while the call waits.
        let sent = tokio::time::Instant::now();
        let after = to
            .call(|reply_to| EchoCall::Echo {
                text: "gone".into(),
                reply_to,
            })
            .await;
        assert_eq!(after, Err(CallError::Exited(ExitReason::NoConnection)));
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "took {:?}",
            sent.elapsed()
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_typed_call_to_a_server_that_crashes_there_gets_its_reason() {
    within(60, async {
        let (node, other) = connected().await;
        let to = ServerRef::<Echo>::from_pid(other.echo.pid(&node)).expect("a typed handle");
        let crashed = to.call(|reply_to| EchoCall::Crash { reply_to }).await;
        let reason = ExitReason::Panic("asked to crash".into());
        assert_eq!(crashed, Err(CallError::Exited(reason)));
    })
    .await;
}
