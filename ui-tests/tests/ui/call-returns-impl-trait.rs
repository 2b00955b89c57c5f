use gensrv::gen_server;

struct Greeter;

#[gen_server]
impl Greeter {
    #[call]
    fn greeting(&self) -> impl std::fmt::Display {
        "hello"
    }
}

fn main() {}
