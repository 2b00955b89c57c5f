use gensrv::gen_server;

struct Logger;

#[gen_server]
impl Logger {
    #[cast]
    fn log<'a>(&self, line: String) {
        println!("{line}");
    }
}

fn main() {}
