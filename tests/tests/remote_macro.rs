//! `#[gen_server(remote)]`: a generated server of one node called and cast to
//! from another node in this process, through its typed handle, `ServerRef::call`
//! with its message enum, and `Node::cast_raw` with `encode_cast`; and its
//! fingerprint (feature `remote`:
//! `cargo test -p gensrv-tests --features remote --test remote_macro`).
#![cfg(feature = "remote")]

use std::time::Duration;

use gensrv::remote::Remote;
use gensrv::{CallError, ReplyTo, ServerRef, gen_server};
use gensrv_tests::remote::{through, two_nodes};
use gensrv_tests::within;
use serde::{Deserialize, Serialize};

/// A message type of the test's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    item: String,
    quantity: u32,
}

/// An info message: info stays local, and a remote server may have some.
#[derive(Debug)]
pub struct Ping;

#[derive(Debug, Default)]
pub struct Shop {
    orders: Vec<Order>,
    notes: Vec<(String, Vec<String>)>,
    stock: u64,
    waiting: Vec<ReplyTo<u64>>,
    pings: u32,
}

#[gen_server(remote)]
impl Shop {
    #[init]
    fn init() -> Self {
        Shop::default()
    }

    /// A struct argument; gives the order's number.
    #[call]
    fn place(&mut self, order: Order) -> usize {
        self.orders.push(order);
        self.orders.len()
    }

    /// A `Vec` reply.
    #[call]
    fn orders(&self) -> Vec<Order> {
        self.orders.clone()
    }

    /// An `Option` reply.
    #[call]
    async fn find(&self, item: String) -> Option<Order> {
        self.orders.iter().find(|o| o.item == item).cloned()
    }

    /// A call that replies nothing.
    #[call]
    fn clear(&mut self) {
        self.orders.clear();
    }

    /// Several arguments, one an `Option`, and a tuple reply.
    #[call]
    fn price(&self, item: String, quantity: u32, discount: Option<u8>) -> (String, u64) {
        let full = u64::from(quantity) * 10;
        let off = full * u64::from(discount.unwrap_or(0)) / 100;
        (item, full - off)
    }

    /// Defers its reply until there is stock.
    #[call]
    fn when_stocked(&mut self, reply: ReplyTo<u64>) {
        if self.stock > 0 {
            let _ = reply.send(self.stock);
        } else {
            self.waiting.push(reply);
        }
    }

    /// A cast that answers the deferred calls.
    #[cast]
    fn restock(&mut self, amount: u64) {
        self.stock += amount;
        for reply in self.waiting.drain(..) {
            let _ = reply.send(self.stock);
        }
    }

    /// A cast with several arguments, one a `Vec`.
    #[cast]
    fn note(&mut self, text: String, tags: Vec<String>) {
        self.notes.push((text, tags));
    }

    #[call]
    fn notes(&self) -> Vec<(String, Vec<String>)> {
        self.notes.clone()
    }

    #[call]
    fn pings(&self) -> u32 {
        self.pings
    }

    #[info]
    fn ping(&mut self, _: Ping) {
        self.pings += 1;
    }
}

