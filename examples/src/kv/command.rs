//! The text protocol: a line into a [`Command`], a command into a [`Reply`].
//!
//! [`parse`] is pure; [`Command::run`] asks the registry (found by name, for every
//! command, so that a restarted registry is found) and the buckets.

use std::future::Future;
use std::time::Duration;

use gensrv::CallError;
use tokio::time::Instant;

use super::registry::{Registry, RegistryRef};

/// A command of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `CREATE <bucket>`: makes sure the bucket exists.
    Create {
        /// The bucket's name.
        bucket: String,
    },
    /// `GET <bucket> <key>`: the value under `key`.
    Get {
        /// The bucket's name.
        bucket: String,
        /// The key.
        key: String,
    },
    /// `PUT <bucket> <key> <value>`: stores `value` under `key`.
    Put {
        /// The bucket's name.
        bucket: String,
        /// The key.
        key: String,
        /// The value, one word.
        value: String,
    },
    /// `DELETE <bucket> <key>`: removes `key`.
    Delete {
        /// The bucket's name.
        bucket: String,
        /// The key.
        key: String,
    },
}

/// A line that is no command: an unknown word, a wrong number of words, an empty
/// line, or bytes that are not UTF-8. Answered with `UNKNOWN COMMAND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCommand;

/// Parses one line, without its line ending (a trailing `\r` is ignored too):
/// words separated by whitespace, the command word in capitals, as the guide's
/// `String.split/1` and pattern match.
pub fn parse(line: &[u8]) -> Result<Command, UnknownCommand> {
    let line = std::str::from_utf8(line).map_err(|_| UnknownCommand)?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let command = match words[..] {
        ["CREATE", bucket] => Command::Create {
            bucket: bucket.into(),
        },
        ["GET", bucket, key] => Command::Get {
            bucket: bucket.into(),
            key: key.into(),
        },
        ["PUT", bucket, key, value] => Command::Put {
            bucket: bucket.into(),
            key: key.into(),
            value: value.into(),
        },
        ["DELETE", bucket, key] => Command::Delete {
            bucket: bucket.into(),
            key: key.into(),
        },
        _ => return Err(UnknownCommand),
    };
    Ok(command)
}

/// The server's answer to one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `OK`.
    Ok,
    /// The value line (empty if the key has no value), then `OK`.
    Value(Option<String>),
    /// `NOT FOUND`: no such bucket.
    NotFound,
    /// `UNKNOWN COMMAND`.
    UnknownCommand,
    /// `LINE TOO LONG`: the line had more than [`MAX_LINE`](super::MAX_LINE) bytes.
    LineTooLong,
    /// `SERVICE UNAVAILABLE`: the registry did not answer within
    /// [`REGISTRY_WAIT`] (it was restarting for longer than that).
    Unavailable,
    /// `SERVER SHUTTING DOWN`: sent unasked, once, when the server stops, before
    /// it closes the connection. A line sent meanwhile gets no other reply.
    ShuttingDown,
}

impl Reply {
    /// The reply as sent: one or two lines, each ending with `\r\n`.
    ///
    /// Every error line has more than one word, so that no value (one word) is taken for
    /// one; a client reads one line after a `GET`, and a second if the first was
    /// not an error.
    pub fn to_wire(&self) -> String {
        match self {
            Reply::Ok => "OK\r\n".into(),
            Reply::Value(value) => format!("{}\r\nOK\r\n", value.as_deref().unwrap_or("")),
            Reply::NotFound => "NOT FOUND\r\n".into(),
            Reply::UnknownCommand => "UNKNOWN COMMAND\r\n".into(),
            Reply::LineTooLong => "LINE TOO LONG\r\n".into(),
            Reply::Unavailable => "SERVICE UNAVAILABLE\r\n".into(),
            Reply::ShuttingDown => "SERVER SHUTTING DOWN\r\n".into(),
        }
    }
}

/// Whether `line` (without its ending) is one of the error answers.
pub fn is_error_line(line: &str) -> bool {
    matches!(
        line,
        "NOT FOUND"
            | "UNKNOWN COMMAND"
            | "LINE TOO LONG"
            | "SERVICE UNAVAILABLE"
            | "SERVER SHUTTING DOWN"
    )
}

/// How long a command waits for a registry that is not there (being restarted by
/// its supervisor) before it is answered `SERVICE UNAVAILABLE`.
pub const REGISTRY_WAIT: Duration = Duration::from_secs(1);

/// How often a command looks for the registry while it waits.
const RETRY_EVERY: Duration = Duration::from_millis(5);

impl Command {
    /// Runs the command against the registry registered as `registry`.
    ///
    /// A bucket that ends between the lookup and its use is as good as missing:
    /// `NOT FOUND`.
    pub async fn run(self, registry: &str) -> Reply {
        match self {
            Command::Create { bucket } => {
                // `Err` from create: the buckets' supervisor is missing, so the
                // store is being restarted; wait for the new one, as for a
                // missing registry.
                let created = with_registry(registry, |r| {
                    let bucket = bucket.clone();
                    async move { r.create(bucket).await.map(|created| created.ok()) }
                })
                .await;
                match created {
                    Some(_) => Reply::Ok,
                    None => Reply::Unavailable,
                }
            }
            Command::Get { bucket, key } => {
                on_bucket(registry, bucket, |b| async move { b.get(key).await }).await
            }
            Command::Put { bucket, key, value } => {
                on_bucket(registry, bucket, |b| async move { b.put(key, value).await }).await
            }
            Command::Delete { bucket, key } => {
                // The guide answers `OK` whether or not the key had a value.
                on_bucket(registry, bucket, |b| async move {
                    b.delete(key).await.map(drop)
                })
                .await
            }
        }
    }
}

