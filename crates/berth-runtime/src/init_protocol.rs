//! The messages between a monitor and the container init it cloned, on their SEQPACKET
//! socket pair: one message per packet, a tag byte then the payload. Both ends are this
//! crate, so the types are the contract; the bytes stay small enough for one packet.

use crate::container::StartError;

/// Longest message either side sends (one packet; the receiver's buffer is 4096).
const MAX_MESSAGE: usize = 4000;

/// Monitor → init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToInit {
    /// The uid/gid maps of its user namespace are written: become root in it.
    Mapped,
    /// Set-up is done: exec the process.
    Go,
}

/// Init → monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FromInit {
    /// The terminal's master side comes with this message (SCM_RIGHTS).
    Pty,
    /// Set-up is done; the steps it took (name, µs) for the phase trace.
    Ready(Vec<(String, u64)>),
    /// Set-up or exec failed.
    Error(StartError),
}

const TAG_MAPPED: u8 = b'M';
const TAG_GO: u8 = b'G';
const TAG_PTY: u8 = b'P';
const TAG_READY: u8 = b'R';
const TAG_ERROR: u8 = b'E';

impl ToInit {
    /// The packet.
    pub(crate) fn encode(self) -> [u8; 1] {
        [match self {
            ToInit::Mapped => TAG_MAPPED,
            ToInit::Go => TAG_GO,
        }]
    }

    /// The message a packet holds; `None` for anything else (the init then gives up).
    pub(crate) fn decode(b: &[u8]) -> Option<ToInit> {
        match *b.first()? {
            TAG_MAPPED => Some(ToInit::Mapped),
            TAG_GO => Some(ToInit::Go),
            _ => None,
        }
    }
}

impl FromInit {
    /// The tag of [`FromInit::Pty`], sent with the descriptor by `sys::send_fd`.
    pub(crate) const PTY_TAG: u8 = TAG_PTY;

    /// The packet, cut to one packet's size.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut m = Vec::new();
        match self {
            FromInit::Pty => m.push(TAG_PTY),
            FromInit::Ready(steps) => {
                m.push(TAG_READY);
                for (name, us) in steps {
                    m.extend_from_slice(format!("{name}={us}\n").as_bytes());
                }
            }
            FromInit::Error(e) => {
                m.push(TAG_ERROR);
                m.push(e.exit_code.clamp(0, 255) as u8);
                m.extend_from_slice(e.message.as_bytes());
            }
        }
        m.truncate(MAX_MESSAGE);
        m
    }

    /// The message a packet holds; `None` for an empty or unknown one.
    pub(crate) fn decode(b: &[u8]) -> Option<FromInit> {
        let (tag, rest) = b.split_first()?;
        Some(match *tag {
            TAG_PTY => FromInit::Pty,
            TAG_READY => FromInit::Ready(
                String::from_utf8_lossy(rest)
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .filter_map(|(k, v)| Some((k.to_string(), v.parse::<u64>().ok()?)))
                    .collect(),
            ),
            TAG_ERROR => FromInit::Error(StartError {
                exit_code: rest.first().copied().unwrap_or(1) as i32,
                message: String::from_utf8_lossy(rest.get(1..).unwrap_or(&[])).into_owned(),
            }),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_survives_the_wire() {
        for m in [ToInit::Mapped, ToInit::Go] {
            assert_eq!(ToInit::decode(&m.encode()), Some(m));
        }
        let ready = FromInit::Ready(vec![("init.rootfs_mounts".into(), 1506), ("x".into(), 0)]);
        let error = FromInit::Error(StartError {
            message: "exec: \"nope\": executable file not found in $PATH".into(),
            exit_code: 127,
        });
        for m in [FromInit::Pty, ready, error] {
            assert_eq!(FromInit::decode(&m.encode()), Some(m));
        }
    }

    #[test]
    fn strange_packets_are_refused_and_big_ones_cut() {
        assert_eq!(ToInit::decode(b""), None);
        assert_eq!(ToInit::decode(b"X"), None);
        assert_eq!(FromInit::decode(b""), None);
        assert_eq!(FromInit::decode(b"Zzz"), None);
        // An error without a code or text still decodes (as Docker's generic failure).
        assert_eq!(
            FromInit::decode(b"E"),
            Some(FromInit::Error(StartError {
                message: String::new(),
                exit_code: 1
            }))
        );
        let long = FromInit::Error(StartError {
            message: "x".repeat(10_000),
            exit_code: 300,
        });
        let bytes = long.encode();
        assert_eq!(bytes.len(), MAX_MESSAGE);
        match FromInit::decode(&bytes) {
            Some(FromInit::Error(e)) => assert_eq!(e.exit_code, 255),
            other => panic!("{other:?}"),
        }
        // Steps that do not parse are dropped, not fatal.
        assert_eq!(
            FromInit::decode(b"Ra=1\nbroken\nb=x\nc=3\n"),
            Some(FromInit::Ready(vec![("a".into(), 1), ("c".into(), 3)]))
        );
    }
}
