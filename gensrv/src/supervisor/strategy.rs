//! [`Strategy`]: which children a supervisor restarts when one ends.

/// Which children a [`Supervisor`](super::Supervisor) restarts when one of them
/// ends and is to be restarted (OTP's strategies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Only that child (the default).
    #[default]
    OneForOne,
    /// All children: the others are stopped (last started first), then all are
    /// started again in order.
    OneForAll,
    /// That child and those started after it: those are stopped (last first), then
    /// all of them are started again in order.
    RestForOne,
}
