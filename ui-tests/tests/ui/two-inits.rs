use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[init]
    fn init() -> Self {
        Counter(0)
    }

    #[init]
    fn init_from(start: u32) -> Self {
        Counter(start)
    }
}

fn main() {}
