//! Every valid handler signature compiles: `cfg` and `cfg_attr` on handlers, names
//! the macro introduces next to the user's own, `Self` anywhere in a signature,
//! impl blocks written by `macro_rules!`, user types named `Context` or `ReplyTo`,
//! a `ReplyTo` carried as data, and `vis` on a `pub` struct.

// `cfg(all())` and `cfg(any())` are the always-true and always-false predicates.
#![allow(clippy::non_minimal_cfg)]

/// `cfg` on handlers: what is generated from a handler exists exactly when it does.
mod cfg {
    use gensrv::gen_server;

    pub struct Configured {
        pub n: u32,
    }

    /// What a handle has when an inherent method of that name is missing.
    pub trait Missing {
        fn gone(&self) -> &'static str {
            "no such method"
        }
        fn gone_cast(&self) -> &'static str {
            "no such method"
        }
        fn if_not_a_handler(&self) -> &'static str {
            "no such method"
        }
    }
    impl Missing for ConfiguredRef {}

    #[gen_server]
    impl Configured {
        /// Never compiled: its argument's type does not exist.
        #[cfg(any())]
        #[init]
        fn init(start: DoesNotExist) -> Self {
            unreachable!()
        }

        #[cfg(all())]
        #[call]
        fn here(&self) -> u32 {
            self.n
        }

        #[cfg(any())]
        #[call]
        fn gone(&self, arg: DoesNotExist) -> DoesNotExist {
            unreachable!()
        }

        #[cfg(any())]
        #[cast]
        fn gone_cast(&mut self, arg: DoesNotExist) {
            unreachable!()
        }

        /// One name, two handlers, exclusive `cfg`s.
        #[cfg(all())]
        #[call]
        fn version(&self) -> u8 {
            1
        }

        #[cfg(any())]
        #[call]
        fn version(&self) -> u16 {
            2
        }

        #[cfg(any())]
        #[info]
        fn on_missing(&mut self, message: DoesNotExist) {}

        /// Under `cfg(any())`, the idle timeout reaches no handler.
        #[cfg(any())]
        #[info]
        fn on_timeout(&mut self, _: gensrv::Timeout) {
            unreachable!()
        }

        #[cfg(all())]
        #[info]
        fn on_bump(&mut self, by: u32) {
            self.n += by;
        }

        /// `cfg_attr` that applies the marker: a handler.
        #[cfg_attr(all(), call)]
        #[cfg_attr(all(), doc = "Docs applied by `cfg_attr`.")]
        #[cfg_attr(all(), allow(clippy::unused_self))]
        fn by_cfg_attr(&self) -> u32 {
            self.n * 10
        }

        /// `cfg_attr` whose predicate is false: an ordinary method.
        #[cfg_attr(any(), call)]
        pub fn if_not_a_handler(&self) -> u32 {
            self.n * 100
        }

        #[cfg(any())]
        #[terminate]
        fn terminate(&mut self, _: &gensrv::ExitReason) {
            unreachable!()
        }

        /// `cfg(test)` holds in this test crate.
        #[cfg(test)]
        #[call]
        fn dump(&self) -> String {
            format!("n = {}", self.n)
        }
    }

    /// Names only the variants that exist, so it fails to compile if a handler
    /// under `cfg(any())` left one.
    pub fn call_name(call: &ConfiguredCall) -> &'static str {
        match call {
            ConfiguredCall::Here { .. } => "here",
            ConfiguredCall::Version { .. } => "version",
            ConfiguredCall::ByCfgAttr { .. } => "by_cfg_attr",
            ConfiguredCall::Dump { .. } => "dump",
        }
    }

    pub fn cast_count(cast: ConfiguredCast) -> usize {
        match cast {}
    }
}

#[tokio::test]
async fn cfg_on_a_handler_keeps_or_removes_everything_generated_from_it() {
    use cfg::{Configured, Missing};
    let _ = cfg::call_name;
    let _ = cfg::cast_count;

    // No `#[init]` under `cfg(any())`: start takes the state.
    let server = Configured::start(Configured { n: 4 }).await.unwrap();
    assert_eq!(server.here().await, Ok(4));
    assert_eq!(server.version().await, Ok(1u8));
    assert_eq!(server.gone(), "no such method");
    assert_eq!(server.gone_cast(), "no such method");
    server.send(3u32).unwrap();
    assert_eq!(server.here().await, Ok(7));
    assert_eq!(server.by_cfg_attr().await, Ok(70));
    assert_eq!(server.if_not_a_handler(), "no such method");
    assert_eq!(Configured { n: 1 }.if_not_a_handler(), 100);
    assert_eq!(server.dump().await, Ok("n = 7".to_string()));
    server.stop().await.unwrap();
}

