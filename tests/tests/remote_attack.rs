//! Attacks on distribution (feature `remote`): the guarantees of a local server
//! (DESIGN.md, semantics 1-12) checked across nodes, global names, garbage from
//! the network, and nodes dropped under load. Every wait is bounded; every node
//! listens on 127.0.0.1; a node process is killed by its guard.
#![cfg(feature = "remote")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gensrv::remote::{
    NameError, Node, NodeConfig, NodeId, Refusal, Remote, RemoteCallError, from_body, to_body,
};
use gensrv::{
    CallError, CastError, Context, ExitReason, Pid, ReplyTo, ServerRef, Start, gen_server,
};
use gensrv_tests::remote::{Echo, EchoRef, EchoWire, Tree, Watcher, free_port, through, two_nodes};
use gensrv_tests::{seen, until, within};
use serde::Serialize;

/// A typed handle to the local server `pid`, reached through the nodes (`from`
/// names it as a server of node `at`).
fn remote_echo(from: &Node, at: &Node, pid: Pid) -> EchoRef {
    EchoRef::from(ServerRef::<Echo>::from_pid(through(from, at, pid)).expect("a handle"))
}

const ECHO: u64 = <Echo as Remote>::FINGERPRINT;

/// Parks deferred calls, answers or drops them on request, stops itself, and
/// calls other servers from its handlers.
#[derive(Debug, Default)]
pub struct Parker {
    parked: Vec<ReplyTo<u64>>,
}

#[gen_server(remote)]
impl Parker {
    /// Parks the call until `release` or `forget`.
    #[call]
    fn park(&mut self, reply: ReplyTo<u64>) {
        self.parked.push(reply);
    }

    /// Answers every parked call with `n`.
    #[cast]
    fn release(&mut self, n: u64) {
        for reply in self.parked.drain(..) {
            let _ = reply.send(n);
        }
    }

    /// Drops every parked call unanswered.
    #[cast]
    fn forget(&mut self) {
        self.parked.clear();
    }

    /// Stops the server with `why`, with parked calls still waiting.
    #[cast]
    fn quit(&mut self, why: String, ctx: &mut Context<Self>) {
        ctx.stop(ExitReason::Error(why));
    }

    /// How many calls are parked.
    #[call]
    fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Calls `echo` (wherever it runs) from inside this handler.
    #[call]
    async fn relay(&self, echo: EchoRef, text: String) -> Result<String, CallError> {
        echo.echo(text).timeout(Duration::from_secs(10)).await
    }

    /// Calls `other` (a `Parker`, wherever it runs) from inside this handler,
    /// which calls `back` from inside its own. (A handle of the server's own
    /// type as an argument: it did not compile, E0275.)
    #[call]
    async fn bounce(&self, other: ParkerRef, back: EchoRef) -> Result<String, CallError> {
        match other
            .relay(back, "bounced".into())
            .timeout(Duration::from_secs(10))
            .await
        {
            Ok(inner) => inner,
            Err(e) => Err(e),
        }
    }

    /// Its own handle, in containers, back (the server's own handle type in a
    /// reply).
    #[call]
    fn selves(&self, ctx: &mut Context<Self>) -> (Vec<ParkerRef>, Option<ServerRef<Parker>>) {
        (
            vec![ctx.this()],
            Some(ServerRef::from_pid(ctx.pid()).unwrap()),
        )
    }
}

/// The outcome of the same scenario run against a local handle and a handle
/// through the nodes must be the same.
async fn parked_then<F, Fut>(remote: bool, then: F) -> (Result<u64, CallError>, ExitReason)
where
    F: FnOnce(ParkerRef) -> Fut,
    Fut: Future<Output = ()>,
{
    let (a, b) = two_nodes().await;
    let parker = Parker::start(Parker::default()).await.unwrap();
    let handle = if remote {
        ParkerRef::from(ServerRef::<Parker>::from_pid(through(&b, &a, parker.pid())).unwrap())
    } else {
        parker.clone()
    };
    let waiting = handle.park().timeout(Duration::from_secs(20)).send();
    until("parked", || async { parker.parked().await.unwrap() }, 1).await;
    then(parker.clone()).await;
    let outcome = within(15, waiting).await;
    let reason = within(15, parker.exited()).await;
    (outcome, reason)
}

// ---------------------------------------------------------------------------
// Links across nodes
// ---------------------------------------------------------------------------

/// OTP: a `Normal` exit of a linked process does not propagate. A process here
/// that links to a server there and then ends normally, before the node there has
/// heard back about it, must leave that server alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_links_to_a_remote_server_and_ends_normally_leaves_it_alone() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote_pid = through(&b, &a, echo.pid());
        for _ in 0..5 {
            let linker = Watcher::start(Watcher::default()).await.unwrap();
            linker.link(remote_pid).await.unwrap();
            linker.stop().await.unwrap();
        }
        // Whatever the links did is done by the time a call through the same
        // nodes has been answered, and some more.
        let remote = remote_echo(&b, &a, echo.pid());
        let _ = remote.echo("probe".into()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            echo.is_alive(),
            "the server ended: {:?}",
            within(5, echo.exited()).await
        );
    })
    .await;
}

/// OTP: the linked process gets the real reason of the one that ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_links_to_a_remote_server_and_crashes_at_once_gives_it_its_reason() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote_pid = through(&b, &a, echo.pid());
        let linker = Watcher::start(Watcher::default()).await.unwrap();
        linker.link(remote_pid).await.unwrap();
        let why = ExitReason::Error("linker down".into());
        gensrv::exit(&linker, why.clone());
        assert_eq!(within(10, echo.exited()).await, why);
    })
    .await;
}

