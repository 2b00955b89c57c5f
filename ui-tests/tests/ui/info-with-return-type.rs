use gensrv::gen_server;

struct Clock(u64);

struct Tick;

#[gen_server]
impl Clock {
    #[info]
    fn tick(&mut self, _: Tick) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn main() {}
