use gensrv::{Context, gen_server};

struct Holder<T>(T);

#[gen_server]
impl<T: Clone + Send + 'static> Holder<T> {
    #[call]
    fn get(self, ctx: &mut Context<Self>) -> T {
        let _ = ctx;
        self.0
    }
}

fn main() {}
