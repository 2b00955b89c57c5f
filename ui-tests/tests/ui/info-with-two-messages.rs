use gensrv::gen_server;

struct Clock(u64);

#[gen_server]
impl Clock {
    #[info]
    fn tick(&mut self, by: u64, times: u64) {
        self.0 += by * times;
    }
}

fn main() {}
