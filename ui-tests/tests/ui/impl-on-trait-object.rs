use gensrv::gen_server;

trait Greet {}

#[gen_server]
impl dyn Greet {
    #[call]
    fn greeting(&self) -> String {
        String::new()
    }
}

fn main() {}
