use gensrv::gen_server;

struct Job;

#[gen_server]
impl Job {
    #[cast]
    fn stop(&mut self) {}
}

fn main() {}
