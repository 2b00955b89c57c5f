use gensrv::gen_server;

struct Mailer;

#[gen_server]
impl Mailer {
    #[call]
    fn send(&self, reply_to: String) -> bool {
        !reply_to.is_empty()
    }
}

fn main() {}
