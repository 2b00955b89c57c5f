// gensrv without its `remote` feature (the ui-tests crate's default).
use gensrv::gen_server;

struct Echo;

#[gen_server(remote)]
impl Echo {
    #[call]
    fn echo(&self, text: String) -> String {
        text
    }
}

fn main() {}
