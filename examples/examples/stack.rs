//! The classic lesson's stack server, as a gen_server.
//!
//! A server keeps a stack of numbers; clients add, remove, check and show them.
//! Then the things a hand-written server loop gets wrong: a call that takes longer
//! than the caller will wait, a stop, a call to a server that is gone, and a crash
//! while a caller waits for a reply.
//!
//! ```text
//! cargo run --example stack
//! ```

use std::time::{Duration, Instant};

use gensrv::{CallError, Context, ExitReason, gen_server};
use gensrv_examples::{init_logging, print_result};

/// A stack of numbers, newest on top (the lesson's `[42, 1]`).
pub struct Stack {
    items: Vec<i64>,
}

#[gen_server]
impl Stack {
    /// Starts with an empty stack.
    #[init]
    fn init(ctx: &mut Context<Self>) -> Self {
        println!("  [{}] start Server", ctx.pid());
        Stack { items: Vec::new() }
    }

    /// Puts `item` on top of the stack.
    #[cast]
    fn add(&mut self, item: i64) {
        self.items.push(item);
    }

    /// Removes the topmost `item`, if there is one.
    #[cast]
    fn remove(&mut self, item: i64) {
        if let Some(at) = self.items.iter().rposition(|&i| i == item) {
            self.items.remove(at);
        }
    }

    /// Whether `item` is on the stack.
    #[call]
    fn check(&self, item: i64) -> bool {
        self.items.contains(&item)
    }

    /// The whole stack, top first.
    #[call]
    fn show(&self) -> Vec<i64> {
        self.items.iter().rev().copied().collect()
    }

    /// Takes the top item off the stack.
    ///
    /// # Panics
    ///
    /// On an empty stack, which ends the server: the caller gets
    /// `CallError::Exited(ExitReason::Panic(..))`.
    #[call]
    fn pop(&mut self) -> i64 {
        self.items.pop().expect("pop from an empty stack")
    }

    /// Adds up the stack, taking `pause` over it: a handler that keeps its
    /// caller waiting.
    #[call]
    async fn slow_sum(&self, pause: Duration) -> i64 {
        tokio::time::sleep(pause).await;
        self.items.iter().sum()
    }

    /// Says goodbye, whatever the reason.
    #[terminate]
    fn terminate(&mut self, reason: &ExitReason, ctx: &mut Context<Self>) {
        println!(
            "  [{}] Server stops now, reason: {reason}, stack: {:?}",
            ctx.pid(),
            self.items
        );
    }
}

#[tokio::main]
async fn main() {
    init_logging();

    println!("== add, remove, check, show");
    let Some(stack) = start_stack().await else {
        return;
    };

    // Casts return at once; the calls after them are handled after them, as
    // one client's messages are handled in the order they were sent.
    for item in [1, 42] {
        println!("> stack.add({item})");
        print_result(&stack.add(item));
    }
    for item in [1, 42] {
        println!("> stack.check({item})");
        print_result(&stack.check(item).await);
    }
    println!("> stack.show()");
    print_result(&stack.show().await);
    println!("> stack.remove(42)");
    print_result(&stack.remove(42));
    println!("> stack.check(42)");
    print_result(&stack.check(42).await);
    println!("> stack.show()");
    print_result(&stack.show().await);

    println!();
    println!("== a call that takes too long");
    // The handler sleeps 500 ms; this caller waits only 100 ms.
    println!("> stack.slow_sum(500 ms).timeout(100 ms)");
    let slow = stack
        .slow_sum(Duration::from_millis(500))
        .timeout(Duration::from_millis(100))
        .await;
    print_result(&slow);
    if slow == Err(CallError::Timeout) {
        println!("  (the caller stopped waiting; the server is still summing)");
    }
    // The server is still busy with the slow sum: the next call waits for it,
    // and the sum's late reply is dropped rather than taken for this one's.
    println!("> stack.check(1)   (queued behind the slow sum)");
    let started = Instant::now();
    let check = stack.check(1).await;
    print_result(&check);
    println!(
        "  (answered after ~{} ms)",
        round_to_100ms(started.elapsed())
    );

    println!();
    println!("== stop, then call");
    println!("> stack.stop()");
    print_result(&stack.stop().await);
    println!("> stack.is_alive()");
    println!("{}", stack.is_alive());
    println!("> stack.check(1)");
    print_result(&stack.check(1).await);
    println!("> stack.stop()   (again)");
    print_result(&stack.stop().await);

    println!();
    println!("== a crash during a call");
    let Some(stack) = start_stack().await else {
        return;
    };
    println!("> stack.add(7)");
    print_result(&stack.add(7));
    for _ in 0..2 {
        println!("> stack.pop()");
        let started = Instant::now();
        let popped = stack.pop().await;
        print_result(&popped);
        // The server died while handling the call: the caller hears of it at
        // once, not after the 5 s call timeout, and after terminate has run.
        if let Err(CallError::Exited(ExitReason::Panic(message))) = &popped {
            let at_once = started.elapsed() < Duration::from_secs(1);
            println!(
                "  (the handler panicked with {message:?}; answered within a second: {at_once})"
            );
        }
    }
    println!("> stack.is_alive()");
    println!("{}", stack.is_alive());
    println!("> stack.exited().await");
    println!("{:?}", stack.exited().await);
    println!("> stack.add(8)");
    print_result(&stack.add(8));
    println!("> stack.check(7)");
    print_result(&stack.check(7).await);
}

/// Starts a stack server, printing what happens.
async fn start_stack() -> Option<StackRef> {
    println!("> Stack::start()");
    match Stack::start().await {
        Ok(stack) => {
            println!("{stack:?}");
            Some(stack)
        }
        Err(error) => {
            println!("could not start the stack: {error}");
            None
        }
    }
}

/// Timings vary a little from run to run; the narrative should not.
fn round_to_100ms(elapsed: Duration) -> u128 {
    (elapsed.as_millis() + 50) / 100 * 100
}
