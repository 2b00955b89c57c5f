//! Erlang/OTP's `gen_server` for Rust, on tokio.
//!
//! Write an ordinary `impl` block, put [`#[gen_server]`](gen_server) on it and mark
//! its handlers; get a server process with a typed client handle:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use gensrv::gen_server;
//!
//! /// A stack of numbers.
//! #[derive(Default)]
//! pub struct Stack {
//!     items: Vec<i64>,
//! }
//!
//! #[gen_server]
//! impl Stack {
//!     /// Pushes `item` on top.
//!     #[cast]
//!     fn push(&mut self, item: i64) {
//!         self.items.push(item);
//!     }
//!
//!     /// Takes the top item, if any.
//!     #[call]
//!     fn pop(&mut self) -> Option<i64> {
//!         self.items.pop()
//!     }
//! }
//!
//! let stack: StackRef = Stack::start(Stack::default()).await.unwrap();
//! stack.push(1).unwrap();
//! stack.push(2).unwrap();
//! assert_eq!(stack.pop().await, Ok(Some(2)));
//! stack.stop().await.unwrap();
//! assert_eq!(stack.pop().await, Err(gensrv::CallError::NoProc));
//! # }
//! ```
//!
//! The macro generates `StackRef` (one method per handler, carrying its docs), the
//! message enums `StackCall`, `StackCast` and `StackInfo`, `Stack::start` and
//! `Stack::whereis`, and `impl GenServer for Stack`; see [`gen_server`].
//!
//! # What holds
//!
//! These are OTP's guarantees, and each is tested:
//!
//! 1. Messages from one task to one server are handled in the order sent, across
//!    calls, casts and info messages: they share one mailbox.
//! 2. A call never waits on a dead server: if the server dies before or while
//!    handling it, the caller gets [`CallError::Exited`] or [`CallError::NoProc`]
//!    at once, not after the timeout (5 s by default).
//! 3. A reply that comes after its call timed out is dropped; it is never taken for
//!    another call's reply.
//! 4. A panic in a handler ends that server only: terminate runs, the reason is
//!    [`ExitReason::Panic`], the name is freed, the caller gets `Exited(Panic(msg))`.
//! 5. Links: an abnormal exit of a linked process ends this one with the same
//!    reason, unless it [traps exits](Context::trap_exit), in which case it gets an
//!    [`Exit`] info message. A `Normal` exit does not propagate.
//! 6. `start` with a taken name fails with [`StartError::AlreadyStarted`] without
//!    running init; a failed init frees the name before `start` returns.
//! 7. A call from a server to itself fails with [`CallError::CallingSelf`].
//! 8. Nothing is lost silently: a cast to a dead server is [`CastError::NoProc`];
//!    callers whose requests were still queued when the server ended get an error.
//! 9. Exit signals are out of band: an exit signal (a linked process's crash, a
//!    supervisor's shutdown, [`exit()`]) ends a server that does not trap exits
//!    at once, also while one of its handlers runs: the handler is dropped at its
//!    next `.await`, terminate runs with the signal's reason, and the callers of
//!    the running and the queued calls get `Exited(reason)`. A server that traps
//!    exits gets an [`Exit`] message in mailbox order, except from its parent,
//!    whose exit ends it. (A handler that never awaits cannot be interrupted.)
//! 10. A supervisor stops a child with the exit signal `Shutdown` and kills it
//!     after its shutdown timeout; the link stays until the child has ended. Once a
//!     tree's `stop` returns, or its top is killed, no process of the tree runs.
//! 11. The end of a process is published however its task ends: killed at any
//!     moment (also before it first ran), its runtime dropped, a panic anywhere
//!     (also in its state's `Drop`). Its name is freed, monitors get [`Down`],
//!     links the exit signal, callers `Exited(reason)`: never a leaked name, a
//!     hang or a `NoReply`.
//! 12. [`sys`] requests ([`get_state`](ServerRef::get_state),
//!     [`suspend`](ServerRef::suspend), [`statistics`](ServerRef::statistics), ...)
//!     and stop are handled between two messages, in mailbox order; a suspended
//!     server queues everything else and loses nothing.
//!
//! # Processes that watch each other
//!
//! A handler's [`Context`] [monitors](Context::monitor) other processes (a
//! [`Down`] message arrives when one ends), [links](Context::link) to them (their
//! ends are tied together), and sets [timers](Context::send_after) that send the
//! server its own messages later. A server that uses none of this pays nothing
//! for it on its calls and casts.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use gensrv::{gen_server, Context, Exit, ExitReason};
//!
//! /// Starts a worker linked to itself and learns how it ended.
//! #[derive(Default)]
//! pub struct Boss {
//!     heard: Option<ExitReason>,
//! }
//!
//! /// Gives up after a moment.
//! pub struct Worker;
//!
//! /// Time to give up.
//! #[derive(Clone)]
//! pub struct GiveUp;
//!
//! #[gen_server]
//! impl Worker {
//!     #[init]
//!     fn init(ctx: &mut Context<Self>) -> Self {
//!         ctx.send_after(Duration::from_millis(10), GiveUp);
//!         Worker
//!     }
//!
//!     #[info]
//!     fn give_up(&mut self, _: GiveUp, ctx: &mut Context<Self>) {
//!         ctx.stop(ExitReason::Error("tired".into()));
//!     }
//! }
//!
//! #[gen_server]
//! impl Boss {
//!     #[call]
//!     async fn hire(&mut self, ctx: &mut Context<Self>) -> WorkerRef {
//!         ctx.trap_exit(true);
//!         Worker::start().link(ctx).await.unwrap()
//!     }
//!
//!     #[info]
//!     fn exit(&mut self, exit: Exit) {
//!         self.heard = Some(exit.reason);
//!     }
//!
//!     #[call]
//!     fn heard(&self) -> Option<ExitReason> {
//!         self.heard.clone()
//!     }
//! }
//!
//! let boss = Boss::start(Boss::default()).await.unwrap();
//! let worker = boss.hire().await.unwrap();
//! worker.exited().await;
//! // The boss got the exit signal before anyone could see the worker had ended.
//! assert_eq!(boss.heard().await.unwrap(), Some(ExitReason::Error("tired".into())));
//! # }
//! ```
//!
//! # Supervision trees
//!
//! A [`Supervisor`](supervisor::Supervisor) starts servers as its children, from
//! the child spec each generates (`Foo::child_spec(arg)`, a
//! [`TypedChildSpec`](supervisor::TypedChildSpec)), restarts them when
//! they end as their restart type and its strategy say, and gives up (ending
//! itself) after too many restarts; supervisors nest into trees. See
//! [`supervisor`].
//!
//! # Seeing what happens: tracing
//!
//! gensrv reports through [`tracing`](https://docs.rs/tracing), and prints nothing
//! by itself: install a subscriber (e.g. `tracing_subscriber::fmt::init()`) to see
//! a server ending abnormally (at error level, with its pid, name and reason), a
//! supervisor restarting a child (warn) and a supervisor giving up after too many
//! restarts (error), which ends it and, through its own supervisor, may restart
//! its healthy siblings too. Without a subscriber, all of that is silent.
//!
//! # More than one machine (feature `remote`)
//!
//! With the `remote` feature, a `remote::Node` joins this OS process to a
//! cluster over [Zenoh](https://zenoh.io), and `#[gen_server(remote)]` makes a
//! server's calls and casts travel: its `FooRef` works from any node, found by a
//! cluster-wide name (`Foo::whereis_global(&node, "kv")`) or received inside a
//! message, with the same methods, errors and guarantees. Monitors, links and
//! exit signals cross nodes, and a node that goes is
//! [`ExitReason::NoConnection`] to them and to the calls in flight. See
//! `gensrv::remote`.
//!
//! # Names are process-wide
//!
//! A name given with [`Start::name`] belongs to the whole OS process, as in an
//! Erlang node: `cargo test` runs tests in parallel threads of one process, so
//! tests that name servers must use names of their own, or they get
//! [`StartError::AlreadyStarted`] from each other.
//!
//! # When terminate does not run
//!
//! A server's terminate runs however it ends (a stop, `ctx.stop`, a panic, an
//! exit signal), except:
//!
//! - after [`kill`](ServerRef::kill) or [`exit()`] with [`ExitReason::Killed`]
//!   (OTP's `kill`, which cannot be trapped);
//! - when init did not return a state (it failed, panicked, or was interrupted):
//!   there is nothing to terminate;
//! - when the tokio runtime it runs on is dropped: its task is dropped, and the
//!   end is published with [`ExitReason::Killed`];
//! - when a handler never returns to an `.await` (a blocking loop): nothing can
//!   interrupt it, so its server never ends.
//!
//! # Map of the crate
//!
//! - [`gen_server`]: the attribute, and what it generates.
//! - [`server`]: the [`GenServer`] trait the attribute implements, and [`Init`].
//! - [`start`]: [`Start`], starting a server synchronously, with a name, an init
//!   timeout or a bounded mailbox.
//! - [`server_ref`]: [`ServerRef`], the handle every server has, and [`Stop`].
//! - [`call`]: [`Call`], [`PendingReply`] and [`ReplyTo`] (deferred replies).
//! - [`context`]: [`Context`], what a handler can ask of its own server: stop,
//!   timeouts, monitors, links, timers.
//! - [`signal`]: the runtime's info messages ([`Down`], [`Exit`], [`Timeout`]) and
//!   the references that name monitors and timers.
//! - [`supervisor`]: supervision trees: [`Supervisor`](supervisor::Supervisor),
//!   [`DynamicSupervisor`](supervisor::DynamicSupervisor), [`ChildSpec`], and a
//!   tree run until SIGINT or SIGTERM
//!   ([`run_until_signal`](supervisor::run_until_signal)).
//! - [`registry`]: process-wide names ([`whereis`]).
//! - [`info`]: introspection ([`processes`], [`process_info`], [`process_tree`]).
//! - [`sys`]: OTP's `sys`: a running server's state, suspension,
//!   [`Statistics`] and [`Status`].
//! - `remote` (feature `remote`): nodes, global names, and servers on other
//!   OS processes and machines behind the same handles.
//! - [`pid`], [`mod@exit`], [`error`]: [`Pid`] and [`AsProcess`], [`ExitReason`]
//!   and exit signals ([`exit()`]), and one error per operation.
#![warn(
    missing_docs,
    unreachable_pub,
    rust_2018_idioms,
    missing_debug_implementations
)]
#![forbid(unsafe_code)]

