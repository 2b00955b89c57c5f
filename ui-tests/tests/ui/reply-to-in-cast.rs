use gensrv::{ReplyTo, gen_server};

struct Counter(u32);

#[gen_server]
impl Counter {
    #[cast]
    fn get(&self, reply: ReplyTo<u32>) {
        reply.send(self.0);
    }
}

fn main() {}
