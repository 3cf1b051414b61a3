//! Streamed answers (logs, events, stats, progress, archives) and hijacked connections
//! (attach, exec start), with the stdout/stderr demultiplexer for non-TTY streams.

use crate::{Error, Result};
use berth_api::stream::{FrameDecoder, StreamKind};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

enum Src {
    Body(hyper::body::Incoming),
    Raw(ReadHalf<TokioIo<Upgraded>>),
}

/// The read side of a streamed answer or of a hijacked connection.
pub struct BodyStream {
    src: Src,
    content_type: Option<String>,
    pending: Vec<u8>,
    eof: bool,
}

impl BodyStream {
    pub fn new(resp: hyper::Response<hyper::body::Incoming>) -> BodyStream {
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        BodyStream {
            src: Src::Body(resp.into_body()),
            content_type,
            pending: Vec::new(),
            eof: false,
        }
    }

    /// The answer's `Content-Type`, when known (tells multiplexed from raw streams).
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The next chunk of bytes; `None` at the end of the stream.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        if !self.pending.is_empty() {
            return Ok(Some(Bytes::from(std::mem::take(&mut self.pending))));
        }
        self.read_src().await
    }

    async fn read_src(&mut self) -> Result<Option<Bytes>> {
        if self.eof {
            return Ok(None);
        }
        match &mut self.src {
            Src::Body(b) => loop {
                match b.frame().await {
                    None => {
                        self.eof = true;
                        return Ok(None);
                    }
                    Some(Err(e)) => return Err(Error::Http(e.to_string())),
                    Some(Ok(f)) => {
                        if let Ok(d) = f.into_data() {
                            if !d.is_empty() {
                                return Ok(Some(d));
                            }
                        }
                    }
                }
            },
            Src::Raw(r) => {
                let mut buf = vec![0u8; 32 * 1024];
                let n = r.read(&mut buf).await?;
                if n == 0 {
                    self.eof = true;
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some(Bytes::from(buf)))
            }
        }
    }

    /// The next newline-terminated line (without the newline); the last line may lack one.
    pub async fn next_line(&mut self) -> Result<Option<Vec<u8>>> {
        let mut buf = std::mem::take(&mut self.pending);
        loop {
            if let Some(i) = buf.iter().position(|&b| b == b'\n') {
                self.pending = buf.split_off(i + 1);
                buf.pop();
                return Ok(Some(buf));
            }
            let chunk = self.read_src().await?;
            match chunk {
                Some(c) => buf.extend_from_slice(&c),
                None => {
                    return Ok(if buf.is_empty() { None } else { Some(buf) });
                }
            }
        }
    }

    /// The next JSON value of a newline-delimited JSON stream (events, stats, progress);
    /// blank lines are skipped.
    pub async fn next_json<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        loop {
            match self.next_line().await? {
                None => return Ok(None),
                Some(l) if l.iter().all(u8::is_ascii_whitespace) => continue,
                Some(l) => {
                    return serde_json::from_slice(&l)
                        .map(Some)
                        .map_err(|e| Error::Decode(e.to_string()))
                }
            }
        }
    }

    /// Copies the whole stream to `w` (archives for save/export), returning the byte count.
    pub async fn copy_to(&mut self, w: &mut dyn Write) -> Result<u64> {
        let mut n = 0u64;
        while let Some(c) = self.chunk().await? {
            w.write_all(&c)?;
            n += c.len() as u64;
        }
        w.flush()?;
        Ok(n)
    }

    /// Copies a container output stream to `out`/`err`: raw when `tty`, otherwise
    /// demultiplexed from the 8-byte-header frames. Each chunk is flushed so that
    /// interactive output appears at once.
    pub async fn demux_to(
        &mut self,
        tty: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        let mut dec = FrameDecoder::default();
        while let Some(c) = self.chunk().await? {
            if tty {
                out.write_all(&c)?;
                out.flush()?;
                continue;
            }
            dec.push(&c);
            while let Some((kind, payload)) = dec.next_frame() {
                match kind {
                    StreamKind::Stderr | StreamKind::Systemerr => {
                        err.write_all(&payload)?;
                        err.flush()?;
                    }
                    _ => {
                        out.write_all(&payload)?;
                        out.flush()?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The write side of a hijacked connection (the container's or exec's stdin).
pub struct HijackWriter(WriteHalf<TokioIo<Upgraded>>);

impl HijackWriter {
    pub async fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.0.write_all(data).await?;
        self.0.flush().await?;
        Ok(())
    }

    /// Half-closes the connection: the daemon sees stdin EOF and keeps sending output.
    pub async fn close_write(&mut self) -> Result<()> {
        self.0.shutdown().await?;
        Ok(())
    }
}

/// A hijacked (upgraded) connection, or the plain body of a daemon that answered 200.
pub struct Hijacked {
    read: BodyStream,
    write: Option<HijackWriter>,
    multiplexed: Option<bool>,
}

impl Hijacked {
    pub(crate) fn upgraded(up: Upgraded, multiplexed: Option<bool>) -> Hijacked {
        let (r, w) = tokio::io::split(TokioIo::new(up));
        Hijacked {
            read: BodyStream {
                src: Src::Raw(r),
                content_type: None,
                pending: Vec::new(),
                eof: false,
            },
            write: Some(HijackWriter(w)),
            multiplexed,
        }
    }

    pub(crate) fn plain(read: BodyStream) -> Hijacked {
        let multiplexed = read.content_type().map(|c| c.contains("multiplexed"));
        Hijacked {
            read,
            write: None,
            multiplexed,
        }
    }

    /// What the daemon's `Content-Type` said about framing, if it said anything.
    pub fn multiplexed(&self) -> Option<bool> {
        self.multiplexed
    }

    /// Splits into the output reader and the stdin writer (absent on a plain answer).
    pub fn split(self) -> (BodyStream, Option<HijackWriter>) {
        (self.read, self.write)
    }
}