// The supervisors are written with `#[gen_server]`, whose code names `::gensrv`.
extern crate self as gensrv;

pub mod call;
pub mod context;
pub mod error;
pub mod exit;
pub mod info;
pub mod pid;
pub mod registry;
#[cfg(feature = "remote")]
pub mod remote;
pub mod server;
pub mod server_ref;
pub mod signal;
pub mod start;
pub mod supervisor;
pub mod sys;

mod mailbox;
mod process;
mod worker;

#[doc(inline)]
pub use crate::call::{Call, PendingReply, ReplyTo};
#[doc(inline)]
pub use crate::context::Context;
#[doc(inline)]
pub use crate::error::{CallError, CastError, StartError, StopError};
#[doc(inline)]
pub use crate::exit::{ExitReason, exit};
#[doc(inline)]
pub use crate::info::{ProcessInfo, process_info, process_tree, process_tree_with, processes};
#[doc(inline)]
pub use crate::pid::{AsProcess, Pid};
#[doc(inline)]
pub use crate::registry::{registered, whereis};
#[doc(inline)]
pub use crate::server::{GenServer, Init};
#[doc(inline)]
pub use crate::server_ref::{ServerRef, Stop};
#[doc(inline)]
pub use crate::signal::{Down, Exit, MonitorRef, Timeout, TimerRef};
#[doc(inline)]
pub use crate::start::Start;
#[doc(inline)]
pub use crate::supervisor::ChildSpec;
#[doc(inline)]
pub use crate::sys::{Statistics, Status};

