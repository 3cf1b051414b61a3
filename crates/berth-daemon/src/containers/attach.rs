//! `POST /containers/{id}/attach`: the hijacked stream `docker run` and `docker attach` use.

use super::{Container, Output};
use crate::daemon::Daemon;
use crate::server::http::{self, HandlerResult, Req};
use berth_api::stream::{encode_frame, StreamKind};
use berth_runtime::protocol::FrameKind;
use bytes::Bytes;
use hyper::header::{HeaderValue, CONNECTION, UPGRADE};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Parses docker's detach-keys syntax (`ctrl-p,ctrl-q`, `a`, `ctrl-@`).
pub fn parse_detach_keys(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if let Some(k) = part.strip_prefix("ctrl-") {
            let ch = k.chars().next()?;
            if k.len() != 1 {
                return None;
            }
            let b = match ch {
                'a'..='z' => ch as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return None,
            };
            out.push(b);
        } else if part.len() == 1 {
            out.push(part.as_bytes()[0]);
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The response head for a hijacked stream (101 when the client asked to upgrade).
pub fn hijack_head(upgrade: bool, tty: bool) -> http::Resp {
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    if upgrade {
        let mut resp = http::response(StatusCode::SWITCHING_PROTOCOLS, Some(ct), http::empty());
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        resp.headers_mut()
            .insert(UPGRADE, HeaderValue::from_static("tcp"));
        resp
    } else {
        http::response(StatusCode::OK, Some(ct), http::empty())
    }
}

/// Which output streams a client wants and how to frame them.
#[derive(Clone, Copy)]
pub struct OutputWants {
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Copies container output to a client until the run ends.
pub async fn pump_output<W: AsyncWrite + Unpin>(
    mut sub: super::output::OutputReader,
    w: &mut W,
    wants: OutputWants,
) {
    // Until the run's end (`Exit`) or the hub's.
    while let Some(Output::Data(stream, data)) = sub.recv().await {
        if (stream == 1 && !wants.stdout) || (stream == 2 && !wants.stderr) {
            continue;
        }
        let ok = if wants.tty {
            w.write_all(&data).await
        } else {
            let kind = if stream == 2 {
                StreamKind::Stderr
            } else {
                StreamKind::Stdout
            };
            let mut buf = Vec::with_capacity(data.len() + 8);
            encode_frame(kind, &data, &mut buf);
            w.write_all(&buf).await
        };
        if ok.is_err() {
            return;
        }
    }
    let _ = w.flush().await;
}

/// Copies client stdin to the monitor. Returns true when the client typed the detach keys.
pub async fn pump_stdin<R: AsyncRead + Unpin>(
    c: &Arc<Container>,
    r: &mut R,
    detach: Option<Vec<u8>>,
    close_on_eof: bool,
) -> bool {
    let mut buf = vec![0u8; 32 * 1024];
    let mut matched = 0usize;
    // `docker run -i` attaches before it starts the container and may send all of its
    // stdin (and EOF) before the monitor exists: hold it until the run begins.
    let exits_at_attach = c.lifecycle.borrow().exits;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut data = &buf[..n];
        if let Some(keys) = &detach {
            for (i, b) in data.iter().enumerate() {
                if *b == keys[matched] {
                    matched += 1;
                    if matched == keys.len() {
                        let before = &data[..(i + 1).saturating_sub(keys.len())];
                        if !before.is_empty() {
                            send_stdin(c, before, exits_at_attach).await;
                        }
                        return true;
                    }
                } else {
                    matched = if *b == keys[0] { 1 } else { 0 };
                }
            }
            if matched > 0 {
                // Hold back a possible prefix of the detach sequence.
                data = &data[..n - matched.min(n)];
            }
        }
        if !data.is_empty() && !send_stdin(c, data, exits_at_attach).await {
            return false;
        }
    }
    if close_on_eof && monitor_ready(c, exits_at_attach).await {
        if let Some(w) = c.monitor.lock().await.as_mut() {
            let _ = w.send(FrameKind::StdinClose, &[]).await;
        }
    }
    false
}

/// Waits until the container has a monitor link; false once the run that was current
/// (or next) at attach time has ended, or the container is gone.
async fn monitor_ready(c: &Arc<Container>, exits_at_attach: u64) -> bool {
    let mut rx = c.lifecycle.subscribe();
    loop {
        if c.monitor.lock().await.is_some() {
            return true;
        }
        {
            let l = rx.borrow_and_update();
            if l.exits != exits_at_attach || l.removed {
                return false;
            }
        }
        // The link is set just before `running` flips; re-check now and then as well.
        if let Ok(Err(_)) =
            tokio::time::timeout(std::time::Duration::from_millis(100), rx.changed()).await
        {
            return false;
        }
    }
}

async fn send_stdin(c: &Arc<Container>, data: &[u8], exits_at_attach: u64) -> bool {
    if !monitor_ready(c, exits_at_attach).await {
        return false;
    }
    match c.monitor.lock().await.as_mut() {
        Some(w) => w.send(FrameKind::Stdin, data).await.is_ok(),
        None => false,
    }
}

pub async fn attach(daemon: &Arc<Daemon>, c: &Arc<Container>, req: &mut Req) -> HandlerResult {
    let rec = c.snapshot();
    let tty = rec.config.tty;
    let wants = OutputWants {
        stdout: req.qbool("stdout"),
        stderr: req.qbool("stderr"),
        tty,
    };
    let want_stdin = req.qbool("stdin") && rec.config.open_stdin;
    let stream = req.qbool("stream");
    let logs = req.qbool("logs");
    let detach = match req.q("detachKeys").filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_detach_keys(s).ok_or_else(|| {
            berth_api::ApiError::invalid(format!("Invalid detach keys ({s}) provided"))
        })?),
        None => Some(vec![16, 17]),
    };
    let sub = c.output.subscribe();
    let upgrade = req.wants_upgrade();
    let on_upgrade = req.take_upgrade();
    let log_path = daemon.container_paths(&rec.id).log(&rec.id);
    daemon.container_event(c, "attach", &[]);
    let c2 = c.clone();
    let stdin_once = rec.config.stdin_once;

    if !upgrade || on_upgrade.is_none() {
        // Plain response: output only.
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
        tokio::spawn(async move {
            let mut w = ChannelWriter { tx };
            if logs {
                super::logs::write_history(&log_path, &mut w, wants).await;
            }
            if stream {
                pump_output(sub, &mut w, wants).await;
            }
        });
        let head = hijack_head(false, tty);
        let (parts, _) = head.into_parts();
        return Ok(hyper::Response::from_parts(parts, http::channel_body(rx)));
    }
    let on_upgrade = on_upgrade.expect("checked above");
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("attach upgrade: {e}");
                return;
            }
        };
        let io = TokioIo::new(upgraded);
        let (mut r, mut w) = tokio::io::split(io);
        if logs {
            super::logs::write_history(&log_path, &mut w, wants).await;
        }
        if !stream {
            let _ = w.shutdown().await;
            return;
        }
        let out = pump_output(sub, &mut w, wants);
        if want_stdin {
            let input = pump_stdin(&c2, &mut r, if tty { detach } else { None }, stdin_once);
            tokio::pin!(out);
            tokio::pin!(input);
            tokio::select! {
                _ = &mut out => {}
                detached = &mut input => {
                    if !detached {
                        // stdin closed: keep streaming output until the run ends.
                        out.await;
                    }
                }
            }
        } else {
            // Drain (and ignore) anything the client sends so it never blocks.
            let drain = async {
                let mut sink = [0u8; 4096];
                while let Ok(n) = r.read(&mut sink).await {
                    if n == 0 {
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                _ = out => {}
                _ = drain => {}
            }
        }
        let _ = w.shutdown().await;
    });
    Ok(hijack_head(true, tty))
}

/// An AsyncWrite into a body channel, for the non-upgraded attach.
pub struct ChannelWriter {
    pub tx: tokio::sync::mpsc::Sender<Bytes>,
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match this.tx.try_reserve() {
            Ok(permit) => {
                permit.send(Bytes::copy_from_slice(buf));
                std::task::Poll::Ready(Ok(buf.len()))
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
            }
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                let tx = this.tx.clone();
                let waker = cx.waker().clone();
                tokio::spawn(async move {
                    let _ = tx.reserve().await;
                    waker.wake();
                });
                std::task::Poll::Pending
            }
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q"), Some(vec![16, 17]));
        assert_eq!(parse_detach_keys("a,ctrl-@"), Some(vec![b'a', 0]));
        assert_eq!(parse_detach_keys("ctrl-"), None);
        assert_eq!(parse_detach_keys("abc"), None);
    }
}
