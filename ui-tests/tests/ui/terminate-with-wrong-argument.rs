use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[terminate]
    fn terminate(&mut self, code: i32) {
        let _ = (self.0, code);
    }
}

fn main() {}
