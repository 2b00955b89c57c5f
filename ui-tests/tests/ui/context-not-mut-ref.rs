use gensrv::{Context, gen_server};

struct Counter(u32);

#[gen_server]
impl Counter {
    #[cast]
    fn add(&mut self, n: u32, ctx: &Context<Self>) {
        let _ = ctx;
        self.0 += n;
    }
}

fn main() {}
