use gensrv::gen_server;

struct Loader(Vec<u8>);

#[gen_server]
impl Loader {
    #[handle_continue]
    fn load(&mut self) {
        self.0.clear();
    }
}

fn main() {}
