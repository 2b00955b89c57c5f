use std::rc::Rc;

use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[cast]
    fn add(&mut self, n: Rc<u32>) {
        self.0 += *n;
    }
}

fn main() {}
