//! ractor: an `Actor` whose state is the count, a message enum with an `RpcReplyPort`
//! for the call, `call!` and `cast`, as ractor's docs show.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

use crate::contestant::Contestant;

pub struct Counter;

pub enum Msg {
    Get(RpcReplyPort<u64>),
    Add(u64),
}

impl Actor for Counter {
    type Msg = Msg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Msg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<Msg>,
        msg: Msg,
        state: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Get(reply) => {
                let _ = reply.send(*state);
            }
            Msg::Add(n) => *state += n,
        }
        Ok(())
    }
}

pub struct Ractor;

impl Contestant for Ractor {
    const NAME: &'static str = "ractor";
    type Server = (ActorRef<Msg>, JoinHandle<()>);
    type Client = ActorRef<Msg>;

    async fn start() -> Self::Server {
        Actor::spawn(None, Counter, ()).await.expect("spawn")
    }

    fn client(server: &Self::Server) -> ActorRef<Msg> {
        server.0.clone()
    }

    async fn call(client: &ActorRef<Msg>) -> u64 {
        ractor::call!(client, Msg::Get).expect("call")
    }

    async fn cast(client: &ActorRef<Msg>, n: u64) {
        client.cast(Msg::Add(n)).expect("cast");
    }

    async fn stop((actor, task): Self::Server) {
        actor.stop(None);
        task.await.expect("actor task");
    }
}
