//! Timers (`Context::send_after` / `send_interval` / `cancel_timer`): delivery on
//! schedule, no drift, nothing handled after a cancel, and no timer outliving its
//! server. Waits are bounded by `within`.

use std::time::{Duration, Instant};

use gensrv::{Context, TimerRef, gen_server};
use gensrv_tests::within;

/// A timer's message.
#[derive(Clone, Debug)]
struct Tick(u32);

/// Sets timers on itself and records each tick it handles, with the time.
#[derive(Default)]
struct Clock {
    ticks: Vec<(u32, Instant)>,
}

#[gen_server]
impl Clock {
    /// Sends itself `Tick(tag)` after `after`; gives the timer and when it was set.
    #[call]
    fn after(&mut self, after: Duration, tag: u32, ctx: &mut Context<Self>) -> (TimerRef, Instant) {
        let now = Instant::now();
        (ctx.send_after(after, Tick(tag)), now)
    }

    /// Sends itself `Tick(tag)` every `every`; gives the timer and when it was set.
    #[call]
    fn every(&mut self, every: Duration, tag: u32, ctx: &mut Context<Self>) -> (TimerRef, Instant) {
        let now = Instant::now();
        (ctx.send_interval(every, Tick(tag)), now)
    }

    /// Cancels `timer`; gives what `cancel_timer` said and how many ticks had been
    /// handled by then.
    #[call]
    fn cancel(&mut self, timer: TimerRef, ctx: &mut Context<Self>) -> (bool, usize) {
        (ctx.cancel_timer(timer), self.ticks.len())
    }

    /// Sets a one-shot timer of 0 ms (tag 1), a control one (tag 2) and an interval
    /// of 1 ms (tag 3); waits, not handling messages, while their messages queue up;
    /// then cancels the first and the interval.
    /// Gives what `cancel_timer` said of each.
    #[call]
    async fn cancel_queued(&mut self, ctx: &mut Context<Self>) -> (bool, bool) {
        let once = ctx.send_after(Duration::ZERO, Tick(1));
        ctx.send_after(Duration::ZERO, Tick(2));
        let interval = ctx.send_interval(Duration::from_millis(1), Tick(3));
        tokio::time::sleep(Duration::from_millis(30)).await;
        (ctx.cancel_timer(once), ctx.cancel_timer(interval))
    }

    #[info]
    fn tick(&mut self, tick: Tick) {
        self.ticks.push((tick.0, Instant::now()));
    }

    #[call]
    fn ticks(&self) -> Vec<(u32, Instant)> {
        self.ticks.clone()
    }
}

async fn clock() -> ClockRef {
    within(5, Clock::start(Clock::default())).await.unwrap()
}

