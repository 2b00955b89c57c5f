use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[terminate]
    fn terminate(&mut self) {}

    #[terminate]
    fn cleanup(&mut self) {}
}

fn main() {}
