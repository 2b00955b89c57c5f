//! A flood of casts from many tasks at a slow server with a bounded mailbox
//! (`Start::mailbox`): every cast is handled or refused with `CastError::Full`,
//! the mailbox never holds more than its capacity, and memory stays put; the
//! same flood at an unbounded mailbox queues and grows without limit. A file of
//! its own: resident memory is the process's, and tests running beside it would
//! show in it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use gensrv::CastError;
use gensrv_tests::{Slow, SlowRef, within};

/// Resident memory of this process, in bytes.
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Floods `server` with casts from `tasks` tasks for `for_how_long`, while a
/// watcher samples its mailbox; gives (casts taken, casts refused, the longest
/// mailbox seen, the most resident memory grew).
async fn flood(server: &SlowRef, tasks: usize, for_how_long: Duration) -> (u64, u64, usize, usize) {
    let taken = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let before = resident();
    let watcher = tokio::spawn({
        let pid = server.pid();
        let stop = stop.clone();
        async move {
            let (mut longest, mut grew) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                if let Some(info) = gensrv::process_info(pid) {
                    longest = longest.max(info.mailbox_len);
                }
                grew = grew.max(resident().saturating_sub(before));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (longest, grew)
        }
    });
    let senders: Vec<_> = (0..tasks)
        .map(|_| {
            let server = server.clone();
            let (taken, refused, stop) = (taken.clone(), refused.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match server.work(vec![0; 64]) {
                        Ok(()) => taken.fetch_add(1, Ordering::Relaxed),
                        Err(CastError::Full) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(other) => panic!("{other}"),
                    };
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    tokio::time::sleep(for_how_long).await;
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        within(5, sender).await.unwrap();
    }
    let (longest, grew) = within(5, watcher).await.unwrap();
    (
        taken.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        longest,
        grew,
    )
}

// One test for both floods, the bounded one first: resident memory is the
// process's, and the unbounded flood's would show in the bounded one's figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_casts_stays_within_the_capacity_and_every_cast_is_counted() {
    const CAPACITY: usize = 256;
    let server = Slow::start(Slow::default())
        .mailbox(CAPACITY)
        .await
        .unwrap();
    let (taken, refused, longest, grew) = flood(&server, 16, Duration::from_millis(500)).await;
    // Everything taken is handled, nothing more: the call below comes after all.
    let handled = within(10, server.handled()).await.unwrap();
    println!(
        "bounded({CAPACITY}): {taken} casts taken and handled, {refused} refused, \
         longest mailbox {longest}, resident grew by {grew} bytes"
    );
    assert_eq!(handled, taken);
    assert!(refused > 0, "the flood never filled the mailbox");
    assert!(longest <= CAPACITY, "mailbox reached {longest}");
    assert!(grew < 16 << 20, "resident grew by {grew} bytes");
    // Once drained, it takes casts again.
    server.work(vec![]).unwrap();

    // The counterpart, so that the figures above prove something: without a
    // bound, the same flood queues far past it, and memory grows with it.
    let server = Slow::start(Slow::default()).await.unwrap();
    let (taken, refused, longest, grew) = flood(&server, 16, Duration::from_millis(500)).await;
    println!(
        "unbounded: {taken} casts taken, longest mailbox {longest}, resident grew by {grew} bytes"
    );
    assert_eq!(refused, 0);
    assert!(longest > 100 * CAPACITY, "mailbox only reached {longest}");
    server.kill();
}
