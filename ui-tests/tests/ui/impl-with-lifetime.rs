use gensrv::gen_server;

struct Greeter<'a>(&'a str);

#[gen_server]
impl<'a> Greeter<'a> {
    #[call]
    fn greeting(&self) -> String {
        self.0.to_string()
    }
}

fn main() {}
