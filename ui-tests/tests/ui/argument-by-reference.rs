use gensrv::gen_server;

struct Greeter;

#[gen_server]
impl Greeter {
    #[call]
    fn greet(&self, name: &str) -> String {
        format!("hello, {name}")
    }
}

fn main() {}
