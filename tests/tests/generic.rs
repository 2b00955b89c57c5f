//! Generic servers: `impl<K, V> Cache<K, V>` gives `CacheRef<K, V>` and generic enums.

use std::collections::HashMap;
use std::hash::Hash;

use gensrv::gen_server;

/// A cache of any keys and values.
struct Cache<K, V> {
    entries: HashMap<K, V>,
}

#[gen_server]
impl<K: Hash + Eq + Send + 'static, V: Clone + Send + 'static> Cache<K, V> {
    #[init]
    fn init(capacity: usize) -> Self {
        Cache {
            entries: HashMap::with_capacity(capacity),
        }
    }

    /// The value of `key`.
    #[call]
    fn get(&self, key: K) -> Option<V> {
        self.entries.get(&key).cloned()
    }

    /// Sets `key` to `value`.
    #[cast]
    fn put(&mut self, key: K, value: V) {
        self.entries.insert(key, value);
    }

    /// Replaces the whole cache with another of the same type.
    #[call]
    fn replace(&mut self, other: Self) -> usize {
        *self = other;
        self.entries.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_server_gets_a_generic_handle_and_enums() {
    let cache: CacheRef<String, u32> = Cache::start(4).await.unwrap();
    cache.put("a".into(), 1).unwrap();
    assert_eq!(cache.get("a".into()).await, Ok(Some(1)));
    assert_eq!(cache.get("b".into()).await, Ok(None));

    let other = Cache::<u8, Vec<u8>>::start(0).name("bytes").await.unwrap();
    other.put(1, vec![1]).unwrap();
    assert_eq!(other.get(1).await, Ok(Some(vec![1])));
    assert_eq!(Cache::<u8, Vec<u8>>::whereis("bytes"), Some(other.clone()));
    // Same name, other instantiation: not found.
    assert!(Cache::<u8, u8>::whereis("bytes").is_none());

    let replacement = Cache {
        entries: HashMap::from([("x".to_string(), 9u32), ("y".to_string(), 8)]),
    };
    assert_eq!(cache.replace(replacement).await, Ok(2));
    assert_eq!(cache.get("x".into()).await, Ok(Some(9)));
}

#[test]
fn the_generic_enums_are_matched_without_their_hidden_variant() {
    let call: CacheCast<u8, u8> = CacheCast::Put { key: 1, value: 2 };
    // Exhaustive without naming the hidden variant: it cannot be built.
    match call {
        CacheCast::Put { key, value } => assert_eq!((key, value), (1, 2)),
    }
}

/// A server generic over a const.
struct Ring<const N: usize> {
    items: Vec<u8>,
}

#[gen_server]
impl<const N: usize> Ring<N> {
    #[cast]
    fn push(&mut self, item: u8) {
        if self.items.len() == N {
            self.items.remove(0);
        }
        self.items.push(item);
    }

    #[call]
    fn items(&self) -> Vec<u8> {
        self.items.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_const_generic_server_works() {
    let ring = Ring::<2>::start(Ring { items: vec![] }).await.unwrap();
    for i in 0..5 {
        ring.push(i).unwrap();
    }
    assert_eq!(ring.items().await, Ok(vec![3, 4]));
}
