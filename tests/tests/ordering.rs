//! DESIGN.md's semantics 1 and 12, proven by property tests: whatever the
//! interleaving of calls, casts and info messages from several senders, with sys
//! requests, timers and `continue_with` mixed in, each sender's messages are
//! handled in the order sent, and a sys request sees exactly what its sender sent
//! before it; also through a small bounded mailbox, where casts are refused and
//! sent again, and calls wait for room.

use std::collections::HashMap;
use std::time::Duration;

use gensrv::{CastError, Context, gen_server};
use gensrv_tests::within;
use proptest::prelude::*;

/// What the server saw: each sender's sequence numbers in the order handled, and
/// how many timer messages arrived (they are ordered by time, not by sender).
#[derive(Clone, Debug, Default)]
struct Seen {
    by_sender: HashMap<u32, Vec<u32>>,
    timers: u32,
}

impl Seen {
    fn record(&mut self, sender: u32, n: u32) {
        self.by_sender.entry(sender).or_default().push(n);
    }
}

/// An info message from a sender.
struct Note(u32, u32);

/// A continuation: handled right after the message that asked for it.
struct Then(u32, u32);

/// A timer's message.
struct Ring;

#[gen_server]
impl Seen {
    #[call]
    fn record_call(&mut self, sender: u32, n: u32) {
        self.record(sender, n);
    }

    #[cast]
    fn record_cast(&mut self, sender: u32, n: u32) {
        self.record(sender, n);
    }

    /// Records `n`, then `n + 1` as a continuation, before any other message.
    #[cast]
    fn cast_then(&mut self, sender: u32, n: u32, ctx: &mut Context<Self>) {
        self.record(sender, n);
        ctx.continue_with(Then(sender, n + 1));
    }

    /// Sets a timer; its message is counted, not ordered.
    #[cast]
    fn ring_after(&mut self, ms: u64, ctx: &mut Context<Self>) {
        ctx.send_after(Duration::from_millis(ms), Ring);
    }

    #[info]
    fn note(&mut self, note: Note) {
        self.record(note.0, note.1);
    }

    #[info]
    fn then(&mut self, then: Then) {
        self.record(then.0, then.1);
    }

    #[info]
    fn ring(&mut self, _: Ring) {
        self.timers += 1;
    }
}

#[derive(Clone, Debug)]
enum Op {
    Call,
    Cast,
    Info,
    CastThen,
    Timer(u64),
    /// `get_state`: must see this sender's every earlier message, and none later.
    GetState,
    Statistics,
    /// `suspend`, a yield, then `resume`.
    SuspendResume,
    Yield,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Call),
        4 => Just(Op::Cast),
        3 => Just(Op::Info),
        2 => Just(Op::CastThen),
        1 => (0u64..3).prop_map(Op::Timer),
        2 => Just(Op::GetState),
        1 => Just(Op::Statistics),
        1 => Just(Op::SuspendResume),
        2 => Just(Op::Yield),
    ]
}

/// Sends with `send` until the mailbox takes it: a bounded one refuses while it
/// is full (and while calls wait for room in it).
async fn until_taken(mut send: impl FnMut() -> Result<(), CastError>) {
    loop {
        match send() {
            Ok(()) => return,
            Err(CastError::Full) => tokio::task::yield_now().await,
            Err(other) => panic!("{other}"),
        }
    }
}

/// Runs one sender's ops; gives the sequence numbers it sent and its timers.
/// `exact`: no sender suspends the server, so a sys request sees exactly what its
/// sender sent before it.
async fn sender(server: SeenRef, sender: u32, ops: Vec<Op>, exact: bool) -> (Vec<u32>, u32) {
    let mut sent = Vec::new();
    let mut timers = 0;
    let mut n = 0;
    for op in ops {
        match op {
            Op::Call => {
                server.record_call(sender, n).await.unwrap();
                sent.push(n);
                n += 1;
            }
            Op::Cast => {
                until_taken(|| server.record_cast(sender, n)).await;
                sent.push(n);
                n += 1;
            }
            Op::Info => {
                until_taken(|| server.send(Note(sender, n))).await;
                sent.push(n);
                n += 1;
            }
            Op::CastThen => {
                until_taken(|| server.cast_then(sender, n)).await;
                sent.extend([n, n + 1]);
                n += 2;
            }
            Op::Timer(ms) => {
                until_taken(|| server.ring_after(ms)).await;
                timers += 1;
            }
            Op::GetState => {
                let state = server.get_state().await.unwrap();
                let handled = state.by_sender.get(&sender).cloned().unwrap_or_default();
                if exact {
                    // Every earlier message of this sender, and only those.
                    assert_eq!(handled, sent);
                } else {
                    // While another sender holds the server suspended, its own
                    // messages wait and the sys request does not (as in OTP).
                    assert!(sent.starts_with(&handled), "{handled:?} of {sent:?}");
                }
            }
            Op::Statistics => {
                server.statistics().await.unwrap();
            }
            Op::SuspendResume => {
                server.suspend().await.unwrap();
                tokio::task::yield_now().await;
                server.resume().await.unwrap();
            }
            Op::Yield => tokio::task::yield_now().await,
        }
    }
    (sent, timers)
}

/// Runs the senders against one server, its mailbox bounded to `capacity` if
/// given, and checks what it handled.
fn run(senders: Vec<Vec<Op>>, multi_thread: bool, capacity: Option<usize>) {
    let runtime = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .unwrap();
    runtime.block_on(async {
        let mut start = Seen::start(Seen::default());
        if let Some(capacity) = capacity {
            start = start.mailbox(capacity);
        }
        let server = start.await.unwrap();
        let exact = !senders
            .iter()
            .flatten()
            .any(|op| matches!(op, Op::SuspendResume));
        let tasks: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(i, ops)| tokio::spawn(sender(server.clone(), i as u32, ops, exact)))
            .collect();
        let mut expected = HashMap::new();
        let mut timers = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            let (sent, rang) = within(30, task).await.unwrap();
            expected.insert(i as u32, sent);
            timers += rang;
        }
        // A suspension left by nobody: every sender resumed its own.
        within(5, server.resume()).await.unwrap();
        // The timers are due within 3 ms.
        let seen = within(5, async {
            loop {
                let seen = server.get_state().await.unwrap();
                if seen.timers == timers {
                    break seen;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        for (sender, sent) in expected {
            let handled = seen.by_sender.get(&sender).cloned().unwrap_or_default();
            assert_eq!(handled, sent, "sender {sender}");
        }
        server.stop().await.unwrap();
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn each_sender_is_handled_in_order_on_one_thread(
        senders in prop::collection::vec(prop::collection::vec(op(), 0..40), 1..5),
    ) {
        run(senders, false, None);
    }

    #[test]
    fn each_sender_is_handled_in_order_on_two_threads(
        senders in prop::collection::vec(prop::collection::vec(op(), 0..40), 1..5),
    ) {
        run(senders, true, None);
    }

    #[test]
    fn each_sender_is_handled_in_order_through_a_small_bounded_mailbox(
        senders in prop::collection::vec(prop::collection::vec(op(), 0..40), 1..5),
        capacity in 1usize..4,
    ) {
        run(senders, true, Some(capacity));
    }
}
