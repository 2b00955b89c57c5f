use gensrv::gen_server;

struct Reading(f64);

struct Sensor;

#[gen_server(remote)]
impl Sensor {
    #[call]
    fn read(&self) -> Reading {
        Reading(21.5)
    }
}

fn main() {}
