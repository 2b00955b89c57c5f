use gensrv::gen_server;

struct Clock(u64);

struct Tick;

#[gen_server]
impl Clock {
    #[call]
    fn now(&self) -> u64 {
        self.0
    }

    #[info]
    fn tick(self, _: Tick) {}
}

async fn use_it() {
    let clock: ClockRef = Clock::start(Clock(0)).await.unwrap();
    clock.send(Tick).unwrap();
    let _: u64 = clock.now().await.unwrap();
}

fn main() {
    let _ = use_it;
}