/// Turns an inherent `impl` block into a server process with a typed client handle.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::collections::HashMap;
/// use gensrv::{gen_server, Context, ExitReason};
///
/// /// Keeps values by key.
/// pub struct Bucket {
///     entries: HashMap<String, i64>,
/// }
///
/// #[gen_server]
/// impl Bucket {
///     /// Starts empty.
///     #[init]
///     fn init() -> Self {
///         Bucket { entries: HashMap::new() }
///     }
///
///     /// The value of `key`, if any.
///     #[call]
///     fn get(&self, key: String) -> Option<i64> {
///         self.entries.get(&key).copied()
///     }
///
///     /// Sets `key` to `value`.
///     #[cast]
///     fn put(&mut self, key: String, value: i64) {
///         self.entries.insert(key, value);
///     }
///
///     /// Removes `key`, giving its value.
///     #[call]
///     async fn delete(&mut self, key: String) -> Option<i64> {
///         self.entries.remove(&key)
///     }
///
///     #[terminate]
///     fn terminate(&mut self, reason: &ExitReason) {
///         println!("bucket ends ({reason}) with {} entries", self.entries.len());
///     }
/// }
///
/// let bucket: BucketRef = Bucket::start().name("shopping").await.unwrap();
/// bucket.put("milk".into(), 1).unwrap();
/// assert_eq!(bucket.get("milk".into()).await, Ok(Some(1)));
/// assert_eq!(bucket.delete("milk".into()).await, Ok(Some(1)));
/// assert_eq!(Bucket::whereis("shopping"), Some(bucket.clone()));
/// bucket.stop().await.unwrap();
/// # }
/// ```
///
/// # Handlers
///
/// Mark methods with one of these attributes; methods without one stay ordinary
/// methods. Any handler may be `async`, and may take `ctx: &mut Context<Self>` as its
/// last argument (see [`Context`]).
///
/// | attribute | receiver | arguments | returns |
/// |---|---|---|---|
/// | `#[call]` | `&self` or `&mut self` | owned values | the reply (or nothing, with a `ReplyTo`) |
/// | `#[cast]` | `&self` or `&mut self` | owned values | nothing |
/// | `#[info]` | `&self` or `&mut self` | exactly one: the message | nothing |
/// | `#[init]` | none | zero or one: the start argument | `Self`, `Result<Self, E: Display>` or [`Init<Self>`](Init) |
/// | `#[terminate]` | `&mut self` or `self` | optionally `reason: &ExitReason` | nothing |
/// | `#[format_status]` | `&self` | none | the text to show for the state (`String`, or any `Display`) |
///
/// - An `#[info]` handler is chosen by the type of its message. [`Down`], [`Exit`]
///   and [`Timeout`] are the runtime's own (monitors, trapped exit signals, the
///   idle timeout); any other type is yours, sent with [`ServerRef::send`], or by
///   the server to itself with [`Context::send_after`] and
///   [`Context::send_interval`].
/// - Without `#[init]`, `start` takes the state itself.
/// - A handler can ask its server, through its [`Context`], to stop
///   ([`Context::stop`]), to handle a message of its own before anything else in
///   the mailbox ([`Context::continue_with`], OTP's `{continue, ..}`), to time out
///   when idle ([`Context::set_timeout`]), to send itself messages later (timers),
///   and to monitor, link, trap exits and send exit signals.
/// - `#[terminate]` runs whenever the server ends (stop, `ctx.stop`, a panic, an
///   exit signal), except after [`kill`](ServerRef::kill).
/// - `#[format_status]` (OTP's `format_status`) is how the state shows in
///   [`get_status`](ServerRef::get_status) and in crash reports: without it, only
///   its type's name shows, so that a secret in the state stays out of logs.
/// - A `#[call]` that takes a `reply: ReplyTo<T>` argument (and returns nothing)
///   defers its reply: the caller gets `T` when [`ReplyTo::send`] is called, from
///   anywhere, later. See [`ReplyTo`]. The deferred reply is the argument whose type
///   is written `ReplyTo<T>` or `gensrv::ReplyTo<T>`; anywhere else (a `#[cast]`, an
///   `#[info]` message, a type of your own named `ReplyTo`, or a type alias) a
///   `ReplyTo` is data like any other, so a pool can hand its caller's `ReplyTo` to
///   a worker, which answers the caller.
/// - The context is the argument that is a *reference* to a `Context`
///   (`ctx: &mut Context<Self>`); a `Context` of your own taken by value is a message.
/// - Arguments are the fields of the message, so they are owned, named (`_` is fine
///   for an info message), and `Send`, as is the state.
/// - `#[cfg(..)]` on a handler, and `#[cfg_attr(.., call)]` (or any marker), are
///   honoured: everything generated from the handler (its variant, handle method,
///   dispatch, `From` impl, send checks) exists exactly when the handler does. An
///   `#[init]` under `cfg` gives a server whose `start` takes the init argument
///   where it exists and the state elsewhere. `#[cfg_attr(.., doc = ..)]` is carried
///   to the generated items with the other docs.
/// - Anything Rust allows in a signature is fine: `Self` anywhere (`[u8; Self::N]`,
///   `Vec<Option<Self>>`, `<Self as Tr>::Assoc`), types and impl blocks written by
///   `macro_rules!`, generic parameters and argument names of any spelling (the
///   generated code's own names are chosen apart from yours).
///
/// # What it generates
///
/// For `impl Bucket`:
///
/// - `BucketRef`, the client handle: `Clone`, `Debug`, `Eq`, `Hash`, `Send`, `Sync`;
///   one method per call (`fn get(&self, key: String) -> Call<Option<i64>>`, see
///   [`Call`]) and per cast (`fn put(&self, ..) -> Result<(), CastError>`), each with
///   its handler's doc comments. It derefs to [`ServerRef<Bucket>`](ServerRef) for
///   `pid`, `send`, `stop`, `kill`, `exited` and the rest.
/// - `BucketCall`, `BucketCast`, `BucketInfo`: the message enums, one variant per
///   handler named after it in UpperCamelCase (`Get { key, reply_to }`; a handler
///   `self_` gives `Self_`), fields named after its arguments, and a call's reply
///   field `reply_to` (`reply_to_` if an argument has that name); `From<T> for
///   BucketInfo` for each info message type.
/// - `impl GenServer for Bucket`, and the associated functions
///   `Bucket::start(arg) -> Start<Bucket>` (see [`Start`]),
///   `Bucket::whereis(name) -> Option<BucketRef>` and
///   `Bucket::child_spec(arg) -> TypedChildSpec<Bucket>` (see
///   [`TypedChildSpec`](supervisor::TypedChildSpec)).
///
/// A generic `impl<K, V> Cache<K, V>` gives `CacheRef<K, V>` and generic enums (with
/// a hidden variant that cannot be built, so matches need not name it).
///
/// # Visibility
///
/// The generated items are `pub`, yet exactly as visible as the server type: the
/// handle's last type parameter, `Server`, defaults to the server type and is the
/// only way its impls name it (the macro cannot see the struct's own visibility);
/// it is named `Server` unless the impl block already uses that name.
/// `#[gen_server(vis = pub(crate))]` gives them another visibility, also narrower
/// than a `pub` server's: the handle and enums are then declared in a hidden module
/// and re-exported with that visibility (so the impl block must be in a module, not
/// in a function body).
///
/// # Send checks
///
/// Everything a server holds or receives crosses to its task, so it must be
/// `Send + 'static`. The generated items check this in their `where` clauses, type
/// by type, so that a type that is not `Send` fails with one error, at that type.
/// `#[gen_server(send_checks = false)]` leaves the checks out, for cleaner
/// generated docs; such a type then fails inside the generated code instead.
///
/// # Distribution: `#[gen_server(remote)]`
///
/// With the flag `remote` (which needs gensrv's `remote` feature: without it, the
/// flag is one compile error that says so), the server's calls and casts can travel
/// between nodes (module `gensrv::remote`, `DISTRIBUTION.md`). For
/// `impl Bucket` the macro then also generates:
///
/// - `impl gensrv::remote::Remote for Bucket`: `Bucket::FINGERPRINT`, and the
///   functions a `Node` uses to take a call or cast from the
///   wire and give it to the server (`dispatch_call`, `dispatch_cast`), and to put
///   one on the wire (`split_call`, `encode_cast`); and the hook through which a
///   `BucketRef` (any `ServerRef<Bucket>`) of a server on another node reaches
///   them. So a `Bucket` started on one node is called from another through the
///   same handle and methods as a local one (a handle from
///   `ServerRef::<Bucket>::from_pid(pid)`, or a global name).
/// - `Bucket::whereis_global(&node, name)`, awaited to `Option<BucketRef>`: the
///   server registered under a cluster-wide name (`remote::Node::register_global`),
///   on whatever node it runs.
/// - `Serialize` and `Deserialize` for `BucketRef`: a handle travels inside
///   messages (as its pid and fingerprint) and works where it arrives.
/// - Hidden enums `__BucketCallWire` and `__BucketCastWire`: the messages as they
///   travel (a call without its `ReplyTo`), serialized with serde (through gensrv's
///   own serde: no dependency of yours) and postcard.
///
/// Every argument and reply type must be `Serialize` and `Deserialize` (owned: it
/// is read back on another node); one that is not is a compile error at that type.
/// A handler that defers its reply (`ReplyTo<T>`) works as locally: its `ReplyTo`
/// is made on the server's node. `#[info]` messages stay local. A generic server
/// cannot take `remote`.
///
/// `FINGERPRINT` is a hash of the server type's name and, per call and cast in
/// order, its kind, name, argument types and reply type, as written: a node refuses
/// a message whose sender had another one. It sees a handler added, removed,
/// renamed or moved, and a type replaced by another (`u32` by `u64`); it does not
/// see a change inside a type of your own that keeps its name (a field added to
/// `struct Order`): keep such types in step on every node.
///
/// # Mistakes
///
/// A misuse is a compile error at the token that is wrong (a `self` by value, a
/// reference argument, a second `#[init]`, a type that is not `Send`, ...), and the
/// impl block is still emitted as written, so no other error follows from it.
#[doc(inline)]
pub use gensrv_macros::gen_server;

