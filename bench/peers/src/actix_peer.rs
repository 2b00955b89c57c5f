//! actix: an `Actor` with a `Handler` per message, `send` for the call and `do_send`
//! for the cast, as actix's docs show. `started` and `stopped` signal a oneshot, so
//! that `start` and `stop` can be awaited like the others'.
//!
//! actix runs on its own `System` (a tokio current_thread runtime with a `LocalSet`).
//! For [`Flavor::Multi`]`(n)` it adds n − 1 `Arbiter`s (threads) and puts servers and
//! helper tasks round robin on them and the System's own arbiter, starting with an
//! added one: with 2, a lone server runs on the other thread than its client.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::contestant::{Contestant, Flavor};

pub struct Counter {
    n: u64,
    started: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Sender<()>>,
}

impl Actor for Counter {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if let Some(tx) = self.started.take() {
            let _ = tx.send(());
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(tx) = self.stopped.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Message)]
#[rtype(result = "u64")]
pub struct Get;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Add(u64);

#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Get> for Counter {
    type Result = u64;

    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
        self.n
    }
}

impl Handler<Add> for Counter {
    type Result = ();

    fn handle(&mut self, Add(n): Add, _: &mut Context<Self>) {
        self.n += n;
    }
}

impl Handler<Stop> for Counter {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// The arbiters servers and helper tasks go to, round robin; empty on one thread.
static ARBITERS: Mutex<Vec<ArbiterHandle>> = Mutex::new(Vec::new());
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn next_arbiter() -> Option<ArbiterHandle> {
    let arbiters = ARBITERS.lock().unwrap();
    if arbiters.is_empty() {
        return None;
    }
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % arbiters.len();
    Some(arbiters[i].clone())
}

pub struct Server {
    addr: Addr<Counter>,
    stopped: oneshot::Receiver<()>,
}

pub struct Actix;

impl Contestant for Actix {
    const NAME: &'static str = "actix";
    type Server = Server;
    type Client = Addr<Counter>;

    async fn start() -> Server {
        let (started, is_started) = oneshot::channel();
        let (stopped, is_stopped) = oneshot::channel();
        let counter = Counter {
            n: 0,
            started: Some(started),
            stopped: Some(stopped),
        };
        let addr = match next_arbiter() {
            Some(arbiter) => Counter::start_in_arbiter(&arbiter, move |_| counter),
            None => counter.start(),
        };
        is_started.await.expect("started");
        Server {
            addr,
            stopped: is_stopped,
        }
    }

    fn client(server: &Server) -> Addr<Counter> {
        server.addr.clone()
    }

    async fn call(client: &Addr<Counter>) -> u64 {
        client.send(Get).await.expect("send")
    }

    async fn cast(client: &Addr<Counter>, n: u64) {
        client.do_send(Add(n));
    }

    async fn stop(server: Server) {
        server.addr.do_send(Stop);
        server.stopped.await.expect("stopped");
    }

    fn run<F>(flavor: Flavor, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        System::new().block_on(async move {
            let added: Vec<Arbiter> = match flavor {
                Flavor::Current => Vec::new(),
                Flavor::Multi(n) => (1..n).map(|_| Arbiter::new()).collect(),
            };
            {
                let mut arbiters = ARBITERS.lock().unwrap();
                arbiters.clear();
                if !added.is_empty() {
                    arbiters.extend(added.iter().map(Arbiter::handle));
                    arbiters.push(Arbiter::current());
                }
                NEXT.store(0, Ordering::Relaxed);
            }
            let out = actix::spawn(f).await.expect("client task");
            ARBITERS.lock().unwrap().clear();
            for arbiter in added {
                arbiter.stop();
                let _ = arbiter.join();
            }
            out
        })
    }

    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let task = async move {
            let _ = tx.send(f.await);
        };
        match next_arbiter() {
            Some(arbiter) => {
                arbiter.spawn(task);
            }
            None => {
                actix::spawn(task);
            }
        }
        async move { rx.await.expect("helper task") }
    }
}
