use gensrv::gen_server;

struct Logger;

#[gen_server]
impl Logger {
    #[cast]
    fn log<T: std::fmt::Display + Send + 'static>(&self, line: T) {
        println!("{line}");
    }
}

fn main() {}