/// A trapping server linked to processes on another node gets one `Exit` per
/// linked process that ends, with its real reason, `Normal` included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_server_gets_one_exit_with_the_real_reason_per_remote_linker() {
    within(60, async {
        let (a, b) = two_nodes().await;
        // The trapper runs "on a"; the linkers "on b" link to it through b.
        let trapper = Watcher::start(Watcher::default()).await.unwrap();
        trapper.trap(true).await.unwrap();
        let trapper_from_b = through(&b, &a, trapper.pid());
        let mut expected = Vec::new();
        for (n, reason) in [
            ExitReason::Normal,
            ExitReason::Error("one".into()),
            ExitReason::Shutdown,
            ExitReason::Panic("two".into()),
        ]
        .into_iter()
        .enumerate()
        {
            let linker = Watcher::start(Watcher::default()).await.unwrap();
            linker.link(trapper_from_b).await.unwrap();
            if n % 2 == 0 {
                // Let the link settle there first, one time in two.
                let probe = remote_echo(&b, &a, Echo::start().await.unwrap().pid());
                let _ = probe.echo("probe".into()).await;
            }
            within(10, linker.stop().reason(reason.clone()))
                .await
                .unwrap();
            expected.push((through(&a, &b, linker.pid()), reason));
        }
        until("exits", || trapper.exits_now(), expected.clone()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(trapper.exits_now().await, expected);
        assert!(trapper.is_alive());
    })
    .await;
}

/// Links are a set: linking three times and unlinking once leaves no link, so
/// the remote server's death sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_to_a_remote_server_are_a_set() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote_pid = through(&b, &a, echo.pid());
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        watcher.trap(true).await.unwrap();
        for _ in 0..3 {
            watcher.link(remote_pid).await.unwrap();
        }
        watcher.unlink(remote_pid).await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        let _ = remote.echo("probe".into()).await;
        assert!(echo.is_alive());
        gensrv::exit(&echo, ExitReason::Error("bye".into()));
        within(10, echo.exited()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(watcher.exits_now().await, vec![]);
        assert!(watcher.is_alive());

        // And linked once more, a crash there reaches it once.
        let echo = Echo::start().await.unwrap();
        let remote_pid = through(&b, &a, echo.pid());
        for _ in 0..3 {
            watcher.link(remote_pid).await.unwrap();
        }
        let _ = remote_echo(&b, &a, echo.pid()).echo("probe".into()).await;
        let crash = ExitReason::Error("crash".into());
        gensrv::exit(&echo, crash.clone());
        until("exits", || watcher.exits_now(), vec![(remote_pid, crash)]).await;
    })
    .await;
}

/// Exit signals from here to a server there: `Normal` is ignored by a server
/// that does not trap, `Killed` ends one that does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_exit_signals_normal_and_killed() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        gensrv::exit(&remote, ExitReason::Normal);
        assert_eq!(remote.echo("still".into()).await, Ok("still".into()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(echo.is_alive());

        let trapper = Watcher::start(Watcher::default()).await.unwrap();
        trapper.trap(true).await.unwrap();
        let remote_pid = through(&b, &a, trapper.pid());
        gensrv::exit(&remote_pid, ExitReason::Normal);
        gensrv::exit(&remote_pid, ExitReason::Error("trapped".into()));
        let here = gensrv::Pid::EXTERNAL;
        let _ = here;
        until("trapped", || async { trapper.exits_now().await.len() }, 2).await;
        gensrv::exit(&remote_pid, ExitReason::Killed);
        assert_eq!(within(10, trapper.exited()).await, ExitReason::Killed);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Monitors
// ---------------------------------------------------------------------------

/// Many monitors of one remote pid: one `Down` each, none for those removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_monitors_of_one_remote_pid_each_get_one_down() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote_pid = through(&b, &a, echo.pid());
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        let mut monitors = Vec::new();
        for _ in 0..40 {
            monitors.push(watcher.monitor(remote_pid).await.unwrap());
        }
        for monitor in monitors.drain(..20) {
            assert!(watcher.demonitor(monitor).await.unwrap());
        }
        // Monitors travel as signals, as Erlang's: one that reaches the node
        // there after its process has ended is `NoProc`. A call through the
        // same nodes comes after it: once answered, the monitor is in place.
        let probe = remote_echo(&b, &a, echo.pid());
        assert_eq!(probe.echo("sync".into()).await, Ok("sync".into()));
        let why = ExitReason::Error("many".into());
        gensrv::exit(&echo, why.clone());
        until(
            "downs",
            || watcher.downs_now(),
            vec![(remote_pid, why.clone()); 20],
        )
        .await;
        // Demonitor after the Down: false, as OTP's demonitor of a fired monitor.
        assert!(!watcher.demonitor(monitors[0]).await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(watcher.downs_now().await.len(), 20);
    })
    .await;
}

/// A client that looks a server up, calls it, and drops the handle, again and
/// again (what a request handler of a web server does), must not make the
/// server's node keep a monitor per lookup: the server's `monitored_by` must
/// not grow without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_made_and_dropped_do_not_pile_up_monitors_on_the_server() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        for n in 0..100 {
            let remote = remote_echo(&b, &a, echo.pid());
            assert_eq!(remote.echo(format!("{n}")).await, Ok(format!("{n}")));
            drop(remote);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let watchers = gensrv::process_info(echo.pid()).unwrap().monitored_by.len();
        assert!(
            watchers <= 2,
            "the server is monitored {watchers} times after 100 handles came and went"
        );
    })
    .await;
}

