use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[call]
    fn zero() -> u32 {
        0
    }
}

fn main() {}
