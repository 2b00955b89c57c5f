use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[init]
    fn init(start: u32) {
        let _ = start;
    }
}

fn main() {}
