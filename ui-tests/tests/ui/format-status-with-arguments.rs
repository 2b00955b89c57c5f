use gensrv::gen_server;

struct Account {
    user: String,
}

#[gen_server]
impl Account {
    #[format_status]
    fn status(&self, verbose: bool) -> String {
        if verbose { self.user.clone() } else { String::new() }
    }
}

fn main() {}
