//! A node for the distribution tests: starts a node on a free port of 127.0.0.1,
//! starts an echo server (registered under the global name given as the first
//! argument, if any), prints `READY <endpoint> <node id> <pid index>`, and runs
//! until its standard input closes (its parent ended) or it is killed.

use std::io::Read;

use gensrv::remote::{Node, NodeConfig};
use gensrv_tests::remote::{Echo, Relay, free_port};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut last = None;
    for _ in 0..5 {
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let mut config = NodeConfig::default().listen([endpoint.clone()]);
        // A short lease, for the tests of a node that falls silent.
        if let Some(ms) = std::env::var("GENSRV_TEST_LEASE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            config = config.lease(std::time::Duration::from_millis(ms));
        }
        match Node::start(config).await {
            Ok(node) => {
                let echo = Echo::start().await.expect("echo starts");
                // A claim that loses at once still reports its pid (now dead):
                // the clash test calls it.
                if let Some(name) = std::env::args().nth(1) {
                    let _ = node.register_global(&echo, &name).await;
                }
                // A relay too, for the tests of handles sent between processes:
                // registered as `relay-<node id>`.
                let relay = Relay::start(Relay::default()).await.expect("relay starts");
                node.register_global(&relay, &format!("relay-{}", node.id()))
                    .await
                    .expect("the relay's name is free");
                let index = Node::__index(echo.pid());
                println!("READY {endpoint} {} {index}", node.id());
                // Until the parent goes: a read on a blocking thread.
                let _ = tokio::task::spawn_blocking(|| {
                    let _ = std::io::stdin().read_to_end(&mut Vec::new());
                })
                .await;
                return;
            }
            // The port was taken between the probe and the listen: another one.
            Err(e) => last = Some(e),
        }
    }
    panic!("no node started: {last:?}");
}
