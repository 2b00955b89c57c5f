use gensrv::gen_server;

struct Account {
    user: String,
}

#[gen_server]
impl Account {
    #[format_status]
    async fn status(&self) -> String {
        self.user.clone()
    }
}

fn main() {}
