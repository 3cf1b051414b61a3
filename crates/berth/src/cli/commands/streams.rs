//! Shared stream plumbing for run, start -a, attach and exec: output demux, stdin copy
//! with half-close on EOF, detach keys, TTY resize on SIGWINCH and signal proxying.

use super::super::{term, Fail};
use berth_client::{Client, Hijacked};
use tokio::io::AsyncReadExt;

/// How a hijacked session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The output stream closed (the process ended or the daemon hung up).
    Output,
    /// The user typed the detach sequence.
    Detached,
}

/// Copies the container's output to our stdout/stderr and, when `stdin`, our stdin to
/// the container; stdin EOF half-closes the connection and output keeps flowing.
pub async fn pump(
    h: Hijacked,
    tty: bool,
    stdin: bool,
    detach_keys: Option<Vec<u8>>,
) -> Result<Ended, Fail> {
    let raw = match h.multiplexed() {
        Some(m) => !m,
        None => tty,
    };
    let (mut reader, writer) = h.split();
    let out = async move {
        let mut so = std::io::stdout();
        let mut se = std::io::stderr();
        reader.demux_to(raw, &mut so, &mut se).await
    };
    tokio::pin!(out);
    let Some(mut writer) = writer.filter(|_| stdin) else {
        out.await.map_err(|e| Fail::new(e.to_string(), 1))?;
        return Ok(Ended::Output);
    };
    let input = async move {
        let mut sin = tokio::io::stdin();
        let mut matcher = detach_keys.map(term::DetachMatcher::new);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = sin.read(&mut buf).await.unwrap_or_default();
            if n == 0 {
                let _ = writer.close_write().await;
                return Ended::Output;
            }
            let (data, detached) = match &mut matcher {
                Some(m) => m.feed(&buf[..n]),
                None => (buf[..n].to_vec(), false),
            };
            if !data.is_empty() && writer.write_all(&data).await.is_err() {
                return Ended::Output;
            }
            if detached {
                return Ended::Detached;
            }
        }
    };
    tokio::select! {
        r = &mut out => {
            r.map_err(|e| Fail::new(e.to_string(), 1))?;
            Ok(Ended::Output)
        }
        e = input => {
            if e == Ended::Detached {
                return Ok(Ended::Detached);
            }
            out.await.map_err(|e| Fail::new(e.to_string(), 1))?;
            Ok(Ended::Output)
        }
    }
}

/// What to resize: a container's TTY or an exec's.
#[derive(Clone)]
pub enum ResizeTarget {
    Container(String),
    Exec(String),
}

async fn resize_once(client: &Client, t: &ResizeTarget) {
    if let Some((h, w)) = term::size() {
        let _ = match t {
            ResizeTarget::Container(id) => client.resize_container(id, h, w).await,
            ResizeTarget::Exec(id) => client.resize_exec(id, h, w).await,
        };
    }
}

/// Sends the terminal size now and on every SIGWINCH, in the background.
pub async fn monitor_tty_size(client: &Client, t: ResizeTarget) {
    resize_once(client, &t).await;
    let client = client.clone();
    tokio::spawn(async move {
        let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while sig.recv().await.is_some() {
            resize_once(&client, &t).await;
        }
    });
}

/// Forwards the usual termination signals to the container (docker's `--sig-proxy`).
pub fn proxy_signals(client: &Client, id: &str) {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, name) in [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ] {
        let Ok(mut sig) = signal(kind) else { continue };
        let client = client.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                let _ = client.kill_container(&id, Some(name)).await;
            }
        });
    }
}