fn order(item: &str, quantity: u32) -> Order {
    Order {
        item: item.into(),
        quantity,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_generated_server_is_called_and_cast_to_from_another_node() {
    within(60, async {
        let (there, here) = two_nodes().await;
        let shop = Shop::start().await.expect("the shop starts");
        let pid = through(&here, &there, shop.pid());
        assert!(!pid.is_local());
        let remote = ServerRef::<Shop>::from_pid(pid).expect("a handle to the shop there");
        let call_timeout = Duration::from_secs(10);

        // A struct argument, a `Vec` and an `Option` reply.
        let placed = remote
            .call(|reply_to| ShopCall::Place {
                order: order("tea", 2),
                reply_to,
            })
            .timeout(call_timeout)
            .await;
        assert_eq!(placed, Ok(1));
        let placed = remote
            .call(|reply_to| ShopCall::Place {
                order: order("jam", 1),
                reply_to,
            })
            .timeout(call_timeout)
            .await;
        assert_eq!(placed, Ok(2));
        let orders = remote
            .call(|reply_to| ShopCall::Orders { reply_to })
            .timeout(call_timeout)
            .await;
        assert_eq!(orders, Ok(vec![order("tea", 2), order("jam", 1)]));
        let found = remote
            .call(|reply_to| ShopCall::Find {
                item: "jam".into(),
                reply_to,
            })
            .timeout(call_timeout)
            .await;
        assert_eq!(found, Ok(Some(order("jam", 1))));
        let missing = remote
            .call(|reply_to| ShopCall::Find {
                item: "milk".into(),
                reply_to,
            })
            .timeout(call_timeout)
            .await;
        assert_eq!(missing, Ok(None));

        // Several arguments.
        let price = remote
            .call(|reply_to| ShopCall::Price {
                item: "tea".into(),
                quantity: 3,
                discount: Some(10),
                reply_to,
            })
            .timeout(call_timeout)
            .await;
        assert_eq!(price, Ok(("tea".to_string(), 27)));

        // A call that replies nothing, seen by the local handle too.
        let cleared = remote
            .call::<()>(|reply_to| ShopCall::Clear { reply_to })
            .timeout(call_timeout)
            .await;
        assert_eq!(cleared, Ok(()));
        assert_eq!(shop.orders().await, Ok(vec![]));

        // Casts, in order with the calls of the same sender.
        for (text, tags) in [("first", vec!["a"]), ("second", vec![])] {
            let cast = ShopCast::Note {
                text: text.into(),
                tags: tags.into_iter().map(String::from).collect(),
            };
            here.cast_raw(
                pid,
                Shop::FINGERPRINT,
                Shop::encode_cast(cast).expect("a note encodes"),
            );
        }
        let notes = remote
            .call(|reply_to| ShopCall::Notes { reply_to })
            .timeout(call_timeout)
            .await;
        assert_eq!(
            notes,
            Ok(vec![
                ("first".to_string(), vec!["a".to_string()]),
                ("second".to_string(), vec![]),
            ])
        );

        // The generated handle's methods reach it too.
        let typed = ShopRef::from(remote.clone());
        assert_eq!(typed.place(order("milk", 4)).await, Ok(1));
        typed.restock(2).expect("the cast is sent");
        assert_eq!(typed.when_stocked().await, Ok(2));

        // Info stays local.
        shop.send(Ping).expect("the shop runs");
        assert_eq!(shop.pings().await, Ok(1));
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_deferred_reply_made_on_the_servers_node_reaches_the_caller() {
    within(60, async {
        let (there, here) = two_nodes().await;
        let shop = Shop::start().await.expect("the shop starts");
        let pid = through(&here, &there, shop.pid());
        assert!(!pid.is_local());
        let remote = ServerRef::<Shop>::from_pid(pid).expect("a handle to the shop there");

        let waiting = remote
            .call_deferred::<u64>(|reply| ShopCall::WhenStocked { reply })
            .timeout(Duration::from_secs(10))
            .send();
        // The call is parked there until a cast (from here) restocks.
        tokio::time::sleep(Duration::from_millis(100)).await;
        here.cast_raw(
            pid,
            Shop::FINGERPRINT,
            Shop::encode_cast(ShopCast::Restock { amount: 5 }).expect("a u64 encodes"),
        );
        assert_eq!(waiting.await, Ok(5));

        // With stock, at once.
        let now = remote
            .call_deferred::<u64>(|reply| ShopCall::WhenStocked { reply })
            .timeout(Duration::from_secs(10))
            .await;
        assert_eq!(now, Ok(5));

        // A deferred call whose server stops before replying fails, not hangs.
        let parked = Shop::start().await.expect("another shop starts");
        let parked_pid = through(&here, &there, parked.pid());
        let parked_remote = ServerRef::<Shop>::from_pid(parked_pid).expect("a handle to it");
        let never = parked_remote
            .call_deferred::<u64>(|reply| ShopCall::WhenStocked { reply })
            .timeout(Duration::from_secs(10))
            .send();
        tokio::time::sleep(Duration::from_millis(100)).await;
        parked.stop().await.expect("the shop stops");
        assert!(
            matches!(never.await, Err(CallError::Exited(_) | CallError::NoProc)),
            "the deferred call fails when its server stops"
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_to_a_server_of_another_version_is_refused() {
    within(60, async {
        let (there, here) = two_nodes().await;
        let shop = Shop::start().await.expect("the shop starts");
        let pid = through(&here, &there, shop.pid());
        assert!(!pid.is_local());
        // `v2::Counter`'s messages to a `Shop`: another fingerprint.
        let refused = ServerRef::<v2::Counter>::from_pid(pid)
            .expect("a handle, as far as a pid can tell")
            .call(|reply_to| v2::CounterCall::Add { n: 1, reply_to })
            .timeout(Duration::from_secs(10))
            .await;
        assert!(
            matches!(&refused, Err(CallError::Refused(why)) if why.contains("message types differ")),
            "{refused:?}"
        );
    })
    .await;
}

// Fingerprints: `v1` and `v2` differ in one argument type, `v3` in the reply
// type; `same` is `v1` again; `conditional` is `v1` with its last handler under
// a `cfg` that holds (hashed at compile time rather than by the macro).
mod v1 {
    #[derive(Debug, Default)]
    pub struct Counter(u64);

    #[gensrv::gen_server(remote)]
    impl Counter {
        #[call]
        fn add(&mut self, n: u32) -> u64 {
            self.0 += u64::from(n);
            self.0
        }

        #[cast]
        fn reset(&mut self) {
            self.0 = 0;
        }
    }
}

mod v2 {
    #[derive(Debug, Default)]
    pub struct Counter(u64);

    #[gensrv::gen_server(remote)]
    impl Counter {
        #[call]
        fn add(&mut self, n: u64) -> u64 {
            self.0 += n;
            self.0
        }

        #[cast]
        fn reset(&mut self) {
            self.0 = 0;
        }
    }
}

mod v3 {
    #[derive(Debug, Default)]
    pub struct Counter(u64);

    #[gensrv::gen_server(remote)]
    impl Counter {
        #[call]
        fn add(&mut self, n: u32) -> u32 {
            self.0 += u64::from(n);
            n
        }

        #[cast]
        fn reset(&mut self) {
            self.0 = 0;
        }
    }
}

mod same {
    #[derive(Debug, Default)]
    pub struct Counter(u64);

    #[gensrv::gen_server(remote)]
    impl Counter {
        #[call]
        fn add(&mut self, n: u32) -> u64 {
            self.0 += u64::from(n);
            self.0
        }

        #[cast]
        fn reset(&mut self) {
            self.0 = 0;
        }
    }
}

mod conditional {
    #[derive(Debug, Default)]
    pub struct Counter(u64);

    #[gensrv::gen_server(remote)]
    impl Counter {
        #[call]
        fn add(&mut self, n: u32) -> u64 {
            self.0 += u64::from(n);
            self.0
        }

        // Always true here (this file is under it), yet a `cfg` to the macro.
        #[cfg(feature = "remote")]
        #[cast]
        fn reset(&mut self) {
            self.0 = 0;
        }
    }
}

#[test]
fn servers_that_differ_in_one_type_have_different_fingerprints() {
    assert_ne!(v1::Counter::FINGERPRINT, v2::Counter::FINGERPRINT);
    assert_ne!(v1::Counter::FINGERPRINT, v3::Counter::FINGERPRINT);
    assert_ne!(v2::Counter::FINGERPRINT, v3::Counter::FINGERPRINT);
    assert_ne!(v1::Counter::FINGERPRINT, Shop::FINGERPRINT);
}

#[test]
fn the_fingerprint_is_the_same_for_the_same_messages() {
    assert_eq!(v1::Counter::FINGERPRINT, same::Counter::FINGERPRINT);
    // The macro's hash and the compile-time one agree.
    assert_eq!(v1::Counter::FINGERPRINT, conditional::Counter::FINGERPRINT);
}

#[test]
fn a_cast_encodes_as_its_wire_message() {
    let body = Shop::encode_cast(ShopCast::Restock { amount: 7 }).unwrap();
    let wire: __ShopCastWire = gensrv::remote::from_body(&body).unwrap();
    assert!(matches!(wire, __ShopCastWire::Restock { amount: 7 }));
}

// `remote` with another visibility: the wire enums follow the message enums
// into their hidden modules.
mod narrow {
    #[derive(Debug, Default)]
    pub struct Tally(u64);

    #[gensrv::gen_server(remote, vis = pub(crate))]
    impl Tally {
        #[call]
        fn get(&self) -> u64 {
            self.0
        }

        #[cast]
        fn add(&mut self, n: u64) {
            self.0 += n;
        }
    }
}

#[test]
fn a_server_of_narrower_visibility_takes_remote_too() {
    let body = narrow::Tally::encode_cast(narrow::TallyCast::Add { n: 3 }).unwrap();
    assert_eq!(body, gensrv::remote::to_body(&(0u32, 3u64)).unwrap());
}
