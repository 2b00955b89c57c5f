use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[call]
    #[cast]
    fn get(&self) -> u32 {
        self.0
    }
}

fn main() {}
