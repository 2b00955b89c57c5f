use gensrv::gen_server;

struct Account {
    balance: u64,
}

#[gen_server]
impl Account {
    #[format_status]
    fn status<T: Default>(&self) -> String {
        format!("Account {{ balance: {} }}", self.balance)
    }
}

fn main() {}