/// A node that watched a server here (through a handle) and then went: its
/// watches go with it, rather than stay on the server for as long as it lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watches_of_a_node_that_went_go_with_it() {
    within(60, async {
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let here = Node::start(NodeConfig::default().listen([endpoint.clone()]))
            .await
            .unwrap();
        let echo = Echo::start().await.unwrap();
        for _ in 0..3 {
            let visitor = Node::start(NodeConfig::default().connect(endpoint.clone()))
                .await
                .unwrap();
            assert!(visitor.wait_for(here.id(), Duration::from_secs(10)).await);
            assert!(here.wait_for(visitor.id(), Duration::from_secs(10)).await);
            let remote = remote_echo(&visitor, &here, echo.pid());
            assert_eq!(remote.echo("hi".into()).await, Ok("hi".into()));
            // A monitor there keeps the stand-in there beyond the node's end.
            let watcher = Watcher::start(Watcher::default()).await.unwrap();
            watcher.monitor(remote.pid()).await.unwrap();
            let id = visitor.id().clone();
            drop(remote);
            drop(visitor);
            while here.is_up(&id).await {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        until(
            "monitored_by",
            || async { gensrv::process_info(echo.pid()).unwrap().monitored_by.len() },
            0,
        )
        .await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// Calls: timeouts, deaths while waiting, deferred replies
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_and_max_timeouts_on_remote_calls() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        assert_eq!(
            remote.echo("max".into()).timeout(Duration::MAX).await,
            Ok("max".into())
        );
        assert_eq!(
            remote.sleep(200).timeout(Duration::ZERO).await,
            Err(CallError::Timeout)
        );
        // The reply to the timed-out call is dropped, never taken for the next.
        assert_eq!(remote.echo("next".into()).await, Ok("next".into()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(remote.echo("after".into()).await, Ok("after".into()));
    })
    .await;
}

/// `call_raw` takes the caller's timeout as is: `Duration::MAX` (OTP's
/// `infinity`) must work, and leave the node serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_call_with_an_infinite_timeout_works() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let pid = through(&b, &a, echo.pid());
        let body = to_body(&EchoWire::Echo { text: "raw".into() }).unwrap();
        let zero = within(10, b.call_raw(pid, ECHO, body.clone(), Duration::ZERO)).await;
        // A reply already there, or `Timeout`: nothing else.
        assert!(
            matches!(zero, Ok(_) | Err(RemoteCallError::Timeout)),
            "{zero:?}"
        );
        let max = within(10, b.call_raw(pid, ECHO, body.clone(), Duration::MAX)).await;
        assert_eq!(
            max.map(|reply| from_body::<String>(&reply)),
            Ok(Ok("raw".into()))
        );
        let after = within(10, b.call_raw(pid, ECHO, body, Duration::from_secs(5))).await;
        assert_eq!(
            after.map(|reply| from_body::<String>(&reply)),
            Ok(Ok("raw".into()))
        );
    })
    .await;
}

/// A raw call that outlasts its timeout fails with `RemoteCallError::Timeout`
/// (what the variant is for), not with a Zenoh error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_call_that_times_out_is_timeout() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let pid = through(&b, &a, echo.pid());
        let slow = to_body(&EchoWire::Sleep { ms: 2_000 }).unwrap();
        let started = tokio::time::Instant::now();
        let outcome = within(10, b.call_raw(pid, ECHO, slow, Duration::from_millis(200))).await;
        assert_eq!(outcome, Err(RemoteCallError::Timeout));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}

/// Late replies: many calls that time out, interleaved with calls that do not,
/// never mix up replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_replies_are_never_taken_for_another_calls() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        for n in 0..20 {
            assert_eq!(
                remote.sleep(30).timeout(Duration::from_millis(5)).await,
                Err(CallError::Timeout)
            );
            let text = format!("call {n}");
            assert_eq!(
                remote
                    .echo(text.clone())
                    .timeout(Duration::from_secs(10))
                    .await,
                Ok(text)
            );
        }
    })
    .await;
}

/// A call waiting on a server that is killed, stopped or crashes there fails
/// at once with its reason (semantics 2), never after the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_call_waiting_on_a_server_that_ends_fails_at_once() {
    within(60, async {
        let (a, b) = two_nodes().await;
        for (how, reason) in [
            ("kill", ExitReason::Killed),
            ("exit", ExitReason::Error("signalled".into())),
            ("shutdown", ExitReason::Shutdown),
        ] {
            let echo = Echo::start().await.unwrap();
            let remote = remote_echo(&b, &a, echo.pid());
            let busy = remote.sleep(60_000).timeout(Duration::from_secs(30)).send();
            let queued = remote
                .echo("queued".into())
                .timeout(Duration::from_secs(30))
                .send();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let started = tokio::time::Instant::now();
            match how {
                "kill" => remote.kill(),
                "exit" => gensrv::exit(&remote, reason.clone()),
                _ => {
                    // A stop waits for the running handler: here it is killed
                    // after its timeout, so stop locally with a plain signal.
                    gensrv::exit(&echo, reason.clone());
                }
            }
            assert_eq!(
                within(10, busy).await,
                Err(CallError::Exited(reason.clone())),
                "{how}"
            );
            assert_eq!(
                within(10, queued).await,
                Err(CallError::Exited(reason.clone())),
                "{how}"
            );
            assert!(started.elapsed() < Duration::from_secs(3), "{how}");
            assert_eq!(within(10, remote.exited()).await, reason, "{how}");
        }
    })
    .await;
}

