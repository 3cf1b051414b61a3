//! The monitor socket protocol: `[kind u8][len u32 BE][payload]` frames both ways.
//!
//! The monitor uses the blocking helpers; the async daemon uses [`encode_frame`] and
//! [`FrameDecoder`] so it never blocks a runtime thread on a monitor socket.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Largest payload accepted; bounds what a confused or hostile peer can make us allocate.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Size of the frame header (kind + length).
pub const HEADER_LEN: usize = 5;

/// Kind of a frame; the numbers are the wire values of docs/internals.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Container stdout (all output when a tty is used), monitor → daemon.
    Stdout = 1,
    /// Container stderr, monitor → daemon.
    Stderr = 2,
    /// JSON [`ExitStatus`], monitor → daemon, last frame sent.
    Exit = 3,
    /// Release the container init (it execs the process), daemon → monitor.
    Start = 10,
    /// Bytes for the process's stdin, daemon → monitor.
    Stdin = 11,
    /// Close the process's stdin, daemon → monitor.
    StdinClose = 12,
    /// `[rows u16 BE][cols u16 BE]` tty size, daemon → monitor.
    Resize = 13,
    /// `[signo u32 BE]`, daemon → monitor; the monitor signals its child (no pid reuse race).
    Signal = 14,
}

impl FrameKind {
    /// Maps a wire byte to a kind; `None` for unknown kinds (a protocol error).
    pub fn from_u8(b: u8) -> Option<FrameKind> {
        Some(match b {
            1 => FrameKind::Stdout,
            2 => FrameKind::Stderr,
            3 => FrameKind::Exit,
            10 => FrameKind::Start,
            11 => FrameKind::Stdin,
            12 => FrameKind::StdinClose,
            13 => FrameKind::Resize,
            14 => FrameKind::Signal,
            _ => return None,
        })
    }
}

/// How the container process ended; also the content of `<bundle>/exit.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit status, or 128+signal when killed by a signal (as Docker reports it).
    pub exit_code: i32,
    /// The cgroup recorded an OOM kill while the container ran.
    pub oom_killed: bool,
    /// RFC 3339 time with nanoseconds, UTC.
    pub finished_at: String,
    /// Why the process could not be started (exec failure after Start); absent normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn header(kind: FrameKind, len: usize) -> [u8; HEADER_LEN] {
    let l = (len as u32).to_be_bytes();
    [kind as u8, l[0], l[1], l[2], l[3]]
}

/// Encodes one frame into a new buffer (for callers that write asynchronously).
pub fn encode_frame(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + payload.len());
    encode_frame_into(&mut v, kind, payload);
    v
}

/// Appends one frame to `out`; lets the monitor reuse one buffer per client.
pub fn encode_frame_into(out: &mut Vec<u8>, kind: FrameKind, payload: &[u8]) {
    out.extend_from_slice(&header(kind, payload.len()));
    out.extend_from_slice(payload);
}

/// Writes one frame with blocking I/O.
pub fn write_frame(w: &mut impl Write, kind: FrameKind, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame payload too large",
        ));
    }
    w.write_all(&header(kind, payload.len()))?;
    w.write_all(payload)?;
    w.flush()
}

/// Reads one frame with blocking I/O; `Ok(None)` on a clean EOF between frames.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(FrameKind, Vec<u8>)>> {
    let mut hdr = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut hdr[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let (kind, len) = parse_header(&hdr)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((kind, payload)))
}

fn parse_header(hdr: &[u8]) -> io::Result<(FrameKind, usize)> {
    let kind = FrameKind::from_u8(hdr[0]).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown frame kind {}", hdr[0]),
        )
    })?;
    let len = u32::from_be_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len} exceeds limit"),
        ));
    }
    Ok((kind, len))
}

