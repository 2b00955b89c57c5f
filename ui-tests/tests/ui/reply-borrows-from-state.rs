use gensrv::gen_server;

struct Names(Vec<String>);

#[gen_server]
impl Names {
    #[call]
    fn first(&self) -> Option<&String> {
        self.0.first()
    }
}

fn main() {}
