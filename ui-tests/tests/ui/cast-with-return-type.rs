use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[cast]
    fn bump(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

fn main() {}
