//! Any method name is a handler name: names whose variant (their UpperCamelCase)
//! would not be an identifier on its own, such as `_1` (`1`), still work.

use gensrv::gen_server;
use gensrv_tests::within;

struct Numbered {
    casts: Vec<String>,
}

#[gen_server]
impl Numbered {
    #[cast]
    fn _1(&mut self) {
        self.casts.push("_1".to_string());
    }

    #[cast]
    fn _1_2(&mut self, tag: String) {
        self.casts.push(tag);
    }

    #[call]
    fn _0(&self) -> Vec<String> {
        self.casts.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_named_like_numbers_are_dispatched() {
    let server = Numbered::start(Numbered { casts: vec![] }).await.unwrap();
    server._1().unwrap();
    server._1_2("_1_2".to_string()).unwrap();
    assert_eq!(within(2, server._0()).await.unwrap(), ["_1", "_1_2"]);
    assert!(matches!(NumberedCast::_1, NumberedCast::_1));
    assert!(matches!(
        NumberedCast::_12 { tag: String::new() },
        NumberedCast::_12 { .. }
    ));
}
