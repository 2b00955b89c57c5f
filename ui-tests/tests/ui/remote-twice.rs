use gensrv::gen_server;

struct Echo;

#[gen_server(remote, remote)]
impl Echo {
    #[call]
    fn echo(&self, text: String) -> String {
        text
    }
}

fn main() {}
