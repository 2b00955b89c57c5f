//! The hand-written tokio server every figure is compared with: a task owning a
//! `u64`, one unbounded mpsc carrying a request enum, one oneshot per call for the
//! reply; no timeout, no process table, no panic catching. The same as the
//! `tokio_baseline` of `gensrv/benches/round_trip.rs`.

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::contestant::Contestant;

enum Request {
    Get(oneshot::Sender<u64>),
    Add(u64),
    Stop,
}

pub struct Server {
    client: Client,
    task: JoinHandle<()>,
}

#[derive(Clone)]
pub struct Client {
    mailbox: mpsc::UnboundedSender<Request>,
}

pub struct Handwritten;

impl Contestant for Handwritten {
    const NAME: &'static str = "tokio (by hand)";
    type Server = Server;
    type Client = Client;

    async fn start() -> Server {
        let (mailbox, mut inbox) = mpsc::unbounded_channel();
        let (ack, acked) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut state = 0u64;
            let _ = ack.send(());
            while let Some(request) = inbox.recv().await {
                match request {
                    Request::Get(reply) => {
                        let _ = reply.send(state);
                    }
                    Request::Add(n) => state += n,
                    Request::Stop => break,
                }
            }
        });
        acked.await.expect("init");
        Server {
            client: Client { mailbox },
            task,
        }
    }

    fn client(server: &Server) -> Client {
        server.client.clone()
    }

    async fn call(client: &Client) -> u64 {
        let (reply, replied) = oneshot::channel();
        let _ = client.mailbox.send(Request::Get(reply));
        replied.await.expect("reply")
    }

    async fn cast(client: &Client, n: u64) {
        let _ = client.mailbox.send(Request::Add(n));
    }

    async fn stop(server: Server) {
        let _ = server.client.mailbox.send(Request::Stop);
        server.task.await.expect("server task");
    }
}
