//! The `worker` of the walk-through of OTP's gen_server source, in Rust.
//!
//! A server registered as `"worker"` keeps one key and its value. Its init asks for
//! an idle timeout of zero (`{ok, State, 0}` in Erlang), so the first thing it
//! handles is a `Timeout`; then it answers `query` and `set` calls and `show`
//! casts, is found by name, and stops, printing why.
//!
//! ```text
//! cargo run --example worker
//! ```

use std::time::Duration;

use gensrv::{Context, ExitReason, Timeout, gen_server};
use gensrv_examples::{init_logging, print_result};

/// The name the worker is registered under (`{local, worker}`).
const NAME: &str = "worker";

/// One key and its value (the Erlang module's `#state{key, value}`).
pub struct Worker {
    key: String,
    value: String,
}

#[gen_server]
impl Worker {
    /// Saves `key` with `value`, and asks for a `Timeout` as soon as the mailbox
    /// is empty.
    #[init]
    fn init((key, value): (String, String), ctx: &mut Context<Self>) -> Self {
        println!(
            "  Saving key: {key:?} with value {value:?}, self: {}",
            ctx.pid()
        );
        ctx.set_timeout(Duration::ZERO);
        Worker { key, value }
    }

    /// The value of `key`, if it is the key the worker holds.
    #[call]
    fn query(&self, key: String) -> Option<String> {
        (key == self.key).then(|| self.value.clone())
    }

    /// Replaces the key and value; gives them back.
    #[call]
    fn set(&mut self, key: String, value: String) -> (String, String) {
        self.key = key;
        self.value = value;
        (self.key.clone(), self.value.clone())
    }

    /// Prints the value of `key`, from the worker itself.
    #[cast]
    fn show(&self, key: String, ctx: &mut Context<Self>) {
        if key == self.key {
            println!(
                "  show, key {key:?} value {:?}, self: {}",
                self.value,
                ctx.pid()
            );
        } else {
            println!(
                "  show, key {key:?}: not the key I hold, self: {}",
                ctx.pid()
            );
        }
    }

    /// The idle timeout from init went off.
    #[info]
    fn timeout(&mut self, _: Timeout) {
        println!("  Timeout");
    }

    /// Prints why the worker ends.
    #[terminate]
    fn terminate(&mut self, reason: &ExitReason, ctx: &mut Context<Self>) {
        println!("  terminate reason {reason}, self: {}", ctx.pid());
    }
}

// One thread: the worker's own lines (init, `Timeout`, `show`) then interleave with
// this transcript the same way on every run.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_logging();

    println!("== start, registered as {NAME:?}");
    println!("> Worker::start((\"0x01f\", \"test\")).name({NAME:?})");
    // The Erlang original gives init 10 ms; a busy machine deserves more.
    let started = Worker::start(("0x01f".to_string(), "test".to_string()))
        .name(NAME)
        .init_timeout(Duration::from_secs(1))
        .await;
    print_result(&started);
    let Ok(worker) = started else {
        return;
    };

    // A name belongs to one running server at a time; init does not run again.
    println!("> Worker::start((\"0x02a\", \"other\")).name({NAME:?})");
    let again = Worker::start(("0x02a".to_string(), "other".to_string()))
        .name(NAME)
        .await;
    print_result(&again);

    println!();
    println!("== found by name");
    println!("> gensrv::whereis({NAME:?})");
    println!("{:?}", gensrv::whereis(NAME));
    println!("> Worker::whereis({NAME:?})");
    let found = Worker::whereis(NAME);
    println!("{found:?}");
    println!("  (the same server: {})", found.as_ref() == Some(&worker));

    println!();
    println!("== calls and a cast");
    println!("> worker.show(\"0x01f\")");
    if let Err(error) = worker.show("0x01f".to_string()) {
        println!("Err({error:?})   ({error})");
    }
    // A cast gets no reply: the line it causes comes from the worker. The query
    // is queued behind it, so once the query is answered that line is out.
    let value = worker.query("0x01f".to_string()).await;
    println!("> worker.query(\"0x01f\")");
    print_result(&value);
    println!("> worker.set(\"0x02a\", \"hello\")");
    print_result(&worker.set("0x02a".to_string(), "hello".to_string()).await);
    println!("> worker.query(\"0x01f\")");
    print_result(&worker.query("0x01f".to_string()).await);
    println!("> worker.query(\"0x02a\")");
    print_result(&worker.query("0x02a".to_string()).await);

    println!();
    println!("== stop");
    // gen_server:stop(worker): find the server by its name, then stop it.
    println!("> Worker::whereis({NAME:?}).map(|w| w.stop())");
    match Worker::whereis(NAME) {
        Some(by_name) => print_result(&by_name.stop().await),
        None => println!("None: no worker is registered"),
    }
    // The name went with the server.
    println!("> Worker::whereis({NAME:?})");
    println!("{:?}", Worker::whereis(NAME));
    println!("> worker.query(\"0x02a\")");
    print_result(&worker.query("0x02a".to_string()).await);
    println!("> worker.exited().await");
    println!("{:?}", worker.exited().await);
}
