use gensrv::gen_server;

struct Account {
    users: Vec<String>,
}

#[gen_server]
impl Account {
    #[format_status]
    fn status(&self) -> Vec<String> {
        self.users.clone()
    }
}

fn main() {}
