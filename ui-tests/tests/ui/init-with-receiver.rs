use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[init]
    fn init(&self) -> Self {
        Counter(self.0)
    }
}

fn main() {}
