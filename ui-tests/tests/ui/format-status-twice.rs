use gensrv::gen_server;

struct Account {
    user: String,
}

#[gen_server]
impl Account {
    #[format_status]
    fn status(&self) -> String {
        self.user.clone()
    }

    #[format_status]
    fn short_status(&self) -> String {
        "Account".to_string()
    }
}

fn main() {}
