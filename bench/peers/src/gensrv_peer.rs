//! gensrv: the counter written with `#[gen_server]`.

use gensrv::gen_server;

use crate::contestant::Contestant;

#[derive(Default)]
pub struct Counter {
    n: u64,
}

#[gen_server]
impl Counter {
    /// The current count.
    #[call]
    fn get(&self) -> u64 {
        self.n
    }

    /// Adds `n` to the count.
    #[cast]
    fn add(&mut self, n: u64) {
        self.n += n;
    }
}

pub struct Gensrv;

impl Contestant for Gensrv {
    const NAME: &'static str = "gensrv";
    type Server = CounterRef;
    type Client = CounterRef;

    async fn start() -> CounterRef {
        Counter::start(Counter::default()).await.expect("start")
    }

    fn client(server: &CounterRef) -> CounterRef {
        server.clone()
    }

    async fn call(client: &CounterRef) -> u64 {
        client.get().await.expect("call")
    }

    async fn cast(client: &CounterRef, n: u64) {
        client.add(n).expect("cast");
    }

    async fn stop(server: CounterRef) {
        server.stop().await.expect("stop");
    }
}
