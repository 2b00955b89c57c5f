use gensrv::gen_server;

struct Account {
    password: String,
}

#[gen_server]
impl Account {
    #[format_status]
    fn status(&mut self) -> String {
        self.password.clear();
        "Account".to_string()
    }
}

fn main() {}
