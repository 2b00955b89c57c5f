//! Links (`Context::link` / `unlink` / `trap_exit`, `Start::link`): DESIGN.md's
//! semantic 5 and OTP's rules around it. Waits are bounded by `within`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gensrv::{CallError, Context, Exit, ExitReason, Init, Pid, StartError, gen_server};
use gensrv_tests::{info, within};

/// Where a node's terminate writes the reason it saw.
type Terminated = Arc<Mutex<Option<ExitReason>>>;

/// A linkable server: links, unlinks, traps exits, records the `Exit`s it gets and
/// the reason its terminate saw.
struct Node {
    exits: Vec<Exit>,
    terminated: Terminated,
}

#[gen_server]
impl Node {
    #[init]
    fn init(trap: bool, ctx: &mut Context<Self>) -> Self {
        ctx.trap_exit(trap);
        Node {
            exits: vec![],
            terminated: Terminated::default(),
        }
    }

    #[call]
    fn link_to(&mut self, other: Pid, ctx: &mut Context<Self>) {
        ctx.link(&other);
    }

    /// Links through the typed handle rather than the pid.
    #[call]
    fn link_to_node(&mut self, other: NodeRef, ctx: &mut Context<Self>) {
        ctx.link(&other);
    }

    #[call]
    fn unlink_from(&mut self, other: Pid, ctx: &mut Context<Self>) {
        ctx.unlink(&other);
    }

    #[call]
    fn trap(&mut self, trap: bool, ctx: &mut Context<Self>) {
        ctx.trap_exit(trap);
    }

    /// Kills `other`, waits (without handling messages) until its exit signal is
    /// surely in the mailbox, then unlinks if asked to.
    #[call]
    async fn outlive(&mut self, other: NodeRef, unlink: bool, ctx: &mut Context<Self>) {
        other.crash("linked and crashed".into()).unwrap();
        other.exited().await;
        // The signal is queued by now (`exited` resolves after it is sent); the
        // pause only makes sure of it, whatever that order.
        tokio::time::sleep(Duration::from_millis(30)).await;
        if unlink {
            ctx.unlink(&other);
        }
    }

    /// Gives the shared slot its terminate writes to.
    #[call]
    fn terminated(&self) -> Terminated {
        self.terminated.clone()
    }

    #[cast]
    fn crash(&mut self, msg: String) {
        panic!("{msg}");
    }

    /// Starts a `Child` linked to this node, with the child's init doing `how`.
    #[call]
    async fn start_child(
        &mut self,
        how: ChildInit,
        ctx: &mut Context<Self>,
    ) -> Result<ChildRef, StartError> {
        Child::start(how).link(ctx).await
    }

    #[info]
    fn exit(&mut self, exit: Exit) {
        self.exits.push(exit);
    }

    #[call]
    fn exits(&self) -> Vec<Exit> {
        self.exits.clone()
    }

    #[call]
    fn ping(&self) {}

    #[terminate]
    fn terminate(&mut self, reason: &ExitReason) {
        *self.terminated.lock().unwrap() = Some(reason.clone());
    }
}

/// What a `Child`'s init does.
#[derive(Clone, Copy, Debug)]
enum ChildInit {
    Ready,
    /// Traps exits, then is ready.
    Trapping,
    Panic,
    Fail,
    Ignore,
}

/// A server started linked by a `Node`.
struct Child {
    terminated: Terminated,
}

#[gen_server]
impl Child {
    #[init]
    fn init(how: ChildInit, ctx: &mut Context<Self>) -> Init<Self> {
        let ready = Init::Ready(Child {
            terminated: Terminated::default(),
        });
        match how {
            ChildInit::Ready => ready,
            ChildInit::Trapping => {
                ctx.trap_exit(true);
                ready
            }
            ChildInit::Panic => panic!("child init panicked"),
            ChildInit::Fail => Init::Stop(ExitReason::Error("child init failed".into())),
            ChildInit::Ignore => Init::Ignore,
        }
    }

    #[call]
    fn terminated(&self) -> Terminated {
        self.terminated.clone()
    }

    #[cast]
    fn crash(&mut self, msg: String) {
        panic!("{msg}");
    }

