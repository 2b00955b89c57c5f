use gensrv::gen_server;

struct Logger;

#[gen_server(remote)]
impl Logger {
    // A trait object: serde can neither write nor read it.
    #[cast]
    fn log(&mut self, line: Box<dyn std::fmt::Debug + Send>) {
        println!("{line:?}");
    }
}

fn main() {}