// The README's example is compiled and run with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// `#[gen_server(remote)]`'s items: given as they are with the `remote` feature.
#[cfg(feature = "remote")]
#[doc(hidden)]
#[macro_export]
macro_rules! __require_remote {
    ($($items:tt)*) => { $($items)* };
}

/// `#[gen_server(remote)]` without the `remote` feature: one error, at the flag,
/// and none of its items (they name what only exists with the feature).
#[cfg(not(feature = "remote"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __require_remote {
    ($($items:tt)*) => {
        ::core::compile_error!(
            "#[gen_server(remote)] needs the `remote` feature of gensrv: \
             `gensrv = { version = \"..\", features = [\"remote\"] }` in Cargo.toml, \
             or `cargo add gensrv --features remote`"
        );
    };
}

/// In the `impl GenServer` of a `#[gen_server(remote)]` server: the hook through
/// which a handle of any server reaches its `Remote` functions
/// (`GenServer::__remote`), which only exists with the feature.
#[cfg(feature = "remote")]
#[doc(hidden)]
#[macro_export]
macro_rules! __remote_hook {
    () => {
        fn __remote() -> ::core::option::Option<::gensrv::remote::Vtable<Self>> {
            ::core::option::Option::Some(::gensrv::remote::Vtable::of())
        }
    };
}

