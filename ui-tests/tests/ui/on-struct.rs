use gensrv::gen_server;

#[gen_server]
struct Counter(u32);

fn main() {}
