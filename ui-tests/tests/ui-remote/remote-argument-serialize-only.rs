use gensrv::gen_server;

/// Written to the wire, but never read back: not enough.
#[derive(serde::Serialize)]
struct Report {
    lines: Vec<String>,
}

struct Archive;

#[gen_server(remote)]
impl Archive {
    #[cast]
    fn store(&mut self, report: Report) {
        drop(report);
    }
}

fn main() {}
