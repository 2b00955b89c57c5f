use gensrv::gen_server;

struct Counter(u32);

#[gen_server]
impl Counter {
    #[call]
    fn get_count(&self) -> u32 {
        self.0
    }

    #[call]
    #[allow(non_snake_case)]
    fn getCount(&self) -> u32 {
        self.0
    }
}

fn main() {}
