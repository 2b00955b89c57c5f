use gensrv::gen_server;

struct Clock(u64);

struct Tick;

#[gen_server]
impl Clock {
    #[info]
    fn tick(&mut self, _: Tick) {
        self.0 += 1;
    }

    #[info]
    fn tock(&mut self, _: Tick) {
        self.0 += 1;
    }
}

fn main() {}
