use gensrv::gen_server;

struct Sheep(String);

#[gen_server]
impl Sheep {
    #[call]
    fn clone(&self) -> String {
        self.0.clone()
    }
}

fn main() {}
