use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[cfg_attr(all(), handle_call)]
    fn get(&self) -> u32 {
        self.0
    }
}

fn main() {}
