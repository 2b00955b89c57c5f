use gensrv::{gen_server, ReplyTo};

struct Ticket(u64);

struct Queue {
    waiting: Vec<ReplyTo<Ticket>>,
}

#[gen_server(remote)]
impl Queue {
    #[call]
    fn wait(&mut self, reply: ReplyTo<Ticket>) {
        self.waiting.push(reply);
    }
}

fn main() {}