/// A stop while a call runs and others wait: the running one is answered, the
/// queued ones fail, as for a local caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_remote_callers_waiting_fails_them_as_local_ones() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let mut outcomes = Vec::new();
        for remote in [false, true] {
            let echo = Echo::start().await.unwrap();
            let handle = if remote {
                remote_echo(&b, &a, echo.pid())
            } else {
                echo.clone()
            };
            let busy = handle.sleep(300).timeout(Duration::from_secs(20)).send();
            let queued: Vec<_> = (0..3)
                .map(|n| {
                    handle
                        .echo(format!("{n}"))
                        .timeout(Duration::from_secs(20))
                        .send()
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let stopped = within(20, handle.stop().reason(ExitReason::Shutdown)).await;
            let busy = within(20, busy).await;
            let mut queued_outcomes = Vec::new();
            for call in queued {
                queued_outcomes.push(within(20, call).await);
            }
            outcomes.push((stopped, busy, queued_outcomes));
        }
        assert_eq!(outcomes[1], outcomes[0], "remote (right) vs local (left)");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_reply_answered_later_reaches_the_remote_caller() {
    within(60, async {
        let (outcome, _) = parked_then(true, |parker| async move {
            parker.release(7).unwrap();
            parker.stop().await.unwrap();
        })
        .await;
        assert_eq!(outcome, Ok(7));
    })
    .await;
}

/// OTP: signals from one process to another arrive in the order sent, so a
/// reply sent before the server ends reaches its caller. A deferred reply sent
/// just before the server stops must not be lost to the server's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_reply_sent_just_before_the_server_stops_reaches_the_remote_caller() {
    within(60, async {
        let (a, b) = two_nodes().await;
        for round in 0..30 {
            let parker = Parker::start(Parker::default()).await.unwrap();
            let remote = ParkerRef::from(
                ServerRef::<Parker>::from_pid(through(&b, &a, parker.pid())).unwrap(),
            );
            let waiting = remote.park().timeout(Duration::from_secs(20)).send();
            until("parked", || async { parker.parked().await.unwrap() }, 1).await;
            parker.release(round).unwrap();
            parker.stop().await.unwrap();
            assert_eq!(within(10, waiting).await, Ok(round), "round {round}");
        }
    })
    .await;
}

/// A deferred call whose `ReplyTo` is dropped unsent: `NoReply`, at once, as
/// locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_reply_dropped_is_no_reply_across_nodes_as_locally() {
    within(60, async {
        let local = parked_then(false, |parker| async move {
            parker.forget().unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            parker.stop().await.unwrap();
        })
        .await;
        let remote = parked_then(true, |parker| async move {
            parker.forget().unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            parker.stop().await.unwrap();
        })
        .await;
        assert_eq!(local.0, Err(CallError::NoReply));
        assert_eq!(remote, local);
    })
    .await;
}

/// A server that stops itself with deferred callers waiting: those callers get
/// what a local caller gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_itself_fails_its_remote_deferred_callers_as_local_ones() {
    within(60, async {
        let local = parked_then(false, |parker| async move {
            parker.quit("enough".into()).unwrap();
        })
        .await;
        let remote = parked_then(true, |parker| async move {
            parker.quit("enough".into()).unwrap();
        })
        .await;
        assert_eq!(local.1, ExitReason::Error("enough".into()));
        assert_eq!(remote, local);
    })
    .await;
}

/// A handler on one node that calls a server on another, which calls back a
/// server on the first: no deadlock, the reply comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_inside_handlers_cross_nodes_and_come_back() {
    within(60, async {
        let (a, b) = two_nodes().await;
        // "On a": first and echo; "on b": second. Each reached through the
        // nodes as a remote server.
        let first = Parker::start(Parker::default()).await.unwrap();
        let second = Parker::start(Parker::default()).await.unwrap();
        let echo = Echo::start().await.unwrap();
        let first_from_b =
            ParkerRef::from(ServerRef::<Parker>::from_pid(through(&b, &a, first.pid())).unwrap());
        let echo_from_b = remote_echo(&b, &a, echo.pid());
        // b -> first (a) -> second (b) -> echo (a).
        let _ = &first_from_b;
        let reply = first_from_b
            .bounce(second.clone(), echo_from_b.clone())
            .timeout(Duration::from_secs(20))
            .await;
        assert_eq!(reply, Ok(Ok("bounced".into())));
        // Its own handles, back from a's server to b: handles to it there.
        let (selves, one) = first_from_b.selves().await.unwrap();
        assert_eq!(selves[0].pid(), first_from_b.pid());
        assert_eq!(one.unwrap().pid(), first_from_b.pid());
    })
    .await;
}

// ---------------------------------------------------------------------------
// Order and load
// ---------------------------------------------------------------------------

/// Several tasks, each mixing casts and calls to one remote server: each task's
/// messages are handled in the order it sent them (semantics 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_and_calls_from_many_tasks_keep_each_tasks_order() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        let mut tasks = Vec::new();
        for task in 0..6u64 {
            let remote = remote.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..150u64 {
                    remote.push(task * 1_000_000 + n).unwrap();
                    if n % 10 == 0 {
                        let text = format!("{task}/{n}");
                        assert_eq!(
                            remote
                                .echo(text.clone())
                                .timeout(Duration::from_secs(20))
                                .await,
                            Ok(text)
                        );
                        let log = remote.log().timeout(Duration::from_secs(20)).await.unwrap();
                        let mine: Vec<u64> = log
                            .into_iter()
                            .filter(|x| x / 1_000_000 == task)
                            .map(|x| x % 1_000_000)
                            .collect();
                        assert_eq!(mine, (0..=n).collect::<Vec<_>>(), "task {task}");
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // Through the same nodes: after every cast above.
        assert_eq!(remote.log().await.unwrap().len(), 6 * 150);
    })
    .await;
}

/// Big messages: a call and a cast of several megabytes work (or fail), never
/// hang, and the node serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_messages_cross_or_fail_without_hanging() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        for size in [64 * 1024, 1 << 20, 8 << 20] {
            let text = "x".repeat(size);
            let reply = remote
                .echo(text.clone())
                .timeout(Duration::from_secs(20))
                .await;
            assert!(
                reply.as_ref() == Ok(&text),
                "{size}: {:?}",
                reply.map(|r| r.len())
            );
        }
        let pid = remote.pid();
        b.cast_raw(pid, ECHO, to_body(&vec![0u8; 8 << 20]).unwrap());
        remote.push(7).unwrap();
        assert_eq!(
            remote.log().timeout(Duration::from_secs(20)).await,
            Ok(vec![7])
        );
    })
    .await;
}

/// Handles to thousands of pids that do not exist there: each learns `NoProc`
/// soon, and nothing piles up or hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_handles_to_nobody_end_with_no_proc() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let handles: Vec<EchoRef> = (0..2000u64)
            .map(|n| {
                EchoRef::from(ServerRef::<Echo>::from_pid(b.__pid(a.id(), (1 << 40) + n)).unwrap())
            })
            .collect();
        for handle in &handles {
            assert_eq!(within(20, handle.exited()).await, ExitReason::NoProc);
        }
        assert_eq!(handles[0].echo("x".into()).await, Err(CallError::NoProc));
        drop(handles);
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        assert_eq!(remote.echo("alive".into()).await, Ok("alive".into()));
    })
    .await;
}

