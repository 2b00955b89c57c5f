//! Two actors that keep sending each other messages on timers: the `GenericActor1`
//! and `GenericActor2` of the article on GenServer and actors, which send each
//! other `:send_ok` with `Process.send_after` every 2 s.
//!
//! Actor 1 starts actor 2 linked to itself, from its init (the article's
//! `start_link` in `init`). Then they play ping-pong: each actor holds the ball
//! 100 ms (a timer it sets for itself) and throws it back (an info message to the
//! other), printing where it came from. After three rounds actor 2 leaves the
//! game. Actor 1 traps exits, so the link brings it an `Exit` message rather
//! than ending it; it says so and stops too.
//!
//! ```text
//! cargo run --example ping_pong
//! ```

use std::process::ExitCode;
use std::time::Duration;

use gensrv::{Context, Exit, ExitReason, Pid, StartError, gen_server};
use gensrv_examples::{init_logging, print_result};

/// How long an actor holds the ball before it throws it back (2 s in the article;
/// short here, so that the example ends quickly).
const HOLD: Duration = Duration::from_millis(100);

/// How many rounds actor 2 plays before it leaves.
const ROUNDS: u32 = 3;

/// The names the actors are registered under, as the article's are.
const ACTOR1: &str = "actor1";
const ACTOR2: &str = "actor2";

/// The ball, on its way from actor 1 to actor 2.
#[derive(Debug)]
pub struct Ping {
    /// Who threw it.
    pub from: Pid,
    /// Which round it starts.
    pub round: u32,
}

/// The ball, on its way back from actor 2 to actor 1.
#[derive(Debug)]
pub struct Pong {
    /// Who threw it.
    pub from: Pid,
    /// Which round it ends.
    pub round: u32,
}

/// Actor 1's timer went off: time to throw the ping of a round.
#[derive(Debug)]
pub struct ThrowPing {
    /// The round the ping starts.
    pub round: u32,
}

/// Actor 2's timer went off: time to throw the pong of a round.
#[derive(Debug)]
pub struct ThrowPong {
    /// The round the pong ends.
    pub round: u32,
}

/// Serves the ball to actor 2, which it starts, and gets it back.
pub struct Actor1 {
    partner: Actor2Ref,
}

#[gen_server]
impl Actor1 {
    /// Starts actor 2, linked, for a game of `rounds`; serves the first ball
    /// after a while.
    #[init]
    async fn init(rounds: u32, ctx: &mut Context<Self>) -> Result<Self, StartError> {
        // Actor 2's end, whatever its reason, is to come as an `Exit` message
        // instead of ending actor 1 (for an abnormal reason) or going unnoticed
        // (for a normal one).
        ctx.trap_exit(true);
        let partner = Actor2::start((ctx.this(), rounds))
            .name(ACTOR2)
            .link(ctx)
            .await?;
        println!(
            "  [actor 1 {}] started actor 2 {}, linked",
            ctx.pid(),
            partner.pid()
        );
        ctx.send_after(HOLD, ThrowPing { round: 1 });
        Ok(Actor1 { partner })
    }

    /// The ball is back: holds it, then serves the next round.
    #[info]
    fn pong(&mut self, pong: Pong, ctx: &mut Context<Self>) {
        println!("Actor 1 received pong {} from {}", pong.round, pong.from);
        ctx.send_after(
            HOLD,
            ThrowPing {
                round: pong.round + 1,
            },
        );
    }

    /// Throws the ball to actor 2.
    // A timer only sends to the server that set it (as `send_after(T, self(),
    // Msg)`), so the ball goes to the partner from here.
    #[info]
    fn throw(&mut self, throw: ThrowPing, ctx: &mut Context<Self>) {
        let ping = Ping {
            from: ctx.pid(),
            round: throw.round,
        };
        if let Err(error) = self.partner.send(ping) {
            println!("  [actor 1 {}] cannot throw: {error}", ctx.pid());
        }
    }

