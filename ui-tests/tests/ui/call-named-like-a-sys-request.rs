use gensrv::gen_server;

struct Counter {
    hits: u64,
}

#[gen_server]
impl Counter {
    #[call]
    fn statistics(&self) -> u64 {
        self.hits
    }
}

fn main() {}
