use gensrv::gen_server;

struct Cache<V> {
    value: Option<V>,
}

#[gen_server(remote)]
impl<V: Clone + Send + 'static> Cache<V> {
    #[call]
    fn get(&self) -> Option<V> {
        self.value.clone()
    }
}

fn main() {}
