use gensrv::{Context, gen_server};

struct Counter(u32);

#[gen_server]
impl Counter {
    #[cast]
    fn add(&mut self, n: u32, ctx: &mut Context<Self>, again: &mut Context<Self>) {
        let _ = (ctx, again);
        self.0 += n;
    }
}

fn main() {}
