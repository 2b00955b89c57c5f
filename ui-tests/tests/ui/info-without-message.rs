use gensrv::gen_server;

struct Clock(u64);

#[gen_server]
impl Clock {
    #[info]
    fn tick(&mut self) {
        self.0 += 1;
    }
}

fn main() {}
