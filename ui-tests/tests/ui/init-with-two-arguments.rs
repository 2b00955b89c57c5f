use gensrv::gen_server;

struct Point(i32, i32);

#[gen_server]
impl Point {
    #[init]
    fn init(x: i32, y: i32) -> Self {
        Point(x, y)
    }
}

fn main() {}
