//! [`Request`]: an operation on a supervisor, on its way.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use crate::{Call, CallError};

type Reply<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// An operation on a supervisor, on its way: await it for its outcome,
/// `Result<T, E>`, where `E` (one error type per operation) also says why the
/// supervisor did not answer.
///
/// The request is in the supervisor's mailbox once the method that made it has
/// returned. Unlike a plain [`Call`], it waits as long as the supervisor takes to
/// answer, as OTP's supervisor calls do (their timeout is `infinity`): an
/// operation that stops a child takes as long as that child's
/// [`Shutdown`](super::Shutdown) allows (with `Shutdown::Timeout(d)`, about `d`
/// at most, after which the child is killed), and the supervisor handles one
/// request at a time. [`timeout`](Request::timeout) bounds the wait; when it
/// elapses the caller gets `E::Call(CallError::Timeout)`, but the operation goes
/// on in the supervisor.
#[must_use = "the request is sent; await it to get the outcome"]
pub struct Request<T, E> {
    timeout: Duration,
    reply: Box<dyn FnOnce(Duration) -> Reply<T, E> + Send>,
}

impl<T: Send + 'static, E: From<CallError> + Send + 'static> Request<T, E> {
    /// A request sent as `call`, whose reply `outcome` turns into the outcome.
    pub(crate) fn new<R: Send + 'static>(
        call: Call<R>,
        outcome: impl FnOnce(R) -> Result<T, E> + Send + 'static,
    ) -> Self {
        Request {
            timeout: Duration::MAX,
            reply: Box::new(move |timeout| {
                let reply = call.timeout(timeout).send();
                Box::pin(async move { outcome(reply.await?) })
            }),
        }
    }
}

impl<T, E> Request<T, E> {
    /// Waits at most `timeout` for the outcome, counted from when the request is
    /// awaited, instead of as long as the supervisor takes.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<T, E> IntoFuture for Request<T, E> {
    type Output = Result<T, E>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        (self.reply)(self.timeout)
    }
}

impl<T, E> fmt::Debug for Request<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut request = f.debug_struct("Request");
        if self.timeout != Duration::MAX {
            request.field("timeout", &self.timeout);
        }
        request.finish_non_exhaustive()
    }
}
