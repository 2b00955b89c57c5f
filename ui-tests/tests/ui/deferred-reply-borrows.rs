use gensrv::{ReplyTo, gen_server};

struct Names(Vec<String>);

#[gen_server]
impl Names {
    #[call]
    fn first(&self, reply: ReplyTo<Option<&String>>) {
        let _ = reply;
    }
}

fn main() {}
