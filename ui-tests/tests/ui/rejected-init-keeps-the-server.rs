use gensrv::gen_server;

struct Counter(u64);

#[gen_server]
impl Counter {
    #[init]
    fn init(start: u64) {
        let _ = start;
    }

    #[call]
    fn get(&self) -> u64 {
        self.0
    }
}

async fn use_it() {
    let counter: CounterRef = Counter::start(5).await.unwrap();
    let _: u64 = counter.get().await.unwrap();
}

fn main() {
    let _ = use_it;
}
