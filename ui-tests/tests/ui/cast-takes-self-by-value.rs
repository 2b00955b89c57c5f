use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[cast]
    fn bump(mut self) {
        self.0 += 1;
    }
}

fn main() {}