/// A suspended server queues what comes from other nodes and loses nothing
/// (semantics 12); remote callers with a short timeout time out, and their late
/// replies are dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_server_keeps_remote_calls_and_casts() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        echo.suspend().await.unwrap();
        for n in 0..5 {
            remote.push(n).unwrap();
        }
        let short = remote
            .echo("short".into())
            .timeout(Duration::from_millis(100));
        assert_eq!(short.await, Err(CallError::Timeout));
        let waiting = remote.log().timeout(Duration::from_secs(20)).send();
        tokio::time::sleep(Duration::from_millis(200)).await;
        echo.resume().await.unwrap();
        assert_eq!(within(20, waiting).await, Ok((0..5).collect::<Vec<u64>>()));
        assert_eq!(remote.echo("after".into()).await, Ok("after".into()));
    })
    .await;
}

/// A bounded mailbox: remote calls wait for room, as local ones do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_calls_to_a_bounded_mailbox_wait_for_room() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Start::<Echo>::new(()).mailbox(1).await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        let busy = remote.sleep(200).timeout(Duration::from_secs(20)).send();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let calls: Vec<_> = (0..10)
            .map(|n| {
                remote
                    .echo(format!("{n}"))
                    .timeout(Duration::from_secs(20))
                    .send()
            })
            .collect();
        for (n, call) in calls.into_iter().enumerate() {
            assert_eq!(within(20, call).await, Ok(format!("{n}")));
        }
        assert_eq!(within(20, busy).await, Ok(()));
    })
    .await;
}

/// DESIGN.md: a cast to a full bounded mailbox "fails at once with
/// `CastError::Full` (never blocks, never drops silently)". Across nodes the
/// sender cannot be told in time: the cast waits there for room, as a call
/// does, and is handled in order; never dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_cast_to_a_full_mailbox_is_not_lost_silently() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Start::<Echo>::new(()).mailbox(1).await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        let busy = remote.sleep(300).timeout(Duration::from_secs(20)).send();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent: Vec<Result<(), CastError>> = (0..5).map(|n| remote.push(n)).collect();
        assert_eq!(within(20, busy).await, Ok(()));
        let log = remote.log().await.unwrap();
        let accepted: Vec<u64> = sent
            .iter()
            .enumerate()
            .filter(|(_, sent)| sent.is_ok())
            .map(|(n, _)| n as u64)
            .collect();
        assert_eq!(log, accepted, "casts sent: {sent:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// sys, info, handles of another type
// ---------------------------------------------------------------------------

/// sys requests and info messages on a handle to a server there: an error or
/// an answer, never a hang or a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_requests_on_a_remote_handle_answer_or_fail_without_hanging() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        let statistics = within(10, remote.statistics()).await;
        let status = within(10, remote.get_status()).await;
        let suspended = within(10, remote.suspend()).await;
        let resumed = within(10, remote.resume()).await;
        eprintln!(
            "statistics {statistics:?}\nstatus {status:?}\nsuspend {suspended:?} resume {resumed:?}"
        );
        let replaced = within(10, remote.replace_state(|_| {})).await;
        eprintln!("replace_state {replaced:?}");
        // The server is alive: whatever the answer, not `NoProc`.
        assert!(
            !matches!(statistics, Err(CallError::NoProc)),
            "{statistics:?}"
        );
        assert!(!matches!(status, Err(CallError::NoProc)), "{status:?}");
        assert!(
            !matches!(suspended, Err(CallError::NoProc)),
            "{suspended:?}"
        );
        assert!(!matches!(resumed, Err(CallError::NoProc)), "{resumed:?}");
        // Whatever they did, the server still answers.
        assert_eq!(
            remote.echo("after sys".into()).await,
            Ok("after sys".into())
        );
        assert!(echo.is_alive());
    })
    .await;
}

