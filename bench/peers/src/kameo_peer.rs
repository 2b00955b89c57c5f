//! kameo: an actor with one `Message` impl per request, as kameo's README shows. Spawned
//! with an unbounded mailbox (kameo's default is bounded to 64), like every other
//! contestant here.

use kameo::Actor;
use kameo::actor::{ActorRef, Spawn};
use kameo::mailbox;
use kameo::message::{Context, Message};

use crate::contestant::Contestant;

#[derive(Actor, Default)]
pub struct Counter {
    n: u64,
}

pub struct Get;
pub struct Add(u64);

impl Message<Get> for Counter {
    type Reply = u64;

    async fn handle(&mut self, _: Get, _: &mut Context<Self, Self::Reply>) -> u64 {
        self.n
    }
}

impl Message<Add> for Counter {
    type Reply = ();

    async fn handle(&mut self, Add(n): Add, _: &mut Context<Self, Self::Reply>) {
        self.n += n;
    }
}

pub struct Kameo;

impl Contestant for Kameo {
    const NAME: &'static str = "kameo";
    type Server = ActorRef<Counter>;
    type Client = ActorRef<Counter>;

    async fn start() -> ActorRef<Counter> {
        let actor = Counter::spawn_with_mailbox(Counter::default(), mailbox::unbounded());
        actor.wait_for_startup().await;
        actor
    }

    fn client(server: &ActorRef<Counter>) -> ActorRef<Counter> {
        server.clone()
    }

    async fn call(client: &ActorRef<Counter>) -> u64 {
        client.ask(Get).await.expect("ask")
    }

    async fn cast(client: &ActorRef<Counter>, n: u64) {
        client.tell(Add(n)).await.expect("tell");
    }

    async fn stop(server: ActorRef<Counter>) {
        server.stop_gracefully().await.expect("stop");
        server.wait_for_shutdown().await;
    }
}
