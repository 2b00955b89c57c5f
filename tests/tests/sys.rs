//! OTP's `sys` on gensrv servers (DESIGN.md's semantic 12): state, suspension,
//! statistics and status, each a request handled between two messages.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use gensrv::{CallError, Context, ExitReason, GenServer, Timeout, gen_server};
use gensrv_tests::within;

/// Keeps what it was sent, in order, per sender.
#[derive(Clone, Debug, Default, PartialEq)]
struct Log {
    seen: Vec<(u32, u32)>,
}

/// An info message: a sender and its sequence number.
struct Note(u32, u32);

/// Tells the server to set an idle timeout.
struct Idle;

#[gen_server]
impl Log {
    #[call]
    fn push_call(&mut self, sender: u32, n: u32) {
        self.seen.push((sender, n));
    }

    #[cast]
    fn push(&mut self, sender: u32, n: u32) {
        self.seen.push((sender, n));
    }

    #[call]
    fn seen(&self) -> Vec<(u32, u32)> {
        self.seen.clone()
    }

    #[info]
    fn note(&mut self, note: Note) {
        self.seen.push((note.0, note.1));
    }

    #[info]
    fn idle(&mut self, _: Idle, ctx: &mut Context<Self>) {
        ctx.set_timeout(Duration::ZERO);
    }

    #[info]
    fn timeout(&mut self, _: Timeout) {
        self.seen.push((0, 0));
    }
}

#[tokio::test]
async fn get_state_sees_every_message_sent_before_it() {
    let log = Log::start(Log::default()).await.unwrap();
    for n in 0..100 {
        log.push(1, n).unwrap();
    }
    let state = within(5, log.get_state()).await.unwrap();
    assert_eq!(state.seen.len(), 100);
    log.push(1, 100).unwrap();
    let state = within(5, log.get_state()).await.unwrap();
    assert_eq!(state.seen.len(), 101);
}

#[tokio::test]
async fn replace_state_runs_inside_the_server_between_messages() {
    let log = Log::start(Log::default()).await.unwrap();
    log.push(1, 1).unwrap();
    within(5, log.replace_state(|log| log.seen.push((9, 9))))
        .await
        .unwrap();
    log.push(1, 2).unwrap();
    assert_eq!(
        within(5, log.seen()).await.unwrap(),
        vec![(1, 1), (9, 9), (1, 2)]
    );
}

#[tokio::test]
async fn a_panic_in_replace_state_keeps_the_old_state_and_fails_the_caller() {
    let log = Log::start(Log::default()).await.unwrap();
    log.push(1, 1).unwrap();
    let replaced = within(
        5,
        log.replace_state(|log| {
            log.seen.clear();
            log.seen.push((6, 6));
            panic!("half done");
        }),
    )
    .await;
    assert_eq!(replaced, Err(CallError::NoReply));
    assert!(log.is_alive());
    assert_eq!(within(5, log.seen()).await.unwrap(), vec![(1, 1)]);
}

/// A state that cannot be copied.
struct Socket {
    open: bool,
}

#[gen_server]
impl Socket {
    #[call]
    fn is_open(&self) -> bool {
        self.open
    }
}

#[tokio::test]
async fn a_panic_in_replace_state_of_a_state_that_cannot_be_copied_keeps_the_server() {
    let socket = Socket::start(Socket { open: true }).await.unwrap();
    let replaced = within(5, socket.replace_state(|_| panic!("nothing done"))).await;
    assert_eq!(replaced, Err(CallError::NoReply));
    assert_eq!(within(5, socket.is_open()).await, Ok(true));
    within(5, socket.replace_state(|s| s.open = false))
        .await
        .unwrap();
    assert_eq!(within(5, socket.is_open()).await, Ok(false));
}

#[tokio::test]
async fn a_suspended_server_queues_everything_but_sys_requests_and_stop() {
    let log = Log::start(Log::default()).await.unwrap();
    within(5, log.suspend()).await.unwrap();
    log.push(1, 1).unwrap();
    log.send(Note(1, 2)).unwrap();
    let queued_call = log.push_call(1, 3).send();
    // Calls wait, and their timeouts still run.
    assert_eq!(
        within(5, log.seen().timeout(Duration::from_millis(50))).await,
        Err(CallError::Timeout)
    );
    // Sys requests are answered.
    assert_eq!(within(5, log.get_state()).await.unwrap().seen, vec![]);
    let status = within(5, log.get_status()).await.unwrap();
    assert!(status.suspended);
    assert_eq!(status.mailbox_len, 4);
    assert_eq!(within(5, log.statistics()).await.unwrap().mailbox_len, 4);
    // Suspending again changes nothing.
    within(5, log.suspend()).await.unwrap();
    within(5, log.resume()).await.unwrap();
    within(5, queued_call).await.unwrap();
    assert_eq!(
        within(5, log.seen()).await.unwrap(),
        vec![(1, 1), (1, 2), (1, 3)]
    );
    assert!(!within(5, log.get_status()).await.unwrap().suspended);
    // Resuming a running server changes nothing either.
    within(5, log.resume()).await.unwrap();
}

