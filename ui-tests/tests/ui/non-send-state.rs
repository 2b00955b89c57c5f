use std::rc::Rc;

use gensrv::gen_server;

struct Counter(Rc<u32>);

#[gen_server]
impl Counter {
    #[call]
    fn get(&self) -> u32 {
        *self.0
    }
}

fn main() {}
