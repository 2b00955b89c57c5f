use gensrv::gen_server;

struct Greeter;

#[gen_server]
impl Greeter {
    #[call]
    fn greet(&self, name: impl Into<String>) -> String {
        format!("hello, {}", name.into())
    }
}

fn main() {}
