//! The runtime's own info messages.
//!
//! An `#[info]` handler taking one of these types receives it; a server without
//! such a handler has it logged and dropped.

/// The idle timeout set with [`Context::set_timeout`](crate::Context::set_timeout)
/// elapsed with no message arriving (OTP's `timeout` info message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timeout;