/// Incremental decoder: push bytes as they arrive, take whole frames out.
///
/// Used by the non-blocking monitor loop and the async daemon alike.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    /// Creates an empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Returns the next whole frame, `Ok(None)` if more bytes are needed, or an error for
    /// an unknown kind or an oversized length (the connection should then be dropped).
    pub fn next_frame(&mut self) -> io::Result<Option<(FrameKind, Vec<u8>)>> {
        match self.next_frame_ref()? {
            Some((k, p)) => Ok(Some((k, p.to_vec()))),
            None => Ok(None),
        }
    }

    /// Like [`next_frame`](Self::next_frame) but borrows the payload (no allocation).
    pub fn next_frame_ref(&mut self) -> io::Result<Option<(FrameKind, &[u8])>> {
        let avail = &self.buf[self.start..];
        if avail.len() < HEADER_LEN {
            self.compact();
            return Ok(None);
        }
        let (kind, len) = parse_header(&avail[..HEADER_LEN])?;
        if avail.len() < HEADER_LEN + len {
            self.compact();
            return Ok(None);
        }
        let s = self.start + HEADER_LEN;
        self.start = s + len;
        Ok(Some((kind, &self.buf[s..s + len])))
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_blocking() {
        let mut buf = Vec::new();
        write_frame(&mut buf, FrameKind::Stdout, b"hello").unwrap();
        write_frame(&mut buf, FrameKind::Start, b"").unwrap();
        assert_eq!(&buf[..5], &[1, 0, 0, 0, 5]);
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((FrameKind::Stdout, b"hello".to_vec()))
        );
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((FrameKind::Start, vec![]))
        );
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn truncated_frame_is_error() {
        let buf = encode_frame(FrameKind::Stdin, b"abc");
        let mut r = &buf[..6];
        assert!(read_frame(&mut r).is_err());
        let mut r = &buf[..2];
        assert!(read_frame(&mut r).is_err());
    }

    #[test]
    fn rejects_oversize_and_unknown() {
        let mut r: &[u8] = &[1, 0xff, 0, 0, 0];
        assert!(read_frame(&mut r).is_err());
        let mut r: &[u8] = &[99, 0, 0, 0, 0];
        assert!(read_frame(&mut r).is_err());
        let mut d = FrameDecoder::new();
        d.push(&[2, 0x01, 0, 0, 1]);
        assert!(d.next_frame().is_err());
    }

    #[test]
    fn decoder_handles_split_input() {
        let mut all = encode_frame(FrameKind::Resize, &[0, 24, 0, 80]);
        all.extend(encode_frame(FrameKind::Signal, &15u32.to_be_bytes()));
        all.extend(encode_frame(FrameKind::StdinClose, b""));
        let mut d = FrameDecoder::new();
        let mut out = vec![];
        for b in &all {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                out.push(f);
            }
        }
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], (FrameKind::Resize, vec![0, 24, 0, 80]));
        assert_eq!(out[1], (FrameKind::Signal, vec![0, 0, 0, 15]));
        assert_eq!(out[2], (FrameKind::StdinClose, vec![]));
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn exit_status_json() {
        let s = ExitStatus {
            exit_code: 137,
            oom_killed: true,
            finished_at: "2024-01-01T00:00:00.000000000Z".into(),
            error: None,
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(
            j,
            r#"{"exit_code":137,"oom_killed":true,"finished_at":"2024-01-01T00:00:00.000000000Z"}"#
        );
        assert_eq!(serde_json::from_str::<ExitStatus>(&j).unwrap(), s);
    }
}

/// A path to `dir/name` that fits in a unix socket address (108 bytes). Long paths are
/// reached through `/proc/self/fd/<dir fd>/name`; keep the returned `File` open until the
/// socket is bound or connected.
pub fn socket_path(
    dir: &std::path::Path,
    name: &str,
) -> io::Result<(Option<std::fs::File>, std::path::PathBuf)> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let full = dir.join(name);
    if full.as_os_str().as_bytes().len() < 100 {
        return Ok((None, full));
    }
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    let short = std::path::PathBuf::from(format!("/proc/self/fd/{}/{name}", d.as_raw_fd()));
    Ok((Some(d), short))
}

#[cfg(test)]
mod socket_path_tests {
    #[test]
    fn long_directories_get_a_short_path() {
        let base = tempfile::tempdir().unwrap();
        let long = base.path().join("x".repeat(120));
        std::fs::create_dir(&long).unwrap();
        let (guard, path) = super::socket_path(&long, "monitor.sock").unwrap();
        assert!(guard.is_some() && path.as_os_str().len() < 108);
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(guard);
        let (g2, p2) = super::socket_path(&long, "monitor.sock").unwrap();
        let _c = std::os::unix::net::UnixStream::connect(&p2).unwrap();
        drop(g2);
        assert!(l.accept().is_ok());
        assert!(long.join("monitor.sock").exists());
    }
}
