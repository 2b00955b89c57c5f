use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[call]
    fn get(self: Box<Self>) -> u32 {
        self.0
    }
}

fn main() {}
