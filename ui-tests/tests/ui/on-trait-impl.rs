use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Default for Counter {
    fn default() -> Self {
        Counter(0)
    }
}

fn main() {}
