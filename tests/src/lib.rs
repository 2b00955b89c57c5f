//! Integration tests of gensrv (in `tests/`), and the helpers they share.

use std::future::Future;
use std::time::Duration;

/// Awaits `future`, failing the test if it takes longer than `secs` seconds: a bug
/// must show as a failure, not as a hung suite.
pub async fn within<F: Future>(secs: u64, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), future).await {
        Ok(output) => output,
        Err(_) => panic!("did not finish within {secs} s"),
    }
}
