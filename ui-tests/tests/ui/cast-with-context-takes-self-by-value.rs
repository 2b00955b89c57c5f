use gensrv::{Context, gen_server};

struct Counter(u32);

#[gen_server]
impl Counter {
    #[cast]
    fn bump(mut self, ctx: &mut Context<Self>) {
        let _ = ctx;
        self.0 += 1;
    }
}

fn main() {}
