use gensrv::gen_server;

struct Account {
    balance: u64,
}

#[gen_server]
impl Account {
    #[call]
    #[format_status]
    fn status(&self) -> String {
        format!("Account {{ balance: {} }}", self.balance)
    }
}

fn main() {}
