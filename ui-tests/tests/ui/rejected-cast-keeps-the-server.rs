use gensrv::gen_server;

struct Counter(u64);

#[gen_server]
impl Counter {
    #[call]
    fn get(&self) -> u64 {
        self.0
    }

    #[cast]
    fn add(&mut self, n: u64) -> u64 {
        self.0 += n;
        self.0
    }
}

async fn use_it() {
    let counter: CounterRef = Counter::start(Counter(0)).await.unwrap();
    let _: u64 = counter.get().await.unwrap();
    counter.add(1).unwrap();
    let _ = Counter::whereis("counter");
    let _ = Counter::child_spec(Counter(0));
}

fn main() {
    let _ = use_it;
}
