use gensrv::gen_server;

struct Adder;

#[gen_server]
impl Adder {
    #[call]
    fn add(&self, (a, b): (u32, u32)) -> u32 {
        a + b
    }
}

fn main() {}
