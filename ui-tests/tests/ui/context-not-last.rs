use gensrv::{Context, gen_server};

struct Counter(u32);

#[gen_server]
impl Counter {
    #[cast]
    fn add(&mut self, ctx: &mut Context<Self>, n: u32) {
        let _ = ctx;
        self.0 += n;
    }
}

fn main() {}