    #[info]
    fn exit(&mut self, exit: Exit) {
        // A trapping child records a non-parent exit in its terminate slot, so the
        // test can tell it got one.
        *self.terminated.lock().unwrap() = Some(ExitReason::Error(format!("exit {exit:?}")));
    }

    #[terminate]
    fn terminate(&mut self, reason: &ExitReason) {
        *self.terminated.lock().unwrap() = Some(reason.clone());
    }
}

async fn node(trap: bool) -> (NodeRef, Terminated) {
    let node = within(5, Node::start(trap)).await.unwrap();
    let terminated = within(5, node.terminated()).await.unwrap();
    (node, terminated)
}

fn terminated_with(slot: &Terminated) -> Option<ExitReason> {
    slot.lock().unwrap().clone()
}

fn panic_reason(msg: &str) -> ExitReason {
    ExitReason::Panic(msg.into())
}

/// Lets any exit signal in flight arrive, then has `node` handle everything
/// queued before the call: whatever it was going to do with them, it has done.
async fn settle(node: &NodeRef) -> Result<(), gensrv::CallError> {
    tokio::time::sleep(Duration::from_millis(30)).await;
    within(5, node.ping()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abnormal_exit_ends_a_linked_server_with_the_same_reason_and_runs_terminate() {
    let (a, a_terminated) = node(false).await;
    let (b, _) = node(false).await;
    within(5, a.link_to(b.pid())).await.unwrap();
    assert_eq!(info(a.pid()).links, vec![b.pid()]);
    assert_eq!(info(b.pid()).links, vec![a.pid()]);

    b.crash("b crashed".into()).unwrap();
    assert_eq!(within(5, a.exited()).await, panic_reason("b crashed"));
    assert_eq!(
        terminated_with(&a_terminated),
        Some(panic_reason("b crashed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_works_both_ways() {
    let (a, _) = node(false).await;
    let (b, b_terminated) = node(false).await;
    // `a` made the link; `a`'s end reaches `b`.
    within(5, a.link_to_node(b.clone())).await.unwrap();
    a.crash("the linker crashed".into()).unwrap();
    assert_eq!(
        within(5, b.exited()).await,
        panic_reason("the linker crashed")
    );
    assert_eq!(
        terminated_with(&b_terminated),
        Some(panic_reason("the linker crashed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_traps_exits_gets_an_exit_message_instead_of_ending() {
    // Starts without trapping, and switches it on.
    let (a, a_terminated) = node(false).await;
    within(5, a.trap(true)).await.unwrap();
    let (b, _) = node(false).await;
    within(5, a.link_to(b.pid())).await.unwrap();

    b.crash("b crashed".into()).unwrap();
    within(5, b.exited()).await;
    settle(&a).await.unwrap();
    assert_eq!(
        within(5, a.exits()).await.unwrap(),
        vec![Exit {
            pid: b.pid(),
            reason: panic_reason("b crashed")
        }]
    );
    assert!(a.is_alive());
    assert_eq!(terminated_with(&a_terminated), None);
    assert!(info(a.pid()).links.is_empty());

    // Switched off again, the next abnormal exit ends it.
    within(5, a.trap(false)).await.unwrap();
    let (c, _) = node(false).await;
    within(5, a.link_to(c.pid())).await.unwrap();
    within(5, c.stop().reason(ExitReason::Error("c failed".into())))
        .await
        .unwrap();
    assert_eq!(
        within(5, a.exited()).await,
        ExitReason::Error("c failed".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_exit_does_not_propagate_but_reaches_a_trapping_server() {
    let (plain, plain_terminated) = node(false).await;
    let (trapping, _) = node(true).await;
    let (b, _) = node(false).await;
    within(5, plain.link_to(b.pid())).await.unwrap();
    within(5, trapping.link_to(b.pid())).await.unwrap();

    within(5, b.stop()).await.unwrap();
    assert_eq!(within(5, b.exited()).await, ExitReason::Normal);
    settle(&plain).await.unwrap();
    settle(&trapping).await.unwrap();
    assert!(plain.is_alive());
    assert_eq!(terminated_with(&plain_terminated), None);
    // The link is gone with the process.
    assert!(info(plain.pid()).links.is_empty());
    assert_eq!(
        within(5, trapping.exits()).await.unwrap(),
        vec![Exit {
            pid: b.pid(),
            reason: ExitReason::Normal
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_exit_propagates() {
    let (a, a_terminated) = node(false).await;
    let (b, _) = node(false).await;
    within(5, a.link_to(b.pid())).await.unwrap();
    within(5, b.stop().reason(ExitReason::Shutdown))
        .await
        .unwrap();
    assert_eq!(within(5, a.exited()).await, ExitReason::Shutdown);
    assert_eq!(terminated_with(&a_terminated), Some(ExitReason::Shutdown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_propagates_as_killed() {
    let (plain, plain_terminated) = node(false).await;
    let (trapping, _) = node(true).await;
    let (b, b_terminated) = node(false).await;
    within(5, plain.link_to(b.pid())).await.unwrap();
    within(5, trapping.link_to(b.pid())).await.unwrap();

    b.kill();
    assert_eq!(within(5, b.exited()).await, ExitReason::Killed);
    assert_eq!(terminated_with(&b_terminated), None, "kill skips terminate");
    // The linked server is not killed itself: it ends by the signal, so its
    // terminate runs.
    assert_eq!(within(5, plain.exited()).await, ExitReason::Killed);
    assert_eq!(terminated_with(&plain_terminated), Some(ExitReason::Killed));
    settle(&trapping).await.unwrap();
    assert_eq!(
        within(5, trapping.exits()).await.unwrap(),
        vec![Exit {
            pid: b.pid(),
            reason: ExitReason::Killed
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_to_an_ended_process_sends_noproc() {
    let (dead, _) = node(false).await;
    within(5, dead.stop()).await.unwrap();

    // By pid, not trapping: ends with NoProc.
    let (plain, plain_terminated) = node(false).await;
    within(5, plain.link_to(dead.pid())).await.unwrap();
    assert_eq!(within(5, plain.exited()).await, ExitReason::NoProc);
    assert_eq!(terminated_with(&plain_terminated), Some(ExitReason::NoProc));

    // By a handle that outlived its server, not trapping: the same.
    let (by_handle, _) = node(false).await;
    within(5, by_handle.link_to_node(dead.clone()))
        .await
        .unwrap();
    assert_eq!(within(5, by_handle.exited()).await, ExitReason::NoProc);

    // Trapping: an Exit message, and no link left behind.
    let (trapping, _) = node(true).await;
    within(5, trapping.link_to(dead.pid())).await.unwrap();
    within(5, trapping.link_to_node(dead.clone()))
        .await
        .unwrap();
    let noproc = Exit {
        pid: dead.pid(),
        reason: ExitReason::NoProc,
    };
    settle(&trapping).await.unwrap();
    assert_eq!(
        within(5, trapping.exits()).await.unwrap(),
        vec![noproc.clone(), noproc]
    );
    assert!(info(trapping.pid()).links.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_signal_is_queued_before_exited_resolves() {
    // Repeated, since a wrong order would lose a race only now and then.
    for round in 0..100 {
        let (a, _) = node(true).await;
        let (b, _) = node(false).await;
        within(5, a.link_to(b.pid())).await.unwrap();
        b.crash("b crashed".into()).unwrap();
        within(5, b.exited()).await;
        // No pause: this call is queued behind the Exit.
        assert_eq!(
            within(5, a.exits()).await.unwrap(),
            vec![Exit {
                pid: b.pid(),
                reason: panic_reason("b crashed")
            }],
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlink_removes_the_link_on_both_sides() {
    let (a, a_terminated) = node(false).await;
    let (b, _) = node(false).await;
    within(5, a.link_to(b.pid())).await.unwrap();
    within(5, a.unlink_from(b.pid())).await.unwrap();
    assert!(info(a.pid()).links.is_empty());
    assert!(info(b.pid()).links.is_empty());

    b.crash("unlinked".into()).unwrap();
    within(5, b.exited()).await;
    settle(&a).await.unwrap();
    assert_eq!(terminated_with(&a_terminated), None);

    // And the other way round: `a` ending does not reach an unlinked `c`.
    let (c, c_terminated) = node(false).await;
    within(5, c.link_to(a.pid())).await.unwrap();
    within(5, c.unlink_from(a.pid())).await.unwrap();
    a.crash("also unlinked".into()).unwrap();
    within(5, a.exited()).await;
    settle(&c).await.unwrap();
    assert_eq!(terminated_with(&c_terminated), None);
}

// Only a server that traps exits has exit signals queued in its mailbox; one that
// does not is ended by them at once (the next test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlink_before_a_queued_exit_signal_is_handled_cancels_it() {
    // Control: the same steps without the unlink deliver the Exit, so the signal
    // was in the mailbox when `outlive` returned.
    let (control, _) = node(true).await;
    let (b, _) = node(false).await;
    within(5, control.link_to(b.pid())).await.unwrap();
    within(5, control.outlive(b.clone(), false)).await.unwrap();
    settle(&control).await.unwrap();
    let exits = within(5, control.exits()).await.unwrap();
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert_eq!(exits[0].reason, panic_reason("linked and crashed"));

    let (t, _) = node(true).await;
    let (b, _) = node(false).await;
    within(5, t.link_to(b.pid())).await.unwrap();
    within(5, t.outlive(b.clone(), true)).await.unwrap();
    settle(&t).await.unwrap();
    assert_eq!(within(5, t.exits()).await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_crash_ends_a_server_in_the_middle_of_its_handler() {
    let (a, a_terminated) = node(false).await;
    let (b, _) = node(false).await;
    within(5, a.link_to(b.pid())).await.unwrap();
    // `outlive` crashes `b` and sleeps: the exit signal cuts it short there, before
    // it gets to unlink, and its caller learns why.
    let outlived = within(5, a.outlive(b.clone(), true)).await;
    let reason = panic_reason("linked and crashed");
    assert_eq!(outlived, Err(CallError::Exited(reason.clone())));
    assert_eq!(within(5, a.exited()).await, reason);
    assert_eq!(terminated_with(&a_terminated), Some(reason));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_link_links_the_child_to_its_starter_as_its_parent() {
    let (parent, _) = node(false).await;
    let child = within(5, parent.start_child(ChildInit::Ready))
        .await
        .unwrap()
        .unwrap();
    let child_info = info(child.pid());
    assert_eq!(child_info.parent, Some(parent.pid()));
    assert_eq!(child_info.links, vec![parent.pid()]);
    assert_eq!(info(parent.pid()).links, vec![child.pid()]);

    child.crash("child crashed".into()).unwrap();
    assert_eq!(
        within(5, parent.exited()).await,
        panic_reason("child crashed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_whose_init_fails_reaches_its_trapping_parent_as_an_exit() {
    let cases = [
        (ChildInit::Panic, panic_reason("child init panicked")),
        (
            ChildInit::Fail,
            ExitReason::Error("child init failed".into()),
        ),
    ];
    for (how, reason) in cases {
        let (parent, _) = node(true).await;
        let started = within(5, parent.start_child(how)).await.unwrap();
        assert_eq!(started.unwrap_err(), StartError::Init(reason.clone()));
        settle(&parent).await.unwrap();
        let exits = within(5, parent.exits()).await.unwrap();
        assert_eq!(exits.len(), 1, "{how:?}: {exits:?}");
        assert_eq!(exits[0].reason, reason, "{how:?}");
        assert!(!gensrv::processes().contains(&exits[0].pid));
        assert!(parent.is_alive());
        assert!(info(parent.pid()).links.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignored_child_reaches_its_trapping_parent_as_a_normal_exit() {
    let (parent, _) = node(true).await;
    let started = within(5, parent.start_child(ChildInit::Ignore))
        .await
        .unwrap();
    assert_eq!(started.unwrap_err(), StartError::Ignored);
    settle(&parent).await.unwrap();
    let exits = within(5, parent.exits()).await.unwrap();
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert_eq!(exits[0].reason, ExitReason::Normal);
    assert!(info(parent.pid()).links.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_whose_init_fails_ends_a_parent_that_does_not_trap() {
    let (parent, parent_terminated) = node(false).await;
    let started = within(5, parent.start_child(ChildInit::Panic)).await;
    // As OTP's start_link from a process that does not trap exits: the child's exit
    // signal ends the parent at once, before it can reply.
    assert_eq!(
        started.unwrap_err(),
        CallError::Exited(panic_reason("child init panicked"))
    );
    assert_eq!(
        within(5, parent.exited()).await,
        panic_reason("child init panicked")
    );
    assert_eq!(
        terminated_with(&parent_terminated),
        Some(panic_reason("child init panicked"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_child_still_ends_with_its_parent_and_the_parents_reason() {
    for reason in [
        ExitReason::Error("parent failed".into()),
        ExitReason::Shutdown,
        // OTP: even a normal exit of the parent ends a trapping gen_server.
        ExitReason::Normal,
    ] {
        let (parent, _) = node(false).await;
        let child = within(5, parent.start_child(ChildInit::Trapping))
            .await
            .unwrap()
            .unwrap();
        let child_terminated = within(5, child.terminated()).await.unwrap();
        // A trapping peer linked the ordinary way gets an Exit instead.
        let (peer, _) = node(true).await;
        within(5, peer.link_to(parent.pid())).await.unwrap();

        within(5, parent.stop().reason(reason.clone()))
            .await
            .unwrap();
        assert_eq!(within(5, child.exited()).await, reason);
        assert_eq!(terminated_with(&child_terminated), Some(reason.clone()));
        settle(&peer).await.unwrap();
        assert_eq!(
            within(5, peer.exits()).await.unwrap(),
            vec![Exit {
                pid: parent.pid(),
                reason
            }]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_parent_gets_an_exit_from_its_crashed_child() {
    let (parent, _) = node(true).await;
    let child = within(5, parent.start_child(ChildInit::Ready))
        .await
        .unwrap()
        .unwrap();
    child.crash("child crashed".into()).unwrap();
    within(5, child.exited()).await;
    settle(&parent).await.unwrap();
    assert_eq!(
        within(5, parent.exits()).await.unwrap(),
        vec![Exit {
            pid: child.pid(),
            reason: panic_reason("child crashed")
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_a_thousand_linked_servers_ends_entirely_when_the_last_panics() {
    const LEN: usize = 1_000;
    let mut chain = Vec::with_capacity(LEN);
    for _ in 0..LEN {
        chain.push(node(false).await);
    }
    for pair in chain.windows(2) {
        within(5, pair[1].0.link_to(pair[0].0.pid())).await.unwrap();
    }

    let started = Instant::now();
    chain[LEN - 1].0.crash("end of the chain".into()).unwrap();
    let reason = panic_reason("end of the chain");
    within(1, async {
        for (node, _) in &chain {
            assert_eq!(node.exited().await, reason);
        }
    })
    .await;
    let took = started.elapsed();
    for (i, (node, terminated)) in chain.iter().enumerate() {
        assert_eq!(node.exited().await, reason, "node {i}");
        assert_eq!(
            terminated_with(terminated),
            Some(reason.clone()),
            "node {i}"
        );
        assert!(!gensrv::processes().contains(&node.pid()));
    }
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

/// Makes a linked start of a `Lonely` child, and hands it out unawaited.
struct Absent;

#[gen_server]
impl Absent {
    #[call]
    fn make_start(&self, ctx: &mut Context<Self>) -> gensrv::Start<Lonely> {
        Lonely::start().link(ctx)
    }
}

/// Started by a parent that may be gone.
struct Lonely;

#[gen_server]
impl Lonely {
    #[init]
    fn init() -> Self {
        Lonely
    }
}

// A `Start::link` awaited after its parent ended links to an ended process, which,
// as `Context::link` does, sends `NoProc`: the exit signal of its parent ends the
// child in its init, rather than let it run orphaned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_start_that_outlives_its_parent_ends_the_child_with_noproc() {
    let parent = within(5, Absent::start(Absent)).await.unwrap();
    let start = within(5, parent.make_start()).await.unwrap();
    within(5, parent.stop()).await.unwrap();
    let started = within(5, start).await;
    assert_eq!(started.unwrap_err(), StartError::Init(ExitReason::NoProc));
}

/// Starts a child with DESIGN.md's spelling, `.link(&ctx)`.
struct Spelling;

#[gen_server]
impl Spelling {
    #[call]
    async fn start_linked(&self, ctx: &mut Context<Self>) -> Result<LonelyRef, StartError> {
        // The borrow is the point: the spelling DESIGN.md uses must compile.
        #[allow(clippy::needless_borrow)]
        Lonely::start().link(&ctx).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_link_takes_the_context_as_design_spells_it() {
    let parent = within(5, Spelling::start(Spelling)).await.unwrap();
    let child = within(5, parent.start_linked()).await.unwrap().unwrap();
    assert_eq!(info(child.pid()).parent, Some(parent.pid()));
}