#[tokio::test]
async fn a_suspended_server_stops_and_fails_what_waited() {
    let log = Log::start(Log::default()).await.unwrap();
    within(5, log.suspend()).await.unwrap();
    let waiting = log.seen().send();
    within(5, log.stop().reason(ExitReason::Shutdown))
        .await
        .unwrap();
    assert_eq!(
        within(5, waiting).await,
        Err(CallError::Exited(ExitReason::Shutdown))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume_lose_no_message_under_concurrent_senders() {
    const SENDERS: u32 = 4;
    const EACH: u32 = 2_000;
    let log = Log::start(Log::default()).await.unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let toggler = tokio::spawn({
        let log = log.clone();
        let done = done.clone();
        async move {
            let mut toggles = 0;
            while !done.load(Ordering::Relaxed) {
                log.suspend().await.unwrap();
                tokio::task::yield_now().await;
                log.resume().await.unwrap();
                toggles += 1;
            }
            toggles
        }
    });
    let senders: Vec<_> = (1..=SENDERS)
        .map(|sender| {
            let log = log.clone();
            tokio::spawn(async move {
                for n in 0..EACH {
                    match n % 3 {
                        0 => log.push(sender, n).unwrap(),
                        1 => log.send(Note(sender, n)).unwrap(),
                        _ => log.push_call(sender, n).await.unwrap(),
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        within(30, sender).await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let toggles = within(30, toggler).await.unwrap();
    assert!(toggles > 0);
    within(5, log.resume()).await.unwrap();
    let seen = within(5, log.seen()).await.unwrap();
    assert_eq!(seen.len(), (SENDERS * EACH) as usize);
    for sender in 1..=SENDERS {
        let own: Vec<u32> = seen
            .iter()
            .filter(|(s, _)| *s == sender)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(own, (0..EACH).collect::<Vec<_>>(), "sender {sender}");
    }
}

#[tokio::test]
async fn statistics_count_exactly_what_was_handled() {
    let before = SystemTime::now();
    let log = Log::start(Log::default()).await.unwrap();
    for n in 0..3 {
        log.push_call(1, n).await.unwrap();
    }
    for n in 0..5 {
        log.push(1, n).unwrap();
    }
    log.send(Note(1, 0)).unwrap();
    log.send(Idle).unwrap(); // an info, then its idle timeout: another
    // Nothing else in the mailbox meanwhile, or the zero timeout would not fire.
    tokio::time::sleep(Duration::from_millis(20)).await;
    log.seen().await.unwrap(); // a fourth call
    let stats = within(5, log.statistics()).await.unwrap();
    assert_eq!((stats.calls, stats.casts, stats.infos), (4, 5, 3));
    assert_eq!(stats.mailbox_len, 0);
    // Kept to the microsecond.
    assert!(stats.started + Duration::from_micros(1) >= before);
    assert!(stats.started <= SystemTime::now());
    // Sys requests are not counted.
    let again = within(5, log.statistics()).await.unwrap();
    assert_eq!((again.calls, again.casts, again.infos), (4, 5, 3));
}

/// Holds a secret it must never show.
struct Vault {
    #[allow(dead_code)] // Only there not to be shown.
    secret: String,
    opened: u32,
}

#[gen_server]
impl Vault {
    #[call]
    fn open(&mut self) -> u32 {
        self.opened += 1;
        self.opened
    }

    #[cast]
    fn r#lock(&mut self) {}

    #[format_status]
    fn status(&self) -> String {
        format!("Vault {{ opened: {}, secret: <hidden> }}", self.opened)
    }
}

#[tokio::test]
async fn get_status_shows_the_state_as_format_status_writes_it() {
    let vault = Vault::start(Vault {
        secret: "hunter2".into(),
        opened: 0,
    })
    .name("sys-status-vault")
    .await
    .unwrap();
    vault.open().await.unwrap();
    let status = within(5, vault.get_status()).await.unwrap();
    assert_eq!(status.pid, vault.pid());
    assert_eq!(status.name.as_deref(), Some("sys-status-vault"));
    assert_eq!(status.server, std::any::type_name::<Vault>());
    assert!(!status.suspended);
    assert_eq!(status.mailbox_len, 0);
    assert_eq!(status.state, "Vault { opened: 1, secret: <hidden> }");
    assert!(!format!("{status:?}").contains("hunter2"));

    let log = Log::start(Log::default()).await.unwrap();
    let status = within(5, log.get_status()).await.unwrap();
    assert_eq!(status.state, std::any::type_name::<Log>());
    assert_eq!(status.name, None);
}

#[test]
fn handlers_are_named_after_their_methods() {
    assert_eq!(<Vault as GenServer>::cast_name(&VaultCast::Lock {}), "lock");
    assert_eq!(
        <Log as GenServer>::info_name(&LogInfo::from(Note(0, 0))),
        "note"
    );
}

#[tokio::test]
async fn sys_requests_by_pid_and_on_dead_servers() {
    let log = Log::start(Log::default()).await.unwrap();
    log.push(1, 1).unwrap();
    let pid = log.pid();
    let stats = within(5, gensrv::sys::statistics(&pid)).await.unwrap();
    assert_eq!(stats.casts, 1);
    within(5, gensrv::sys::suspend(&pid)).await.unwrap();
    assert!(
        within(5, gensrv::sys::get_status(&pid))
            .await
            .unwrap()
            .suspended
    );
    within(5, gensrv::sys::resume(&pid)).await.unwrap();

    log.stop().await.unwrap();
    assert_eq!(within(5, log.get_state()).await, Err(CallError::NoProc));
    assert_eq!(within(5, log.statistics()).await, Err(CallError::NoProc));
    assert_eq!(
        within(5, gensrv::sys::suspend(&pid)).await,
        Err(CallError::NoProc)
    );
}

/// Asks itself for its own state.
struct Narcissus;

#[gen_server]
impl Narcissus {
    #[call]
    async fn look(&self, ctx: &mut Context<Self>) -> Option<CallError> {
        ctx.this().statistics().await.err()
    }
}

#[tokio::test]
async fn a_server_asking_itself_gets_calling_self() {
    let narcissus = Narcissus::start(Narcissus).await.unwrap();
    assert_eq!(
        within(5, narcissus.look()).await,
        Ok(Some(CallError::CallingSelf))
    );
}

#[tokio::test]
async fn process_info_and_the_tree_show_type_and_mailbox() {
    let log = Log::start(Log::default())
        .name("sys-tree-log")
        .await
        .unwrap();
    within(5, log.suspend()).await.unwrap();
    log.push(1, 1).unwrap();
    log.push(1, 2).unwrap();
    let info = gensrv::process_info(log.pid()).unwrap();
    assert_eq!(info.server, std::any::type_name::<Log>());
    assert_eq!(info.mailbox_len, 2);
    let tree = gensrv::process_tree();
    let line = format!(
        "{} sys-tree-log {} mailbox 2",
        log.pid(),
        std::any::type_name::<Log>()
    );
    assert!(tree.lines().any(|l| l == line), "{tree}");
}

/// A state whose copy panics when asked to.
#[derive(Debug)]
struct Brittle {
    breaks: bool,
    value: u32,
}

impl Clone for Brittle {
    fn clone(&self) -> Self {
        if self.breaks {
            panic!("cannot copy");
        }
        Brittle {
            breaks: false,
            value: self.value,
        }
    }
}

#[gen_server]
impl Brittle {
    #[call]
    fn value(&self) -> u32 {
        self.value
    }
}

#[tokio::test]
async fn a_state_whose_copy_panics_fails_get_state_and_replace_state_not_the_server() {
    let brittle = Brittle::start(Brittle {
        breaks: true,
        value: 7,
    })
    .await
    .unwrap();
    assert_eq!(
        within(5, brittle.get_state()).await.err(),
        Some(CallError::NoReply)
    );
    assert!(brittle.is_alive());
    assert_eq!(
        within(5, brittle.replace_state(|b| b.value = 8)).await,
        Err(CallError::NoReply)
    );
    assert_eq!(within(5, brittle.value()).await, Ok(7));
}

#[tokio::test]
async fn a_panic_in_replace_state_with_a_payload_that_is_not_text_keeps_the_server() {
    let log = Log::start(Log::default()).await.unwrap();
    let replaced = within(5, log.replace_state(|_| std::panic::panic_any(42_u32))).await;
    assert_eq!(replaced, Err(CallError::NoReply));
    assert_eq!(within(5, log.seen()).await, Ok(vec![]));
}

#[tokio::test]
async fn an_exit_signal_or_a_kill_ends_a_suspended_server_and_fails_what_waited() {
    for reason in [ExitReason::Error("bye".into()), ExitReason::Killed] {
        let log = Log::start(Log::default()).await.unwrap();
        within(5, log.suspend()).await.unwrap();
        let waiting = log.seen().send();
        let pushing = log.push_call(1, 1).send();
        gensrv::exit(&log, reason.clone());
        assert_eq!(within(5, log.exited()).await, reason);
        assert_eq!(
            within(5, waiting).await,
            Err(CallError::Exited(reason.clone()))
        );
        assert_eq!(within(5, pushing).await, Err(CallError::Exited(reason)));
    }
}

/// Holds a deferred reply.
#[derive(Default)]
struct Holder {
    pending: Option<gensrv::ReplyTo<u32>>,
}

#[gen_server]
impl Holder {
    #[call]
    fn wait(&mut self, reply: gensrv::ReplyTo<u32>) {
        self.pending = Some(reply);
    }

    #[call]
    fn ping(&self) -> u32 {
        1
    }
}

#[tokio::test]
async fn a_panic_in_replace_state_that_drops_a_deferred_reply_keeps_the_server_running() {
    let holder = Holder::start(Holder::default()).await.unwrap();
    let waiting = holder.wait().send();
    within(5, holder.ping()).await.unwrap();
    let replaced = within(
        5,
        holder.replace_state(|h| {
            let _reply = h.pending.take();
            panic!("dropped the reply");
        }),
    )
    .await;
    assert_eq!(replaced, Err(CallError::NoReply));
    assert_eq!(within(5, waiting).await, Err(CallError::NoReply));
    assert!(holder.is_alive());
    assert_eq!(within(5, holder.ping()).await, Ok(1));
    assert_eq!(
        gensrv::process_info(holder.pid()).map(|i| i.pid),
        Some(holder.pid())
    );
    // It still ends as a running server does.
    within(5, holder.stop()).await.unwrap();
    assert_eq!(within(5, holder.exited()).await, ExitReason::Normal);
}

/// A generic server whose `#[format_status]` has a raw name, beside methods of
/// its own named like the trait's.
#[derive(Clone, Default)]
struct Shelf<T: Send + 'static> {
    items: Vec<T>,
}

#[gen_server]
impl<T: Send + Clone + 'static> Shelf<T> {
    #[cast]
    fn r#push(&mut self, item: T) {
        self.items.push(item);
    }

    #[cfg_attr(all(), format_status)]
    fn r#type(&self) -> String {
        format!("{} items", self.items.len())
    }

    #[allow(dead_code)]
    fn format_status(&self) -> &'static str {
        "not this one"
    }
}

#[tokio::test]
async fn format_status_with_a_raw_name_on_a_generic_server() {
    let shelf = Shelf::<u8>::start(Shelf::default()).await.unwrap();
    shelf.push(1).unwrap();
    assert_eq!(
        within(5, shelf.get_status()).await.unwrap().state,
        "1 items"
    );
    assert_eq!(
        <Shelf<u8> as GenServer>::cast_name(&ShelfCast::Push { item: 1 }),
        "push"
    );
}

/// Does, on request, each thing that makes the runtime send it a message.
#[derive(Default)]
struct Busy {
    handled: Vec<&'static str>,
}

struct Tick;
struct Next;

#[gen_server]
impl Busy {
    #[call]
    fn timer(&mut self, after_ms: u64, ctx: &mut Context<Self>) {
        ctx.send_after(Duration::from_millis(after_ms), Tick);
    }

    /// A timer whose message is in the mailbox when it is cancelled.
    #[call]
    async fn cancelled_timer(&mut self, ctx: &mut Context<Self>) -> bool {
        let timer = ctx.send_after(Duration::from_millis(1), Tick);
        tokio::time::sleep(Duration::from_millis(20)).await;
        ctx.cancel_timer(timer)
    }

    /// A monitor whose `Down` is in the mailbox when it is removed.
    #[call]
    async fn demonitored(&mut self, ctx: &mut Context<Self>) -> bool {
        let target = Log::start(Log::default()).await.unwrap();
        let monitor = ctx.monitor(&target);
        target.stop().await.unwrap();
        ctx.demonitor(monitor)
    }

    #[call]
    fn watch(&mut self, pid: gensrv::Pid, ctx: &mut Context<Self>) {
        ctx.monitor(&pid);
    }

    #[call]
    fn trap_and_link(&mut self, pid: gensrv::Pid, ctx: &mut Context<Self>) {
        ctx.trap_exit(true);
        ctx.link(&pid);
    }

    #[call]
    fn continued(&mut self, ctx: &mut Context<Self>) {
        ctx.continue_with(Next);
    }

    #[call]
    fn idle(&mut self, after_ms: u64, ctx: &mut Context<Self>) {
        ctx.set_timeout(Duration::from_millis(after_ms));
    }

    #[call]
    fn handled(&self) -> Vec<&'static str> {
        self.handled.clone()
    }

    #[info]
    fn tick(&mut self, _: Tick) {
        self.handled.push("tick");
    }

    #[info]
    fn next(&mut self, _: Next) {
        self.handled.push("next");
    }

    #[info]
    fn down(&mut self, _: gensrv::Down) {
        self.handled.push("down");
    }

    #[info]
    fn exit(&mut self, _: gensrv::Exit) {
        self.handled.push("exit");
    }

    #[info]
    fn timeout(&mut self, _: Timeout) {
        self.handled.push("timeout");
    }
}

async fn infos(busy: &BusyRef) -> u64 {
    within(5, busy.statistics()).await.unwrap().infos
}

#[tokio::test]
async fn statistics_count_each_runtime_message_once_and_what_was_dropped_never() {
    let busy = Busy::start(Busy::default()).await.unwrap();
    let other = Log::start(Log::default()).await.unwrap();
    let linked = Log::start(Log::default()).await.unwrap();

    busy.timer(1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(infos(&busy).await, 1);

    busy.continued().await.unwrap();
    assert_eq!(infos(&busy).await, 2);

    busy.idle(1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(infos(&busy).await, 3);

    busy.watch(other.pid()).await.unwrap();
    busy.trap_and_link(linked.pid()).await.unwrap();
    other.stop().await.unwrap();
    gensrv::exit(&linked, ExitReason::Error("x".into()));
    within(5, linked.exited()).await;
    assert_eq!(
        within(5, busy.handled()).await.unwrap(),
        ["tick", "next", "timeout", "down", "exit"]
    );
    assert_eq!(infos(&busy).await, 5);

    // A cancelled timer's message and a demonitored Down are no messages.
    // (`false`: the timer's message was sent, and is dropped all the same.)
    assert!(!busy.cancelled_timer().await.unwrap());
    busy.demonitored().await.unwrap();
    // Sys requests are not counted either.
    busy.get_status().await.unwrap();
    busy.suspend().await.unwrap();
    busy.resume().await.unwrap();
    let stats = within(5, busy.statistics()).await.unwrap();
    assert_eq!(stats.infos, 5);
    assert_eq!(stats.calls, 8);
}

#[tokio::test]
async fn a_suspended_server_keeps_its_timers_and_idle_timeout_for_after_resume() {
    let busy = Busy::start(Busy::default()).await.unwrap();
    busy.idle(20).await.unwrap();
    within(5, busy.suspend()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    // The timeout elapsed while suspended, with no message: it waits, and a call
    // after it.
    let timer = busy.timer(1).send();
    let second = busy.timer(1).send();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let stats = within(5, busy.statistics()).await.unwrap();
    assert_eq!(stats.infos, 0);
    assert_eq!(
        gensrv::process_info(busy.pid()).unwrap().mailbox_len,
        stats.mailbox_len
    );
    within(5, busy.resume()).await.unwrap();
    within(5, timer).await.unwrap();
    within(5, second).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let handled = within(5, busy.handled()).await.unwrap();
    assert_eq!(handled, ["timeout", "tick", "tick"]);
    assert_eq!(gensrv::process_info(busy.pid()).unwrap().mailbox_len, 0);
}

/// Starts a child linked to itself.
struct Starter;

#[gen_server]
impl Starter {
    #[call]
    async fn start_child(&self, ctx: &mut Context<Self>) -> gensrv::Pid {
        Log::start(Log::default()).link(ctx).await.unwrap().pid()
    }
}

#[tokio::test]
async fn a_process_whose_parent_ended_normally_is_a_root_of_the_tree() {
    let starter = Starter::start(Starter).await.unwrap();
    let child = within(5, starter.start_child()).await.unwrap();
    let tree = gensrv::process_tree();
    let child_line = tree
        .lines()
        .find(|l| l.contains(&child.to_string()))
        .unwrap()
        .to_string();
    assert!(child_line.contains("\u{2500} "), "{tree}");
    starter.stop().await.unwrap();
    assert_eq!(gensrv_tests::info(child).parent, Some(starter.pid()));
    let tree = gensrv::process_tree();
    assert!(
        tree.lines().any(|l| l.starts_with(&child.to_string())),
        "{tree}"
    );
}

/// Shows a borrowed part of itself, with the lifetime written out.
struct Label {
    text: String,
}

#[gen_server]
impl Label {
    #[format_status]
    #[allow(clippy::needless_lifetimes)] // Written out on purpose.
    fn status<'a>(&'a self) -> &'a str {
        &self.text
    }
}

#[tokio::test]
async fn format_status_may_name_its_lifetime() {
    let label = Label::start(Label { text: "hi".into() }).await.unwrap();
    assert_eq!(within(5, label.get_status()).await.unwrap().state, "hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_requests_racing_with_stop_and_kill_get_an_answer_or_the_exit_never_a_hang() {
    for round in 0..200 {
        let log = Log::start(Log::default()).await.unwrap();
        if round % 3 == 0 {
            log.suspend().await.unwrap();
        }
        let status = tokio::spawn(log.get_status().into_future());
        let state = tokio::spawn(log.get_state().into_future());
        let suspend = tokio::spawn(log.suspend().into_future());
        let reason = if round % 2 == 0 {
            log.stop().await.unwrap();
            ExitReason::Normal
        } else {
            log.kill();
            ExitReason::Killed
        };
        let ok_or_exit = |e: CallError| {
            assert!(
                e == CallError::Exited(reason.clone()) || e == CallError::NoProc,
                "round {round}: {e:?}"
            );
        };
        if let Err(e) = within(5, status).await.unwrap() {
            ok_or_exit(e);
        }
        if let Err(e) = within(5, state).await.unwrap() {
            ok_or_exit(e);
        }
        if let Err(e) = within(5, suspend).await.unwrap() {
            ok_or_exit(e);
        }
    }
}

/// Traps exits, so that its parent's exit reaches it as a signal of its own.
#[derive(Clone)]
struct Trapper;

#[gen_server]
impl Trapper {
    #[init]
    fn init(_: (), ctx: &mut Context<Self>) -> Self {
        ctx.trap_exit(true);
        Trapper
    }
}

#[tokio::test]
async fn a_supervisor_stops_a_suspended_child_that_traps_exits_at_once() {
    use gensrv::supervisor::{Shutdown, Strategy, Supervisor};
    let sup = Supervisor::start(
        Supervisor::new(Strategy::OneForOne)
            .child(Trapper::child_spec(()).with_shutdown(Shutdown::Infinity)),
    )
    .await
    .unwrap();
    let child = within(5, sup.which_children()).await.unwrap()[0]
        .pid
        .unwrap();
    within(5, gensrv::sys::suspend(&child)).await.unwrap();
    within(5, sup.stop()).await.unwrap();
    assert!(gensrv::process_info(child).is_none());
}

/// Catches a panic of its own that drops a deferred reply.
#[derive(Default)]
struct Careful {
    pending: Option<gensrv::ReplyTo<u32>>,
}

#[gen_server]
impl Careful {
    #[call]
    fn wait(&mut self, reply: gensrv::ReplyTo<u32>) {
        self.pending = Some(reply);
    }

    #[call]
    fn drop_it_in_a_caught_panic(&mut self) {
        let pending = self.pending.take();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _reply = pending;
            panic!("caught");
        }));
    }
}

#[tokio::test]

async fn a_reply_dropped_in_a_panic_the_handler_catches_is_no_reply() {
    let careful = Careful::start(Careful::default()).await.unwrap();
    let waiting = careful.wait().timeout(Duration::from_secs(1)).send();
    within(5, careful.drop_it_in_a_caught_panic())
        .await
        .unwrap();
    assert_eq!(within(5, waiting).await, Err(CallError::NoReply));
    assert!(careful.is_alive());
}
