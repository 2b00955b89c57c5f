use gensrv::gen_server;

struct Counter(u64);

#[gen_server]
impl Counter {
    #[call]
    fn get(&self) -> u64 {
        self.0
    }

    #[terminate]
    fn terminate(&mut self, code: i32) {
        let _ = code;
    }
}

async fn use_it() {
    let counter: CounterRef = Counter::start(Counter(0)).await.unwrap();
    let _: u64 = counter.get().await.unwrap();
    counter.stop().await.unwrap();
}

fn main() {
    let _ = use_it;
}
