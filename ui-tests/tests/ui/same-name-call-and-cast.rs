use gensrv::gen_server;

struct Counter(u64);

#[gen_server]
impl Counter {
    #[call]
    fn get(&self) -> u64 {
        self.0
    }

    #[cast]
    fn get(&mut self) {}
}

fn main() {}