/// A handle of another server type (a name is not typed): `Refused`, and the
/// server there goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_of_another_type_is_refused_and_the_server_goes_on() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        a.register_global(&echo, "attack-typed").await.unwrap();
        let wrong = seen("the name is seen", || {
            Parker::whereis_global(&b, "attack-typed")
        })
        .await;
        let refused = wrong.parked().await;
        assert!(
            matches!(&refused, Err(CallError::Refused(_))),
            "{refused:?}"
        );
        // A cast of the wrong type is dropped there, and says nothing here.
        let _ = wrong.release(1);
        let right = remote_echo(&b, &a, echo.pid());
        assert_eq!(right.echo("fine".into()).await, Ok("fine".into()));
        // A global name of a server that is not remote: a pid, but no handle
        // through which its messages would travel.
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        a.register_global(&watcher, "attack-local-only")
            .await
            .unwrap();
        let pid = loop {
            if let Some(pid) = b.whereis_global("attack-local-only").await {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(ServerRef::<Watcher>::from_pid(pid).is_none());
        let raw = b.call_raw(pid, 0, vec![], Duration::from_secs(5)).await;
        assert!(
            matches!(raw, Err(RemoteCallError::Refused(Refusal::NotRemote(_)))),
            "{raw:?}"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------
// Global names
// ---------------------------------------------------------------------------

async fn whereis_until(node: &Node, name: &str, expected: Option<Pid>) {
    until(name, || node.whereis_global(name), expected).await;
}

/// Erlang's `global:register_name` of a name that is held returns `no` and
/// leaves the holder alone. Here a second claim of a held, visible name on the
/// same node ends the established holder if the newcomer's pid is lower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_a_held_name_never_ends_its_holder() {
    within(60, async {
        let node = Node::start(NodeConfig::default()).await.unwrap();
        let older = Echo::start().await.unwrap();
        let holder = Echo::start().await.unwrap();
        assert_eq!(
            node.register_global(&holder, "attack-held").await,
            Ok(holder.pid())
        );
        whereis_until(&node, "attack-held", Some(holder.pid())).await;
        let second = node.register_global(&older, "attack-held").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            holder.is_alive(),
            "the holder was ended: {:?} (the second claim got {second:?})",
            within(5, holder.exited()).await
        );
        assert_eq!(second, Err(NameError::Taken(holder.pid())));
        assert_eq!(node.whereis_global("attack-held").await, Some(holder.pid()));
    })
    .await;
}

/// A supervisor's pattern: the holder of a global name dies, its replacement
/// starts and registers the name at once. The dead holder's claim must not
/// beat the live one (nor end it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_registers_the_name_of_a_holder_that_just_died() {
    within(60, async {
        let node = Node::start(NodeConfig::default()).await.unwrap();
        let mut holder = Echo::start().await.unwrap();
        node.register_global(&holder, "attack-restarted")
            .await
            .unwrap();
        for round in 0..10 {
            holder.kill();
            within(10, holder.exited()).await;
            let replacement = Echo::start().await.unwrap();
            let registered = node.register_global(&replacement, "attack-restarted").await;
            assert_eq!(registered, Ok(replacement.pid()), "round {round}");
            assert!(replacement.is_alive(), "round {round}");
            assert_eq!(
                node.whereis_global("attack-restarted").await,
                Some(replacement.pid()),
                "round {round}"
            );
            holder = replacement;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_names_twice_dead_and_odd() {
    within(60, async {
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        // The same server twice under one name: fine, one holder.
        assert_eq!(
            a.register_global(&echo, "attack-twice").await,
            Ok(echo.pid())
        );
        assert_eq!(
            a.register_global(&echo, "attack-twice").await,
            Ok(echo.pid())
        );
        let seen = through(&b, &a, echo.pid());
        whereis_until(&b, "attack-twice", Some(seen)).await;
        assert!(echo.is_alive());

        // A dead server: refused, and the name never resolves to it.
        let dead = Echo::start().await.unwrap();
        dead.stop().await.unwrap();
        assert_eq!(
            a.register_global(&dead, "attack-dead").await,
            Err(NameError::NoProc)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(b.whereis_global("attack-dead").await, None);
        assert_eq!(a.whereis_global("attack-dead").await, None);

        // Odd names: taken and found, or refused; never a panic or a name
        // that matches others.
        for name in [
            "a b",
            "é",
            "..",
            ".",
            "@verbatim",
            "x=y",
            "a\nb",
            "🦀",
            "-",
            "a:b",
            "a,b",
            "a;b",
            "%",
            "a\\b",
            "~",
            "\0",
        ] {
            let server = Echo::start().await.unwrap();
            match a.register_global(&server, name).await {
                Ok(pid) => {
                    assert_eq!(pid, server.pid());
                    whereis_until(&b, name, Some(through(&b, &a, server.pid()))).await;
                    server.stop().await.unwrap();
                    whereis_until(&b, name, None).await;
                }
                Err(NameError::Invalid(_)) => assert_eq!(b.whereis_global(name).await, None),
                Err(other) => panic!("{name:?}: {other:?}"),
            }
        }
        for bad in ["", "a/b", "*", "**", "a$b", "a?b", "#"] {
            let server = Echo::start().await.unwrap();
            assert!(
                matches!(
                    a.register_global(&server, bad).await,
                    Err(NameError::Invalid(_))
                ),
                "{bad:?}"
            );
            assert_eq!(b.whereis_global(bad).await, None, "{bad:?}");
        }

        // whereis of a name whose server just died: None soon, a handle that
        // fails cleanly meanwhile.
        let short = Echo::start().await.unwrap();
        a.register_global(&short, "attack-short").await.unwrap();
        whereis_until(&b, "attack-short", Some(through(&b, &a, short.pid()))).await;
        short.kill();
        if let Some(stale) = Echo::whereis_global(&b, "attack-short").await {
            let call = stale.echo("stale".into()).await;
            assert!(
                matches!(call, Err(CallError::NoProc | CallError::Exited(_))),
                "{call:?}"
            );
        }
        whereis_until(&b, "attack-short", None).await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// Garbage from the network
// ---------------------------------------------------------------------------

/// `Put` as it travels (a mirror of the crate's private enum), to make valid
/// frames to truncate and corrupt.
#[derive(Serialize)]
enum PutMirror {
    Cast {
        to: u64,
        fingerprint: u64,
        body: Vec<u8>,
    },
    Monitor {
        from: String,
        to: u64,
        key: u64,
    },
    Down {
        from: String,
        key: u64,
        reason: ExitReason,
    },
    Link {
        from: (String, u64),
        to: u64,
    },
    Unlink {
        from: (String, u64),
        to: u64,
    },
    Exit {
        from: (String, u64),
        to: u64,
        reason: ExitReason,
    },
    Stop {
        to: u64,
        reason: ExitReason,
    },
}

fn frame<T: Serialize>(value: &T) -> Vec<u8> {
    let mut frame = b"gs\x03".to_vec();
    frame.extend(to_body(value).unwrap());
    frame
}

/// A xorshift: deterministic "random" bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Counts panics outside the tests' own code (handlers of the tests' servers
/// panic on purpose).
fn count_library_panics() -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let ours = info
            .location()
            .is_some_and(|location| location.file().starts_with("tests/"));
        if !ours {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_bad_frames_are_refused_and_the_node_serves_on() {
    within(120, async {
        let panics = count_library_panics();
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        let at = a.id().clone();
        let index = Node::__index(echo.pid());
        let nobody = 1u64 << 50;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

        // Valid frames (to no process, or harmless), to truncate and corrupt.
        let good_body = to_body(&EchoWire::Echo { text: "ok".into() }).unwrap();
        let b_id = b.id().to_string();
        let puts = [
            frame(&PutMirror::Cast {
                to: nobody,
                fingerprint: ECHO,
                body: good_body.clone(),
            }),
            frame(&PutMirror::Monitor {
                from: b_id.clone(),
                to: nobody,
                key: 1 << 60,
            }),
            frame(&PutMirror::Down {
                from: b_id.clone(),
                key: 1 << 60,
                reason: ExitReason::Panic("x".repeat(100)),
            }),
            frame(&PutMirror::Link {
                from: (b_id.clone(), nobody),
                to: nobody,
            }),
            frame(&PutMirror::Unlink {
                from: (b_id.clone(), nobody),
                to: nobody,
            }),
            frame(&PutMirror::Exit {
                from: (b_id.clone(), nobody),
                to: nobody,
                reason: ExitReason::Killed,
            }),
            frame(&PutMirror::Stop {
                to: nobody,
                reason: ExitReason::Normal,
            }),
        ];
        let call = frame(&(index, ECHO, good_body.clone()));
        // The frame made by hand is a good one: its truncations are the test.
        let whole = within(
            10,
            b.__call_frame(&at, call.clone(), Duration::from_secs(5)),
        )
        .await;
        assert_eq!(
            whole.map(|reply| from_body::<String>(&reply)),
            Ok(Ok("ok".into()))
        );
        let mut frames: Vec<Vec<u8>> = Vec::new();
        for valid in puts.iter().chain([&call]) {
            for cut in 0..valid.len() {
                frames.push(valid[..cut].to_vec());
            }
        }
        // Huge length prefixes: a body (or a string) that says it is 2^63 long.
        for prefix in [
            vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
            vec![0xff; 10],
            vec![0xff; 11],
            vec![0xff, 0xff, 0xff, 0xff, 0x0f],
        ] {
            let mut huge = b"gs\x03".to_vec();
            huge.push(0); // Put::Cast / Request.to
            huge.extend(&[1, 1]);
            huge.extend(&prefix);
            huge.extend(&[1, 2, 3]);
            frames.push(huge.clone());
            let mut huge_tag = b"gs\x03".to_vec();
            huge_tag.extend(&prefix);
            frames.push(huge_tag);
            // A request with a good header whose body has a huge string length.
            let mut body = vec![0u8];
            body.extend(&prefix);
            frames.push(frame(&(index, ECHO, body)));
        }
        // Random bytes, with and without a good header.
        for _ in 0..1500 {
            let mut junk = rng.bytes(64);
            if rng.next().is_multiple_of(2) {
                let mut framed = b"gs\x03".to_vec();
                framed.append(&mut junk);
                junk = framed;
            }
            frames.push(junk);
        }
        // Good frames with one byte flipped (only those to no process: a flip
        // may make another valid message, which is not garbage).
        for _ in 0..500 {
            let valid = &puts[(rng.next() as usize) % puts.len()];
            let mut flipped = valid.clone();
            let at_byte = 3 + (rng.next() as usize) % (flipped.len() - 3);
            flipped[at_byte] ^= 1 << (rng.next() % 8);
            frames.push(flipped);
        }

        let mut refusals = 0usize;
        for (n, bad) in frames.iter().enumerate() {
            a.__cast_frame(&at, bad.clone());
            if n % 3 == 0 {
                let reply =
                    within(10, b.__call_frame(&at, bad.clone(), Duration::from_secs(5))).await;
                if matches!(reply, Err(RemoteCallError::Refused(_))) {
                    refusals += 1;
                }
            }
            if n % 500 == 0 {
                assert_eq!(remote.echo(format!("{n}")).await, Ok(format!("{n}")));
            }
        }
        eprintln!("{} frames, {refusals} call refusals", frames.len());
        assert_eq!(remote.echo("end".into()).await, Ok("end".into()));
        assert!(echo.is_alive());
        assert_eq!(panics.load(Ordering::SeqCst), 0, "panics in the library");
    })
    .await;
}

// ---------------------------------------------------------------------------
// Deeply nested garbage: in a node process of its own (an overflow aborts)
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct Forest;

#[gen_server(remote)]
impl Forest {
    /// The depth of `tree`.
    #[call]
    fn depth(&self, tree: Tree) -> u64 {
        tree.depth()
    }
}

const CHILD: &str = "GENSRV_ATTACK_NODE_PROCESS";

/// Not a test on its own: the node process of
/// `deeply_nested_garbage_is_refused_never_a_crash` (it does nothing unless
/// started by it).
#[test]
fn node_process_with_a_recursive_message_type() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let node = Node::start(NodeConfig::default().listen([endpoint.clone()]))
            .await
            .unwrap();
        let forest = Forest::start(Forest).await.unwrap();
        println!(
            "READY {endpoint} {} {}",
            node.id(),
            Node::__index(forest.pid())
        );
        let _ = tokio::task::spawn_blocking(|| {
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        })
        .await;
    });
}

/// Kills and reaps its child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_garbage_is_refused_never_a_crash() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "node_process_with_a_recursive_message_type",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Guard(child);
    let (lines, line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for text in BufReader::new(stdout).lines() {
            let Ok(text) = text else { return };
            // After libtest's "test .. ... " on the same line.
            if let Some(at) = text.find("READY ") {
                let _ = lines.send(text[at..].to_string());
                return;
            }
        }
    });
    let ready = line
        .recv_timeout(Duration::from_secs(30))
        .expect("the node process is ready within 30 s");
    let words: Vec<&str> = ready.split_whitespace().collect();
    let (endpoint, id, index) = (
        words[1].to_string(),
        NodeId::parse(words[2]).unwrap(),
        words[3].parse::<u64>().unwrap(),
    );
    within(60, async {
        let node = Node::start(NodeConfig::default().connect(endpoint))
            .await
            .unwrap();
        assert!(node.wait_for(&id, Duration::from_secs(10)).await);
        let forest = node.__pid(&id, index);
        let fingerprint = <Forest as Remote>::FINGERPRINT;
        let tree = |depth: usize| {
            // `__ForestCallWire::Depth { tree }`: variant 0, then the tree.
            let mut body = vec![0u8];
            body.extend(std::iter::repeat_n(1u8, depth));
            body.push(0);
            body
        };
        let shallow = node
            .call_raw(forest, fingerprint, tree(10), Duration::from_secs(10))
            .await;
        assert_eq!(shallow.map(|reply| from_body::<u64>(&reply)), Ok(Ok(10)));
        // A few hundred kilobytes of nesting: a depth no message should need.
        let deep = node
            .call_raw(forest, fingerprint, tree(400_000), Duration::from_secs(10))
            .await;
        eprintln!("deep: {deep:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = child.0.try_wait().unwrap();
        assert!(
            status.is_none(),
            "the node process died of a deeply nested message: {status:?}"
        );
        let after = node
            .call_raw(forest, fingerprint, tree(3), Duration::from_secs(10))
            .await;
        assert_eq!(after.map(|reply| from_body::<u64>(&reply)), Ok(Ok(3)));
    })
    .await;
}

// ---------------------------------------------------------------------------
// Nodes dropped under load
// ---------------------------------------------------------------------------

/// Both nodes dropped on a current-thread runtime while handles, proxies,
/// monitors and calls in flight are alive: no panic, and the calls end.
#[tokio::test(flavor = "current_thread")]
async fn nodes_dropped_on_a_current_thread_runtime_with_everything_alive() {
    within(60, async {
        let panics = count_library_panics();
        let (a, b) = two_nodes().await;
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        let watcher = Watcher::start(Watcher::default()).await.unwrap();
        watcher.monitor(remote.pid()).await.unwrap();
        let pending = remote.sleep(60_000).timeout(Duration::from_secs(3)).send();
        let raw = b.call_raw(
            remote.pid(),
            ECHO,
            to_body(&EchoWire::Sleep { ms: 60_000 }).unwrap(),
            Duration::from_secs(3),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(a);
        drop(b);
        // The handle still holds what it needs; dropping it is the node's end.
        let exited = remote.exited();
        drop(remote);
        let outcome = within(20, pending).await;
        eprintln!("pending call after the nodes went: {outcome:?}");
        assert!(outcome.is_err());
        let raw = within(20, raw).await;
        eprintln!("raw call after the nodes went: {raw:?}");
        // The handle's node is gone: so is its stand-in of the server.
        assert_eq!(within(10, exited).await, ExitReason::NoConnection);
        until(
            "downs",
            || async { watcher.downs().await.unwrap().len() },
            1,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(panics.load(Ordering::SeqCst), 0, "panics in the library");
    })
    .await;
}

/// A node whose last handle is dropped closes: other nodes see it go, also
/// while calls to its servers or from it are in flight (OTP: a node that goes
/// down is `nodedown` to everyone, whatever it was doing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_dropped_with_calls_in_flight_closes() {
    within(60, async {
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let a = Node::start(NodeConfig::default().listen([endpoint.clone()]))
            .await
            .unwrap();
        let b = Node::start(NodeConfig::default().connect(endpoint.clone()))
            .await
            .unwrap();
        let observer = Node::start(NodeConfig::default().connect(endpoint))
            .await
            .unwrap();
        for node in [&b, &observer] {
            assert!(node.wait_for(a.id(), Duration::from_secs(10)).await);
        }
        assert!(observer.wait_for(b.id(), Duration::from_secs(10)).await);
        let (a_id, b_id) = (a.id().clone(), b.id().clone());
        let echo = Echo::start().await.unwrap();
        let remote = remote_echo(&b, &a, echo.pid());
        // A call from b served on a, in flight while both are dropped.
        let pending = remote.sleep(30_000).timeout(Duration::from_secs(40)).send();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(remote);
        drop(a);
        drop(b);
        let started = tokio::time::Instant::now();
        for gone in [&a_id, &b_id] {
            while observer.is_up(gone).await {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "node {gone} still up 10 s after its last handle was dropped"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        drop(pending);
    })
    .await;
}

/// Bad configurations are errors, never panics, on any runtime.
#[tokio::test(flavor = "current_thread")]
async fn bad_node_configs_are_errors() {
    within(60, async {
        let panics = count_library_panics();
        for config in [
            NodeConfig::default().listen(["nonsense"]),
            NodeConfig::default().listen(["tcp/999.0.0.1:1"]),
            NodeConfig::default().cluster("a/b"),
            NodeConfig::default().cluster(""),
            NodeConfig::default().cluster("*"),
        ] {
            let started = Node::start(config).await;
            assert!(started.is_err(), "{started:?}");
        }
        // A port taken by another node.
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let first = Node::start(NodeConfig::default().listen([endpoint.clone()])).await;
        if first.is_ok() {
            let second = Node::start(NodeConfig::default().listen([endpoint])).await;
            assert!(second.is_err(), "{second:?}");
        }
        // An endpoint nobody listens on: a node alone, not an error.
        let lonely =
            Node::start(NodeConfig::default().connect(format!("tcp/127.0.0.1:{}", free_port())))
                .await;
        eprintln!("connect to nobody: {lonely:?}");
        drop((first, lonely));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(panics.load(Ordering::SeqCst), 0, "panics in the library");
    })
    .await;
}

/// A node started and dropped at once, many times, on a current-thread runtime.
#[tokio::test(flavor = "current_thread")]
async fn nodes_started_and_dropped_in_a_loop() {
    within(60, async {
        let panics = count_library_panics();
        for _ in 0..5 {
            let node = Node::start(NodeConfig::default()).await.unwrap();
            let echo = Echo::start().await.unwrap();
            let _ = node.register_global(&echo, "attack-loop").await;
            drop(node);
            echo.stop().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(panics.load(Ordering::SeqCst), 0, "panics in the library");
    })
    .await;
}
