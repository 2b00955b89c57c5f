use std::rc::Rc;

use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[call]
    fn get(&self) -> Rc<u32> {
        Rc::new(self.0)
    }
}

fn main() {}