/// Without the feature, nothing: the flag's one error is `require_remote!`'s.
#[cfg(not(feature = "remote"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __remote_hook {
    () => {};
}

/// What the generated code uses; not a public API.
#[doc(hidden)]
pub mod __private {
    use std::any::Any;

    pub use crate::server::IntoInit;

    /// Moves `value` into a `U` if it is one: how the generated code tells whether an
    /// `#[info]` handler's type is one of the runtime's messages.
    pub fn downcast<T: 'static, U: 'static>(value: T) -> Result<U, T> {
        let mut slot = Some(value);
        if let Some(u) = (&mut slot as &mut dyn Any).downcast_mut::<Option<U>>() {
            return Ok(u.take().expect("just filled"));
        }
        Err(slot.expect("untouched"))
    }

    /// Fails to compile, at the type, if `T` is not `Send`.
    pub fn assert_send<T: ?Sized + Send>() {}

    #[allow(missing_debug_implementations)]
    /// A state to copy if it can be (`backup` by autoref: `BackupByClone` when
    /// the state is `Clone`, `NoBackup` otherwise).
    pub struct Backup<'a, T>(pub &'a T);

    /// Taken for a `Clone` state.
    pub trait BackupByClone<T> {
        fn backup(&self) -> Option<T>;
    }

    impl<T: Clone> BackupByClone<T> for Backup<'_, T> {
        fn backup(&self) -> Option<T> {
            Some(self.0.clone())
        }
    }

    /// Taken for any other state.
    pub trait NoBackup<T> {
        fn backup(&self) -> Option<T>;
    }

    impl<T> NoBackup<T> for &Backup<'_, T> {
        fn backup(&self) -> Option<T> {
            None
        }
    }

    /// What a `#[format_status]` method may return: any text.
    #[diagnostic::on_unimplemented(
        message = "#[format_status] returns text to show: `{Self}` is not `Display`",
        label = "return a `String`"
    )]
    pub trait StatusText {
        fn status_text(self) -> String;
    }

    impl<T: std::fmt::Display> StatusText for T {
        fn status_text(self) -> String {
            self.to_string()
        }
    }

    /// serde, for the wire enums `#[gen_server(remote)]` derives
    /// (`#[serde(crate = "::gensrv::__private::serde")]`): users need no serde
    /// dependency of their own.
    #[cfg(feature = "remote")]
    pub use serde;

    /// What `#[gen_server(remote)]` requires of every argument and reply type: it
    /// travels between nodes, so serde must write and read it. The macro puts
    /// `T: Wire` in the where clauses of what it generates, spanned at the user's
    /// type: a type that cannot travel fails there, with one error, and nowhere in
    /// the generated bodies, which may assume it.
    ///
    /// Why it is built so: rustc checks a where clause on a concrete type where it
    /// is written, and the bounds it implies too, but not those under a binder with
    /// a variable. serde's traits are implied through [`WireAt`]`<'w>` (for every
    /// `'w`), so only `T: Wire` itself is checked there; the impl below is
    /// `do_not_recommend`, so it is reported as itself, with the message below,
    /// rather than as each serde trait it needs (two errors for one type).
    #[cfg(feature = "remote")]
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot travel between nodes: #[gen_server(remote)] needs it to be `Serialize` and `Deserialize`",
        label = "not `Serialize + Deserialize`",
        note = "derive both: `#[derive(serde::Serialize, serde::Deserialize)]`"
    )]
    pub trait Wire: for<'w> WireAt<'w> {}

    #[cfg(feature = "remote")]
    #[diagnostic::do_not_recommend]
    impl<T: serde::Serialize + serde::de::DeserializeOwned> Wire for T {}

    /// Without the feature, every type: the where clauses that name it hold, and
    /// the flag's one error is `require_remote!`'s.
    #[cfg(not(feature = "remote"))]
    pub trait Wire {}

    #[cfg(not(feature = "remote"))]
    impl<T: ?Sized> Wire for T {}

    /// serde's traits, under a lifetime that [`Wire`] binds (see there).
    #[cfg(feature = "remote")]
    pub trait WireAt<'w>: serde::Serialize + serde::de::DeserializeOwned {}

    #[cfg(feature = "remote")]
    impl<T: serde::Serialize + serde::de::DeserializeOwned> WireAt<'_> for T {}

    /// One step of FNV-1a 64 over `bytes`, from `hash`: how the fingerprint of a
    /// `#[gen_server(remote)]` server takes in its handlers under `#[cfg]` (the
    /// macro hashes the others itself, with the same function).
    pub const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        hash
    }

    pub use crate::__remote_hook as remote_hook;
    pub use crate::__require_remote as require_remote;

    /// A runtime message reached a server with no handler for it.
    pub fn unhandled(pid: crate::Pid, message: &dyn std::fmt::Debug) {
        tracing::debug!(%pid, ?message, "runtime message with no handler; dropped");
    }
}