/// What the bucket operations answer: `OK`, or the value then `OK`.
trait IntoReply {
    fn into_reply(self) -> Reply;
}

impl IntoReply for () {
    fn into_reply(self) -> Reply {
        Reply::Ok
    }
}

impl IntoReply for Option<String> {
    fn into_reply(self) -> Reply {
        Reply::Value(self)
    }
}

/// Runs `op` on the bucket named `bucket`; `NOT FOUND` if there is none, or it
/// ended meanwhile.
async fn on_bucket<T, F, Fut>(registry: &str, bucket: String, op: F) -> Reply
where
    T: IntoReply,
    F: FnOnce(super::bucket::BucketRef) -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let found = with_registry(registry, |r| {
        let bucket = bucket.clone();
        async move { r.lookup(bucket).await.map(Some) }
    })
    .await;
    match found {
        None => Reply::Unavailable,
        Some(None) => Reply::NotFound,
        Some(Some(bucket)) => match op(bucket).await {
            Ok(value) => value.into_reply(),
            // `NoProc` or `Exited`: the bucket has gone. (A `Timeout` would be a
            // bucket stuck for 5 s, which these buckets cannot be.)
            Err(_) => Reply::NotFound,
        },
    }
}

/// Runs `op` on the registry registered as `name`, again if the registry is
/// missing or ends meanwhile (its supervisor is restarting it) or `op` gives
/// `Ok(None)`, for up to [`REGISTRY_WAIT`]; `None` if it never succeeded.
async fn with_registry<T, F, Fut>(name: &str, mut op: F) -> Option<T>
where
    F: FnMut(RegistryRef) -> Fut,
    Fut: Future<Output = Result<Option<T>, CallError>>,
{
    let deadline = Instant::now() + REGISTRY_WAIT;
    loop {
        if let Some(registry) = Registry::whereis(name) {
            match op(registry).await {
                Ok(Some(value)) => return Some(value),
                Ok(None) | Err(CallError::NoProc | CallError::Exited(_)) => {}
                // A registry that is there but does not answer: waiting more would
                // not help this client.
                Err(_) => return None,
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(bucket: &str) -> Command {
        Command::Create {
            bucket: bucket.into(),
        }
    }

    #[test]
    fn parses_the_four_commands() {
        assert_eq!(parse(b"CREATE shopping"), Ok(create("shopping")));
        assert_eq!(
            parse(b"PUT shopping milk 1"),
            Ok(Command::Put {
                bucket: "shopping".into(),
                key: "milk".into(),
                value: "1".into()
            })
        );
        assert_eq!(
            parse(b"GET shopping milk"),
            Ok(Command::Get {
                bucket: "shopping".into(),
                key: "milk".into()
            })
        );
        assert_eq!(
            parse(b"DELETE shopping milk"),
            Ok(Command::Delete {
                bucket: "shopping".into(),
                key: "milk".into()
            })
        );
    }

    #[test]
    fn words_are_separated_by_any_whitespace() {
        assert_eq!(parse(b"  CREATE \t shopping  "), Ok(create("shopping")));
        assert_eq!(parse(b"CREATE shopping\r"), Ok(create("shopping")));
        assert_eq!(parse("CREATE épicerie".as_bytes()), Ok(create("épicerie")));
    }

    #[test]
    fn anything_else_is_unknown() {
        for line in [
            &b""[..],
            b"   ",
            b"\r",
            b"CREATE",
            b"CREATE a b",
            b"create shopping",
            b"GET shopping",
            b"GET shopping milk extra",
            b"PUT shopping milk",
            b"PUT shopping milk 1 2",
            b"DELETE shopping",
            b"FETCH shopping milk",
            b"CREATE \xff\xfe",
            b"\x00",
        ] {
            assert_eq!(parse(line), Err(UnknownCommand), "{line:?}");
        }
    }

    #[test]
    fn replies_on_the_wire() {
        assert_eq!(Reply::Ok.to_wire(), "OK\r\n");
        assert_eq!(Reply::Value(Some("1".into())).to_wire(), "1\r\nOK\r\n");
        assert_eq!(Reply::Value(None).to_wire(), "\r\nOK\r\n");
        assert_eq!(Reply::NotFound.to_wire(), "NOT FOUND\r\n");
        assert_eq!(Reply::UnknownCommand.to_wire(), "UNKNOWN COMMAND\r\n");
        assert_eq!(Reply::LineTooLong.to_wire(), "LINE TOO LONG\r\n");
        assert_eq!(Reply::ShuttingDown.to_wire(), "SERVER SHUTTING DOWN\r\n");
        for reply in [
            Reply::NotFound,
            Reply::UnknownCommand,
            Reply::LineTooLong,
            Reply::Unavailable,
            Reply::ShuttingDown,
        ] {
            let wire = reply.to_wire();
            assert!(is_error_line(wire.trim_end()), "{wire:?}");
        }
        assert!(!is_error_line("OK"));
        assert!(!is_error_line(""));
    }

    #[tokio::test]
    async fn without_a_registry_the_answer_is_unavailable_after_the_wait() {
        let started = Instant::now();
        let reply = create("x").run("command_tests_no_registry").await;
        assert_eq!(reply, Reply::Unavailable);
        assert!(started.elapsed() >= REGISTRY_WAIT);
    }
}
