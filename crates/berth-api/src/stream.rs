//! The multiplexed stdout/stderr framing used by attach, logs and exec without a TTY:
//! an 8-byte header `[stream, 0, 0, 0, size (u32 big-endian)]` then the payload.

/// Stream numbers in the frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// Used by moby for system errors in the stream.
    Systemerr = 3,
}

impl StreamKind {
    pub fn from_u8(b: u8) -> Option<StreamKind> {
        match b {
            0 => Some(StreamKind::Stdin),
            1 => Some(StreamKind::Stdout),
            2 => Some(StreamKind::Stderr),
            3 => Some(StreamKind::Systemerr),
            _ => None,
        }
    }
}

/// The 8-byte frame header for a payload of `len` bytes.
pub fn frame_header(kind: StreamKind, len: usize) -> [u8; 8] {
    let n = (len as u32).to_be_bytes();
    [kind as u8, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

/// Appends one framed payload to `out`.
pub fn encode_frame(kind: StreamKind, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&frame_header(kind, payload.len()));
    out.extend_from_slice(payload);
}

/// Incremental decoder: feed bytes, take whole frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame, if one is buffered. An unknown stream byte is reported as
    /// stdout so that a confused peer cannot wedge the reader.
    pub fn next_frame(&mut self) -> Option<(StreamKind, Vec<u8>)> {
        if self.buf.len() < 8 {
            return None;
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return None;
        }
        let kind = StreamKind::from_u8(self.buf[0]).unwrap_or(StreamKind::Stdout);
        let payload = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        Some((kind, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        encode_frame(StreamKind::Stdout, b"hello", &mut out);
        encode_frame(StreamKind::Stderr, b"", &mut out);
        assert_eq!(&out[..8], &[1, 0, 0, 0, 0, 0, 0, 5]);
        let mut d = FrameDecoder::default();
        d.push(&out[..3]);
        assert!(d.next_frame().is_none());
        d.push(&out[3..]);
        assert_eq!(
            d.next_frame(),
            Some((StreamKind::Stdout, b"hello".to_vec()))
        );
        assert_eq!(d.next_frame(), Some((StreamKind::Stderr, vec![])));
        assert!(d.next_frame().is_none());
    }
}
