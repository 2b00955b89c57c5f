//! What travels between nodes: a frame header, then postcard.
//!
//! Every request a node sends is `MAGIC`, the protocol `VERSION`, then a postcard
//! [`Request`]. Its `body` is the postcard of the target server's wire message, and
//! `fingerprint` names the message types the sender compiled against: a receiver
//! whose server has another fingerprint refuses the body rather than guess at it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The first bytes of every frame: not a gensrv node if they differ.
pub(crate) const MAGIC: [u8; 2] = *b"gs";
/// The version of the frames themselves (not of any server's messages).
pub(crate) const VERSION: u8 = 3;

/// A call from another node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    /// The local number of the pid called (`Pid::index` on the receiving node).
    pub(crate) to: u64,
    /// The fingerprint of the message types the sender used.
    pub(crate) fingerprint: u64,
    /// The server's wire message, in postcard.
    pub(crate) body: Vec<u8>,
}

/// A pid as it travels: its node, and its number there.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct WirePid {
    pub(crate) node: super::NodeId,
    pub(crate) index: u64,
}

impl std::fmt::Display for WirePid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{}.{}>", self.node, self.index)
    }
}

/// What a node sends another that wants no answer: casts, and the signals that
/// keep monitors and links across nodes. Sent in order with the calls.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Put {
    /// A cast to the server `to`.
    Cast {
        to: u64,
        fingerprint: u64,
        body: Vec<u8>,
    },
    /// Node `from` stands in for the process `to` (a proxy, see `proxy.rs`):
    /// send it `Down { key, .. }` when `to` ends (at once if it has).
    /// `link`: the proxy is for a link made there; a process that has just
    /// ended is answered with its reason rather than `NoProc`.
    Monitor {
        from: super::NodeId,
        to: u64,
        key: u64,
        link: bool,
    },
    /// Node `from` dropped its proxy `key` of the process `to`: stop watching
    /// it for that proxy.
    Demonitor {
        from: super::NodeId,
        to: u64,
        key: u64,
    },
    /// The process watched under `key`, on node `from`, has ended.
    Down {
        from: super::NodeId,
        key: u64,
        reason: crate::ExitReason,
    },
    /// `from` (on the sending node) linked itself to `to`.
    Link { from: WirePid, to: u64 },
    /// `from` removed its link to `to`.
    Unlink { from: WirePid, to: u64 },
    /// An exit signal from `from` to `to` (OTP's `exit/2`; not a link's).
    Exit {
        from: WirePid,
        to: u64,
        reason: crate::ExitReason,
    },
    /// Stop `to` with `reason` (OTP's `gen_server:stop`).
    Stop { to: u64, reason: crate::ExitReason },
    /// `from` (on the sending node), linked to a process of the receiving
    /// node, ended with `reason`: the receiver's stand-in of it ends with that
    /// reason (its link's signal), whatever its own `Down` will say.
    LinkExit {
        from: WirePid,
        reason: crate::ExitReason,
    },
}

/// Why a node refused or failed a request; travels back in the reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The frame was not a gensrv request (bad magic, version or encoding).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// No server that takes remote calls runs under that pid there.
    #[error("no such process")]
    NoProc,
    /// The server's message types differ from the sender's (another version of it).
    #[error("message types differ: sender {sender:#018x}, server {server:#018x}")]
    Fingerprint {
        /// What the sender compiled against.
        sender: u64,
        /// What the server there runs.
        server: u64,
    },
    /// The body did not decode as one of the server's messages.
    #[error("bad message: {0}")]
    BadMessage(String),
    /// The call reached the server and failed there: the caller there got this.
    #[error("call failed there: {0}")]
    Failed(crate::CallError),
    /// The server there is not `#[gen_server(remote)]`: its messages do not travel.
    #[error("{0} takes no messages from other nodes")]
    NotRemote(String),
}

/// Encodes a frame: header, then `value` in postcard.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64);
    frame.extend_from_slice(&MAGIC);
    frame.push(VERSION);
    // Serializing into a Vec fails only for types serde cannot express in
    // postcard (maps of unknown length do not occur in our own frames).
    postcard::to_io(value, &mut frame).expect("a gensrv frame always serializes");
    frame
}

