use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[call]
    const ZERO: u32 = 0;
}

fn main() {}