/// Waits until the clock has handled `n` ticks.
async fn until_ticks(clock: &ClockRef, n: usize) -> Vec<(u32, Instant)> {
    within(5, async {
        loop {
            let ticks = clock.ticks().await.unwrap();
            if ticks.len() >= n {
                return ticks;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

fn tags(ticks: &[(u32, Instant)]) -> Vec<u32> {
    ticks.iter().map(|(tag, _)| *tag).collect()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits until the runtime has `n` tasks alive.
async fn until_alive_tasks(n: usize) {
    within(2, async {
        while alive_tasks() != n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_after_delivers_its_message_once_after_the_delay() {
    let clock = clock().await;
    let delay = Duration::from_millis(30);
    let (_, set_at) = within(5, clock.after(delay, 7)).await.unwrap();
    let ticks = until_ticks(&clock, 1).await;
    assert_eq!(tags(&ticks), vec![7]);
    assert!(ticks[0].1 >= set_at + delay, "not before its delay");
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        tags(&within(5, clock.ticks()).await.unwrap()),
        vec![7],
        "once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_interval_keeps_its_schedule_without_drift() {
    const TICKS: usize = 200;
    let period = Duration::from_millis(5);
    let clock = clock().await;
    let (timer, set_at) = within(5, clock.every(period, 1)).await.unwrap();
    let ticks = until_ticks(&clock, TICKS).await;
    within(5, clock.cancel(timer)).await.unwrap();

    // How late each tick was handled against its place in the schedule. A tick is
    // never early. A sleep-and-send loop falls ~1 ms further behind per tick
    // (tokio rounds each sleep up to the next millisecond): ~220 ms by the 200th,
    // more on a busy machine. On schedule, the last ticks are ~2 ms late; on a
    // machine so busy that the timer task misses whole periods, each skipped tick
    // adds 5 ms (~90 ms seen with both cores 3x oversubscribed).
    let lateness: Vec<Duration> = ticks[..TICKS]
        .iter()
        .enumerate()
        .map(|(i, (_, at))| {
            let due = set_at + period * (i as u32 + 1);
            assert!(*at >= due, "tick {} came {:?} early", i + 1, due - *at);
            *at - due
        })
        .collect();
    // The last ticks, not just the last one, so that one tick delayed by a busy
    // machine does not fail the test; drift delays all of them.
    let last = &lateness[TICKS - 10..];
    let best = *last.iter().min().unwrap();
    assert!(
        best < Duration::from_millis(150),
        "drift: the last ticks were {last:?} behind schedule"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_timer_stops_an_interval_and_says_whether_the_timer_was_active() {
    let clock = clock().await;
    let (interval, _) = within(5, clock.every(Duration::from_millis(2), 1))
        .await
        .unwrap();
    until_ticks(&clock, 3).await;
    let (was_active, handled) = within(5, clock.cancel(interval)).await.unwrap();
    assert!(was_active);
    tokio::time::sleep(Duration::from_millis(40)).await;
    let ticks = within(5, clock.ticks()).await.unwrap();
    assert_eq!(ticks.len(), handled, "no tick after cancel_timer returned");
    assert!(
        !within(5, clock.cancel(interval)).await.unwrap().0,
        "cancelled already"
    );

    // A one-shot timer that has fired is no longer active; one that has not is.
    let (fired, _) = within(5, clock.after(Duration::ZERO, 2)).await.unwrap();
    until_ticks(&clock, handled + 1).await;
    assert!(
        !within(5, clock.cancel(fired)).await.unwrap().0,
        "fired already"
    );
    let (pending, _) = within(5, clock.after(Duration::from_secs(3600), 3))
        .await
        .unwrap();
    assert!(
        within(5, clock.cancel(pending)).await.unwrap().0,
        "still pending"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_timer_drops_messages_already_queued() {
    let clock = clock().await;
    let (once_before_sent, interval_active) = within(5, clock.cancel_queued()).await.unwrap();
    // As OTP's `cancel_timer`: the one-shot timer had sent its message already; an
    // interval is always cancelled before its next one.
    assert!(!once_before_sent);
    assert!(interval_active);
    tokio::time::sleep(Duration::from_millis(30)).await;
    // The control timer, queued alongside, shows the cancelled messages were in the
    // mailbox; neither they nor the ~30 queued interval ticks are handled.
    assert_eq!(tags(&within(5, clock.ticks()).await.unwrap()), vec![2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_die_with_their_server() {
    let before = alive_tasks();
    let clock = clock().await;
    within(5, clock.every(Duration::from_secs(3600), 1))
        .await
        .unwrap();
    within(5, clock.after(Duration::from_secs(3600), 2))
        .await
        .unwrap();
    assert_eq!(alive_tasks(), before + 3, "the server and its two timers");
    within(5, clock.stop()).await.unwrap();
    until_alive_tasks(before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_die_with_a_killed_server() {
    let before = alive_tasks();
    let clock = clock().await;
    within(5, clock.every(Duration::from_secs(3600), 1))
        .await
        .unwrap();
    within(5, clock.after(Duration::from_secs(3600), 2))
        .await
        .unwrap();
    assert_eq!(alive_tasks(), before + 3, "the server and its two timers");
    clock.kill();
    within(5, clock.exited()).await;
    until_alive_tasks(before).await;
}
