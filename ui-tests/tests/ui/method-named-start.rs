use gensrv::gen_server;

struct Engine(bool);

#[gen_server]
impl Engine {
    #[cast]
    fn start(&mut self) {
        self.0 = true;
    }
}

fn main() {}
