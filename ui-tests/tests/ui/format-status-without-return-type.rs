use gensrv::gen_server;

struct Account {
    user: String,
}

#[gen_server]
impl Account {
    #[format_status]
    fn status(&self) {
        println!("{}", self.user);
    }
}

fn main() {}