    /// A linked process ended. Actor 1 traps exits, so this is a message, not its
    /// own end: its partner has left, the game is over.
    #[info]
    fn partner_left(&mut self, exit: Exit, ctx: &mut Context<Self>) {
        println!(
            "  [actor 1 {}] Exit from {}: {}; game over",
            ctx.pid(),
            exit.pid,
            exit.reason
        );
        ctx.stop(ExitReason::Normal);
    }

    /// Says that actor 1 ends, and why.
    #[terminate]
    fn terminate(&mut self, reason: &ExitReason, ctx: &mut Context<Self>) {
        println!("  [actor 1 {}] stops: {reason}", ctx.pid());
    }
}

/// Returns the ball to actor 1, for a number of rounds.
pub struct Actor2 {
    partner: Actor1Ref,
    rounds: u32,
}

#[gen_server]
impl Actor2 {
    /// Plays `rounds` rounds with `partner`.
    #[init]
    fn init((partner, rounds): (Actor1Ref, u32)) -> Self {
        Actor2 { partner, rounds }
    }

    /// The ball arrives: holds it, then returns it. After its last round, leaves
    /// the game instead.
    #[info]
    fn ping(&mut self, ping: Ping, ctx: &mut Context<Self>) {
        if ping.round > self.rounds {
            println!(
                "Actor 2 received ping {} from {}: {} rounds are enough",
                ping.round, ping.from, self.rounds
            );
            // A normal end: it ends nobody else. Actor 1 hears of it only
            // because it traps exits.
            ctx.stop(ExitReason::Normal);
            return;
        }
        println!("Actor 2 received ping {} from {}", ping.round, ping.from);
        ctx.send_after(HOLD, ThrowPong { round: ping.round });
    }

    /// Throws the ball back to actor 1.
    #[info]
    fn throw(&mut self, throw: ThrowPong, ctx: &mut Context<Self>) {
        let pong = Pong {
            from: ctx.pid(),
            round: throw.round,
        };
        if let Err(error) = self.partner.send(pong) {
            println!("  [actor 2 {}] cannot throw: {error}", ctx.pid());
        }
    }

    /// Says that actor 2 ends, and why.
    #[terminate]
    fn terminate(&mut self, reason: &ExitReason, ctx: &mut Context<Self>) {
        println!("  [actor 2 {}] stops: {reason}", ctx.pid());
    }
}

// One thread: the actors' lines come in the order their messages make, and
// this script's own steps between `.await`s are never interleaved with them.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    init_logging();

    println!("== actor 1 starts actor 2, linked");
    println!("> Actor1::start({ROUNDS}).name({ACTOR1:?})");
    let started = Actor1::start(ROUNDS).name(ACTOR1).await;
    print_result(&started);
    let Ok(actor1) = started else {
        return ExitCode::FAILURE;
    };
    // No `.await` from here to the game's: the first ball is thrown only once
    // this script waits, so these lines come first on every run.
    println!("> Actor2::whereis({ACTOR2:?})");
    let Some(actor2) = Actor2::whereis(ACTOR2) else {
        println!("None: actor 2 is not running");
        return ExitCode::FAILURE;
    };
    println!("{actor2:?}");
    println!("> gensrv::process_info(actor2.pid())   (its parent and links)");
    match gensrv::process_info(actor2.pid()) {
        Some(info) => println!("parent: {:?}, links: {:?}", info.parent, info.links),
        None => println!("None: actor 2 is not running"),
    }

    println!();
    println!("== ping-pong, each actor holding the ball {HOLD:?}");
    // The game ends by itself; if it does not, the example says so and fails
    // rather than hang.
    println!("> actor1.exited().await");
    match tokio::time::timeout(Duration::from_secs(5), actor1.exited()).await {
        Ok(reason) => println!("{reason:?}"),
        Err(_) => {
            println!("still running after 5 s: the game is stuck");
            return ExitCode::FAILURE;
        }
    }
    println!("> actor2.exited().await");
    println!("{:?}", actor2.exited().await);
    // Both names went with their servers.
    println!("> Actor1::whereis({ACTOR1:?}), Actor2::whereis({ACTOR2:?})");
    println!(
        "{:?}, {:?}",
        Actor1::whereis(ACTOR1),
        Actor2::whereis(ACTOR2)
    );
    ExitCode::SUCCESS
}
