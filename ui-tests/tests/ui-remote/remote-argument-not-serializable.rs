use gensrv::gen_server;

/// Not `Serialize` nor `Deserialize`: it cannot travel.
struct NotSerde(String);

struct Printer;

#[gen_server(remote)]
impl Printer {
    #[cast]
    fn print(&mut self, text: NotSerde) {
        println!("{}", text.0);
    }

    // The same type again: still one error, at the first.
    #[call]
    fn measure(&self, text: NotSerde) -> usize {
        text.0.len()
    }
}

fn main() {}
