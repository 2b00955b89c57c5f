use gensrv::gen_server;
use gensrv::supervisor::DynamicSupervisorRef;

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

async fn start_worker(sup: DynamicSupervisorRef) {
    // Making the spec is fine; a supervisor cannot start it.
    let _ = sup.start_child(Worker::child_spec(Config)).await;
}

fn main() {
    let _ = start_worker;
}
