use gensrv::gen_server;
use gensrv::supervisor::{Strategy, Supervisor};

/// Not `Clone`: every start and restart of a child needs its own.
struct Config;

struct Worker;

#[gen_server]
impl Worker {
    #[init]
    fn init(config: Config) -> Self {
        let _ = config;
        Worker
    }
}

fn main() {
    // Making the spec is fine; a supervisor cannot take it.
    let spec = Worker::child_spec(Config).with_id("worker");
    let _ = Supervisor::new(Strategy::OneForOne).child(spec);
}