/// `#[init]` under a `cfg` that holds, and a `#[terminate]` under one.
mod cfg_init {
    use std::sync::atomic::{AtomicBool, Ordering};

    use gensrv::{ExitReason, gen_server};

    pub static TERMINATED: AtomicBool = AtomicBool::new(false);

    pub struct Started(pub u32);

    #[gen_server]
    impl Started {
        #[cfg(all())]
        #[init]
        fn init(start: u32) -> Self {
            Started(start + 1)
        }

        #[call]
        fn get(&self) -> u32 {
            self.0
        }

        #[cfg_attr(all(), terminate)]
        fn terminate(&mut self, _: &ExitReason) {
            TERMINATED.store(true, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn init_and_terminate_under_a_cfg_that_holds_are_the_servers() {
    use std::sync::atomic::Ordering;
    let server = cfg_init::Started::start(1).await.unwrap();
    assert_eq!(server.get().await, Ok(2));
    let _spec = cfg_init::Started::child_spec(5);
    server.stop().await.unwrap();
    assert!(cfg_init::TERMINATED.load(Ordering::SeqCst));
}

/// Lowercase constants in scope named like the bindings of the generated code (a
/// binding of that name would be a pattern matching the constant), and a server of
/// every kind of handler next to them.
#[allow(non_upper_case_globals, dead_code)]
mod consts {
    use gensrv::{Context, ExitReason, ReplyTo, Timeout, gen_server};

    pub const message: u8 = 0;
    pub const ctx: u8 = 0;
    pub const state: u8 = 0;
    pub const arg: u8 = 0;
    pub const reply: u8 = 0;
    pub const reply_to: u8 = 0;
    pub const returned: u8 = 0;
    pub const this: u8 = 0;
    pub const reason: u8 = 0;
    pub const field0: u8 = 0;
    pub const name: u8 = 0;
    pub const inner: u8 = 0;
    pub const other: u8 = 0;
    pub const f: u8 = 0;
    pub const tuple: u8 = 0;
    pub const handle: u8 = 0;

    pub struct Consts(pub u64);

    #[gen_server]
    impl Consts {
        #[init]
        async fn init(x: u64, c: &mut Context<Self>) -> Self {
            c.set_timeout(std::time::Duration::from_secs(3600));
            Consts(x)
        }

        #[call]
        async fn add(&mut self, x: u64, c: &mut Context<Self>) -> u64 {
            let _ = c.pid();
            self.0 += x;
            self.0
        }

        #[call]
        fn later(&self, r: ReplyTo<u64>) {
            let _ = r.send(self.0);
        }

        #[cast]
        fn set(&mut self, x: u64) {
            self.0 = x;
        }

        #[info]
        fn on(&mut self, x: u64) {
            self.0 += x;
        }

        #[info]
        fn on_timeout(&mut self, _: Timeout) {}

        #[terminate]
        fn terminate(&mut self, _: &ExitReason, _: &mut Context<Self>) {}
    }

    /// A server without `#[init]`, for `start(state)` and `child_spec(state)`.
    #[derive(Clone)]
    pub struct Stateful(pub u64);

    #[gen_server]
    impl Stateful {
        #[call]
        fn get(&self) -> u64 {
            self.0
        }
    }
}

/// A server generic over `Server`, `A` and `H` (names of the generated code's
/// generic parameters), with arguments named like its bindings and fields.
mod names {
    use std::marker::PhantomData;

    use gensrv::{Context, ReplyTo, gen_server};

    pub struct Named<Server, A, H> {
        pub total: u64,
        pub _types: PhantomData<(Server, A, H)>,
    }

    #[gen_server]
    impl<Server: Send + 'static, A: Send + 'static, H: Send + 'static> Named<Server, A, H> {
        #[init]
        fn init(start: u64) -> Self {
            Named {
                total: start,
                _types: PhantomData,
            }
        }

        /// A call with an argument named like the reply field: the field is `reply_to_`.
        #[call]
        fn add(&mut self, reply_to: u64, message: u64, field0: u64) -> u64 {
            self.total += reply_to + message + field0;
            self.total
        }

        /// A deferred call with an argument named like the generated closure's.
        #[call]
        fn deferred(&self, reply_to: u64, answer: ReplyTo<u64>) {
            let _ = answer.send(self.total + reply_to);
        }

        #[cast]
        fn set(&mut self, state: u64, arg: u64, ctx: u64, __ctx: &mut Context<Self>) {
            self.total = state + arg + ctx;
        }

        #[info]
        fn on(&mut self, inner: (u64, u64)) {
            self.total = inner.0 * inner.1;
        }

        #[call]
        fn get(&self) -> u64 {
            self.total
        }
    }

    /// The reply field of `add` avoided the argument's name.
    pub fn reply_field_of_add(call: NamedCall<(), (), ()>) -> bool {
        match call {
            NamedCall::Add {
                reply_to,
                message,
                field0,
                reply_to_,
            } => {
                let _ = reply_to_.send(reply_to + message + field0);
                true
            }
            _ => false,
        }
    }

    /// A server type named `Server`, with no `#[init]`: its handle's parameter gets
    /// another name.
    #[derive(Clone)]
    pub struct Server(pub u8);

    #[gen_server]
    impl Server {
        #[call]
        fn get(&self) -> u8 {
            self.0
        }
    }
}

#[tokio::test]
async fn generated_bindings_never_match_the_users_constants() {
    use consts::{Consts, Stateful};
    let server = Consts::start(1).await.unwrap();
    assert_eq!(server.add(2).await, Ok(3));
    server.set(10).unwrap();
    server.send(5u64).unwrap();
    assert_eq!(server.later().await, Ok(15));
    assert_eq!(Consts::whereis("nobody"), None);
    let _spec = Consts::child_spec(1);
    assert!(format!("{server:?}").starts_with("ConstsRef"));
    assert_eq!(server.clone(), server);
    server.stop().await.unwrap();

    let stateful = Stateful::start(Stateful(4)).await.unwrap();
    assert_eq!(stateful.get().await, Ok(4));
    let _spec = Stateful::child_spec(Stateful(4));
    stateful.stop().await.unwrap();
}

#[tokio::test]
async fn generated_names_never_collide_with_the_users() {
    use std::hash::BuildHasher;

    type Named = names::Named<String, Vec<u8>, ()>;
    let server = Named::start(1).await.unwrap();
    assert_eq!(server.add(1, 2, 3).await, Ok(7));
    assert_eq!(server.deferred(10).await, Ok(17));
    server.set(1, 2, 3).unwrap();
    assert_eq!(server.get().await, Ok(6));
    server.send((3u64, 4u64)).unwrap();
    assert_eq!(server.get().await, Ok(12));
    // The handle's derived traits, generic over the renamed parameters.
    let hasher = std::collections::hash_map::RandomState::new();
    assert_eq!(hasher.hash_one(&server), hasher.hash_one(server.clone()));
    assert!(format!("{server:?}").starts_with("NamedRef"));
    let _spec = Named::child_spec(0);
    assert!(Named::whereis("nobody").is_none());
    server.stop().await.unwrap();

    let _ = names::reply_field_of_add;
    let other = names::Server::start(names::Server(9)).await.unwrap();
    assert_eq!(other.get().await, Ok(9));
    let _spec = names::Server::child_spec(names::Server(1));
    other.stop().await.unwrap();
}

/// `Self` anywhere in a signature.
mod selfish {
    use gensrv::{Context, gen_server};

    pub trait Tr {
        type Assoc;
    }

    #[derive(Clone, Debug, PartialEq)]
    pub struct Shapes {
        pub bytes: Vec<u8>,
    }

    impl Tr for Shapes {
        type Assoc = String;
    }

    impl Shapes {
        pub const N: usize = 3;
    }

    #[gen_server]
    impl Shapes {
        #[call]
        fn array(&self, a: [u8; Self::N]) -> [u8; Self::N] {
            let mut a = a;
            a.reverse();
            a
        }

        #[call]
        fn sizes(&self, of: [u16; std::mem::size_of::<Self>()]) -> usize {
            of.len()
        }

        #[call]
        fn nested(&self, all: Vec<Option<Self>>) -> Option<Box<Self>> {
            all.into_iter().flatten().next().map(Box::new)
        }

        #[call]
        fn qualified(&self, s: <Self as Tr>::Assoc) -> <Self as Tr>::Assoc {
            s + "!"
        }

        /// A handler named `self_`: its variant is `Self_`.
        #[call]
        fn self_(&self) -> Self {
            self.clone()
        }

        #[cast]
        fn replace(&mut self, with: Self, _ctx: &mut Context<Self>) {
            *self = with;
        }

        #[info]
        fn on_vec(&mut self, more: Vec<Self>) {
            for s in more {
                self.bytes.extend(s.bytes);
            }
        }
    }

    pub fn is_self_variant(call: &ShapesCall) -> bool {
        matches!(call, ShapesCall::Self_ { .. })
    }
}

#[tokio::test]
async fn self_is_accepted_anywhere_in_a_signature() {
    use selfish::Shapes;
    let _ = selfish::is_self_variant;
    let server = Shapes::start(Shapes { bytes: vec![1] }).await.unwrap();
    assert_eq!(server.array([1, 2, 3]).await, Ok([3, 2, 1]));
    assert_eq!(
        server.sizes([0; std::mem::size_of::<Shapes>()]).await,
        Ok(std::mem::size_of::<Shapes>())
    );
    let some = Shapes { bytes: vec![7] };
    assert_eq!(
        server.nested(vec![None, Some(some.clone())]).await,
        Ok(Some(Box::new(some.clone())))
    );
    assert_eq!(server.qualified("hi".into()).await, Ok("hi!".to_string()));
    server.replace(some.clone()).unwrap();
    assert_eq!(server.self_().await, Ok(some));
    server.send(vec![Shapes { bytes: vec![8] }]).unwrap();
    assert_eq!(server.self_().await, Ok(Shapes { bytes: vec![7, 8] }));
    server.stop().await.unwrap();
}

/// An impl block written by `macro_rules!`: the type, the arguments and the context
/// arrive as `$t:ty` fragments (invisible groups).
mod by_macro {
    use gensrv::{Context, ReplyTo, gen_server};

    macro_rules! counter {
        ($state:ty, $arg:ty, $reply:ty, $unit:ty, $ctx:ty, $deferred:ty, $msg:ident) => {
            #[gen_server]
            impl $state {
                #[call]
                fn add(&mut self, $msg: $arg) -> $reply {
                    self.0 += $msg;
                    self.0
                }

                #[cast]
                fn bump(&mut self, by: $arg, ctx: $ctx) -> $unit {
                    let _ = ctx.pid();
                    self.0 += by;
                }

                #[call]
                fn later(&self, reply: $deferred) -> $unit {
                    let _ = reply.send(self.0);
                }

                #[info]
                fn on(&mut self, set: $arg, _: $ctx) {
                    self.0 = set;
                }
            }
        };
    }

    pub struct Counter(pub u64);

    counter!(Counter, u64, u64, (), &mut Context<Self>, ReplyTo<u64>, by);

    /// Argument patterns as `$p:pat` fragments.
    macro_rules! with_patterns {
        ($state:ident, $p:pat, $name:ident, $q:pat) => {
            #[gen_server]
            impl $state {
                #[call]
                fn add(&mut self, $p: u64) -> u64 {
                    self.0 += $name;
                    self.0
                }

                #[info]
                fn on(&mut self, $q: u64) {}
            }
        };
    }

    pub struct Patterned(pub u64);

    with_patterns!(Patterned, add, add, _);
}

#[tokio::test]
async fn an_impl_block_written_by_macro_rules_is_a_server() {
    let server = by_macro::Counter::start(by_macro::Counter(1))
        .await
        .unwrap();
    assert_eq!(server.add(2).await, Ok(3));
    server.bump(4).unwrap();
    assert_eq!(server.later().await, Ok(7));
    server.send(40u64).unwrap();
    assert_eq!(server.later().await, Ok(40));
    server.stop().await.unwrap();

    let server = by_macro::Patterned::start(by_macro::Patterned(1))
        .await
        .unwrap();
    assert_eq!(server.add(2).await, Ok(3));
    server.send(9u64).unwrap();
    server.stop().await.unwrap();
}

/// The user's own types named `Context` and `ReplyTo` are messages: the context is
/// a *reference* to a `Context`, the deferred reply a `ReplyTo<T>` or
/// `gensrv::ReplyTo<T>` of a call.
mod own_types {
    use gensrv::gen_server;

    pub mod user {
        #[derive(Debug, PartialEq)]
        pub struct Context(pub u32);
        #[derive(Debug, PartialEq)]
        pub struct ReplyTo<T>(pub T);
    }

    use user::Context;

    pub struct Own(pub u32);

    #[gen_server]
    impl Own {
        /// An owned `Context`, and gensrv's context by its full path.
        #[cast]
        fn set(&mut self, context: Context, ctx: &mut gensrv::Context<Self>) {
            let _ = ctx.pid();
            self.0 = context.0;
        }

        /// A `ReplyTo` by another path is a message; the call returns its reply.
        #[call]
        fn wrapped(&self, r: user::ReplyTo<u32>) -> user::ReplyTo<u32> {
            user::ReplyTo(r.0 + self.0)
        }

        /// gensrv's `ReplyTo` by its full path defers the reply.
        #[call]
        fn deferred(&self, reply: gensrv::ReplyTo<u32>) {
            let _ = reply.send(self.0);
        }

        #[info]
        fn on_context(&mut self, c: Context) {
            self.0 += c.0;
        }
    }
}

#[tokio::test]
async fn user_types_named_context_or_reply_to_are_messages() {
    use own_types::user::{Context, ReplyTo};
    let server = own_types::Own::start(own_types::Own(0)).await.unwrap();
    server.set(Context(5)).unwrap();
    assert_eq!(server.wrapped(ReplyTo(1)).await, Ok(ReplyTo(6)));
    server.send(Context(2)).unwrap();
    assert_eq!(server.deferred().await, Ok(7));
    server.stop().await.unwrap();
}

/// OTP's pool: a call's `ReplyTo` handed to a worker (by cast or as an info
/// message), which answers the caller.
mod pool {
    use gensrv::{ReplyTo, gen_server};

    pub struct Worker {
        pub factor: u64,
    }

    #[gen_server]
    impl Worker {
        /// A `ReplyTo` in a cast is ordinary data.
        #[cast]
        fn work(&mut self, job: u64, reply: ReplyTo<u64>) {
            let _ = reply.send(job * self.factor);
        }

        /// And the message of an info handler.
        #[info]
        fn on_reply_to(&mut self, reply: ReplyTo<u64>) {
            let _ = reply.send(self.factor);
        }
    }

    pub struct Pool {
        pub workers: Vec<WorkerRef>,
        pub next: usize,
    }

    #[gen_server]
    impl Pool {
        /// Defers its reply to a worker.
        #[call]
        fn run(&mut self, job: u64, reply: ReplyTo<u64>) {
            let worker = &self.workers[self.next % self.workers.len()];
            self.next += 1;
            worker.work(job, reply).unwrap();
        }

        #[call]
        fn factor(&mut self, reply: ReplyTo<u64>) {
            let worker = &self.workers[self.next % self.workers.len()];
            self.next += 1;
            worker.send(reply).unwrap();
        }
    }
}

#[tokio::test]
async fn a_pool_forwards_its_callers_reply_to_a_worker() {
    use pool::{Pool, Worker};
    let two = Worker::start(Worker { factor: 2 }).await.unwrap();
    let three = Worker::start(Worker { factor: 3 }).await.unwrap();
    let pool = Pool::start(Pool {
        workers: vec![two.clone(), three.clone()],
        next: 0,
    })
    .await
    .unwrap();
    assert_eq!(pool.run(5).await, Ok(10));
    assert_eq!(pool.run(5).await, Ok(15));
    assert_eq!(pool.factor().await, Ok(2));
    assert_eq!(pool.factor().await, Ok(3));
    pool.stop().await.unwrap();
    two.stop().await.unwrap();
    three.stop().await.unwrap();
}

/// `vis = pub(crate)` on a `pub` struct.
mod visibility {
    use gensrv::gen_server;

    pub struct Public(pub u32);

    #[gen_server(vis = pub(crate))]
    impl Public {
        #[call]
        fn get(&self) -> u32 {
            self.0
        }

        #[cast]
        fn set(&mut self, to: u32) {
            self.0 = to;
        }

        #[info]
        fn on(&mut self, add: u32) {
            self.0 += add;
        }
    }
}

#[tokio::test]
async fn vis_narrower_than_a_pub_struct_compiles() {
    use visibility::{Public, PublicCall, PublicRef};
    let server: PublicRef = Public::start(Public(1)).await.unwrap();
    server.set(2).unwrap();
    server.send(3u32).unwrap();
    assert_eq!(server.get().await, Ok(5));
    let _ = |call: PublicCall| matches!(call, PublicCall::Get { .. });
    server.stop().await.unwrap();
}
