//! Shared stream plumbing for run, start -a, attach and exec: output demux, stdin copy
//! with half-close on EOF, detach keys, TTY resize on SIGWINCH, signal proxying,
//! and the progress-stream printer used by pull, load and import.

use super::super::{term, Fail};
use berth_api::progress::JsonMessage;
use berth_client::{BodyStream, Client, Hijacked};
use std::io::Write;
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

/// Prints a progress stream (pull, load, import) line by line. Returns the last
/// `status`/`stream` text, or fails with the first `errorDetail` message.
pub async fn print_progress(
    mut s: BodyStream,
    out: &mut dyn Write,
    quiet: bool,
) -> Result<Option<String>, Fail> {
    let mut last = None;
    loop {
        let msg: Option<JsonMessage> = s
            .next_json()
            .await
            .map_err(|e| Fail::new(e.to_string(), 1))?;
        let Some(m) = msg else { break };
        if let Some(e) = m
            .error_detail
            .as_ref()
            .map(|d| d.message.clone())
            .or(m.error.clone())
        {
            return Err(Fail::new(e, 1));
        }
        if let Some(st) = &m.stream {
            if !quiet {
                let _ = write!(out, "{st}");
            }
            last = Some(st.trim_end().to_string());
        } else if let Some(st) = &m.status {
            // Byte counts (Downloading, Extracting) are for a live view; plain output
            // leaves them out, as docker's does when it is not on a terminal.
            let counting = m
                .progress_detail
                .as_ref()
                .is_some_and(|d| d.total.is_some());
            if !quiet && !counting {
                let line = match (&m.id, &m.progress) {
                    (Some(id), Some(p)) => format!("{id}: {st} {p}"),
                    (Some(id), None) => format!("{id}: {st}"),
                    _ => st.clone(),
                };
                let _ = writeln!(out, "{line}");
            }
            last = Some(st.clone());
        }
        let _ = out.flush();
    }
    Ok(last)
}