/// Decodes a frame made by [`encode`]; never panics on any input.
pub(crate) fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, Refusal> {
    let body = match frame {
        [m0, m1, version, body @ ..] if [*m0, *m1] == MAGIC => {
            if *version != VERSION {
                return Err(Refusal::Malformed(format!(
                    "frame version {version}, this node speaks {VERSION}"
                )));
            }
            body
        }
        _ => return Err(Refusal::Malformed("not a gensrv frame".into())),
    };
    limited(body).map_err(Refusal::Malformed)
}

thread_local! {
    /// Why the last of gensrv's own serde errors on this thread was made:
    /// postcard keeps only that a custom error happened, not its message.
    static WHY: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The message of one of gensrv's serde errors, kept so that the `Refusal` it
/// ends in can say why.
pub(crate) fn why(message: impl std::fmt::Display) -> String {
    let message = message.to_string();
    WHY.with(|why| *why.borrow_mut() = Some(message.clone()));
    message
}

/// Runs an encode or a decode, and words its error with the kept message.
fn explained<T>(f: impl FnOnce() -> Result<T, postcard::Error>) -> Result<T, String> {
    WHY.with(|why| why.borrow_mut().take());
    f().map_err(|e| {
        let why = WHY.with(|why| why.borrow_mut().take());
        match (&e, why) {
            (postcard::Error::SerdeSerCustom | postcard::Error::SerdeDeCustom, Some(why)) => {
                format!("{e}: {why}")
            }
            _ => e.to_string(),
        }
    })
}

/// postcard's `from_bytes`, with a limit on how deep values nest (see `depth.rs`).
fn limited<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    explained(|| super::depth::deserialize(&mut postcard::Deserializer::from_bytes(bytes)))
}

/// Encodes a server's wire message (a request body or a reply) in postcard.
pub fn to_body<T: Serialize>(value: &T) -> Result<Vec<u8>, Refusal> {
    explained(|| postcard::to_stdvec(value)).map_err(Refusal::BadMessage)
}

/// Decodes a server's wire message; an error, never a panic, on any input.
/// Values may nest at most 256 levels (a message of a recursive type deeper
/// than that is refused: it would overflow the stack of the node decoding it).
pub fn from_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    limited(body).map_err(Refusal::BadMessage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_the_round_trip() {
        let request = Request {
            to: 70,
            fingerprint: 0xfeed,
            body: vec![1, 2, 3],
        };
        let back: Request = decode(&encode(&request)).unwrap();
        assert_eq!(
            (back.to, back.fingerprint, back.body),
            (70, 0xfeed, vec![1, 2, 3])
        );
    }

    #[test]
    fn a_node_id_from_the_network_must_be_one() {
        // `Put::Monitor { from, to: 70, key: 1 }` by hand: a `from` that is no
        // node id (a wildcard would make the Down a broadcast) is refused.
        for from in [&b"*"[..], b"a/b", b"", b"**", b"xyz"] {
            let mut frame = vec![b'g', b's', VERSION, 1, from.len() as u8];
            frame.extend_from_slice(from);
            frame.extend_from_slice(&[70, 1, 0]);
            assert!(
                matches!(decode::<Put>(&frame), Err(Refusal::Malformed(_))),
                "{from:?}"
            );
        }
        let mut good = vec![b'g', b's', VERSION, 1, 4];
        good.extend_from_slice(b"ab12");
        good.extend_from_slice(&[70, 1, 0]);
        assert!(matches!(
            decode::<Put>(&good),
            Ok(Put::Monitor { to: 70, key: 1, .. })
        ));
    }

    #[test]
    fn garbage_and_truncated_frames_are_refused() {
        let frame = encode(&Request {
            to: 70,
            fingerprint: 0xfeed,
            body: vec![1, 2, 3],
        });
        for bad in [
            &b""[..],
            b"xx",
            b"gs",
            b"gs\x09abc",
            &frame[..frame.len() - 1],
        ] {
            assert!(
                matches!(decode::<Request>(bad), Err(Refusal::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
