use gensrv::{Context, gen_server};

struct Counter(u32);

#[gen_server]
impl Counter {
    #[call]
    fn get(&self, ctx: Context<Self>) -> u32 {
        let _ = ctx;
        self.0
    }
}

fn main() {}
