use gensrv::gen_server;

#[gen_server]
fn counter() -> u32 {
    0
}

fn main() {}
