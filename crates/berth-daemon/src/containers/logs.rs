//! `GET /containers/{id}/logs`: reads the json-file log the monitor writes, including
//! rotated files (`<log>.N`, and `<log>.N.gz` with `compress=true`).

pub mod options;

use super::attach::OutputWants;
use super::Container;
use crate::daemon::Daemon;
use crate::server::http::{self, HandlerResult, Req};
use berth_api::stream::{encode_frame, StreamKind};
use berth_api::ApiError;
use bytes::Bytes;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWrite;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Deserialize)]
struct LogLine {
    log: String,
    stream: String,
    time: String,
    #[serde(default)]
    attrs: Option<std::collections::BTreeMap<String, String>>,
}

/// Log files oldest first: `<log>.N[.gz]` … `<log>.1[.gz]`, then `<log>`. While the
/// monitor compresses `<log>.1`, both it and a partial `<log>.1.gz` exist: the plain one
/// wins (it is removed only once the gzip file is complete).
fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: std::collections::BTreeMap<u32, (PathBuf, bool)> = Default::default();
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            let prefix = format!("{name}.");
            for e in rd.flatten() {
                let fname = e.file_name().to_string_lossy().to_string();
                let Some(rest) = fname.strip_prefix(&prefix) else {
                    continue;
                };
                let (num, gz) = match rest.strip_suffix(".gz") {
                    Some(n) => (n, true),
                    None => (rest, false),
                };
                let Ok(n) = num.parse::<u32>() else {
                    continue;
                };
                match rotated.get(&n) {
                    Some((_, false)) => {}
                    _ => {
                        rotated.insert(n, (e.path(), gz));
                    }
                }
            }
        }
    }
    let mut out: Vec<PathBuf> = rotated.into_values().rev().map(|(p, _)| p).collect();
    out.push(path.to_path_buf());
    out
}

/// A log file's text; gzip-compressed rotated files are inflated. A plain rotated file
/// that vanished (compressed meanwhile) is read from its `.gz`.
fn read_log_file(path: &Path) -> Option<String> {
    use std::io::Read;
    let gz = path.extension().is_some_and(|e| e == "gz");
    if !gz {
        match std::fs::read(path) {
            Ok(b) => return Some(String::from_utf8_lossy(&b).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut name = path.as_os_str().to_os_string();
                name.push(".gz");
                return std::fs::metadata(&name)
                    .ok()
                    .and_then(|_| read_log_file(Path::new(&name)));
            }
            Err(_) => return None,
        }
    }
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    // A truncated file (a crash mid-compression) still yields its complete lines.
    let _ = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f)).read_to_end(&mut buf);
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Parses `since`/`until`: unix seconds with optional fraction, or RFC 3339.
pub fn parse_time_nanos(s: &str) -> Result<Option<i64>, ApiError> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_nanos_opt());
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs
        .parse()
        .map_err(|_| ApiError::invalid(format!("invalid time value: {s}")))?;
    let mut nanos = 0i64;
    if !frac.is_empty() {
        let f = format!("{:0<9}", &frac[..frac.len().min(9)]);
        nanos = f
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid time value: {s}")))?;
    }
    Ok(Some(secs * 1_000_000_000 + nanos))
}

#[derive(Clone, Copy)]
struct Selection {
    wants: OutputWants,
    timestamps: bool,
    details: bool,
    since: Option<i64>,
    until: Option<i64>,
}

fn render(line: &LogLine, sel: &Selection, out: &mut Vec<u8>) -> bool {
    let stream = if line.stream == "stderr" { 2 } else { 1 };
    if (stream == 1 && !sel.wants.stdout) || (stream == 2 && !sel.wants.stderr) {
        return false;
    }
    let t = chrono::DateTime::parse_from_rfc3339(&line.time)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0);
    if sel.since.map(|s| t < s).unwrap_or(false) {
        return false;
    }
    if sel.until.map(|u| t > u).unwrap_or(false) {
        return false;
    }
    let mut payload = Vec::with_capacity(line.log.len() + 32);
    if sel.timestamps {
        let ts = chrono::DateTime::parse_from_rfc3339(&line.time)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            })
            .unwrap_or_else(|_| line.time.clone());
        payload.extend_from_slice(ts.as_bytes());
        payload.push(b' ');
    }
    if sel.details {
        options::details_prefix(line.attrs.as_ref(), &mut payload);
    }
    payload.extend_from_slice(line.log.as_bytes());
    if sel.wants.tty {
        out.extend_from_slice(&payload);
    } else {
        encode_frame(
            if stream == 2 {
                StreamKind::Stderr
            } else {
                StreamKind::Stdout
            },
            &payload,
            out,
        );
    }
    true
}

/// Everything logged so far, as attach with `logs=1` replays it.
pub async fn write_history<W: AsyncWrite + Unpin>(path: &Path, w: &mut W, wants: OutputWants) {
    let sel = Selection {
        wants,
        timestamps: false,
        details: false,
        since: None,
        until: None,
    };
    let path = path.to_path_buf();
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for f in log_files(&path) {
            if let Some(text) = read_log_file(&f) {
                for l in text.lines() {
                    if let Ok(line) = serde_json::from_str::<LogLine>(l) {
                        render(&line, &sel, &mut out);
                    }
                }
            }
        }
        out
    })
    .await
    .unwrap_or_default();
    let _ = w.write_all(&bytes).await;
}

pub async fn logs(daemon: &Arc<Daemon>, c: &Arc<Container>, req: &Req) -> HandlerResult {
    let rec = c.snapshot();
    if rec.host_config.log_config.kind == "none" {
        return Err(ApiError::invalid("configured logging driver does not support reading").into());
    }
    let wants = OutputWants {
        stdout: req.qbool("stdout"),
        stderr: req.qbool("stderr"),
        tty: rec.config.tty,
    };
    if !wants.stdout && !wants.stderr {
        return Err(
            ApiError::invalid("Bad parameters: you must choose at least one stream").into(),
        );
    }
    let sel = Selection {
        wants,
        timestamps: req.qbool("timestamps"),
        details: req.qbool("details"),
        since: parse_time_nanos(req.q("since").unwrap_or(""))?,
        until: parse_time_nanos(req.q("until").unwrap_or(""))?,
    };
    let tail: Option<usize> = match req.q("tail").unwrap_or("all") {
        "all" | "" => None,
        n => match n.parse::<i64>() {
            Ok(v) if v < 0 => None,
            Ok(v) => Some(v as usize),
            Err(_) => return Err(ApiError::invalid(format!("invalid value for tail: {n}")).into()),
        },
    };
    let follow = req.qbool("follow") && sel.until.is_none();
    let path = daemon.container_paths(&rec.id).log(&rec.id);
    let mut seen = c.output.watch();
    let c = c.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        // History, with tail applied across rotated files.
        let (first, mut offset, file) = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                let files = log_files(&path);
                let mut lines: Vec<String> = Vec::new();
                for f in &files {
                    if let Some(text) = read_log_file(f) {
                        lines.extend(text.lines().map(str::to_string));
                    }
                }
                let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let start = tail.map(|t| lines.len().saturating_sub(t)).unwrap_or(0);
                let mut out = Vec::new();
                for l in &lines[start..] {
                    if let Ok(line) = serde_json::from_str::<LogLine>(l) {
                        render(&line, &sel, &mut out);
                    }
                }
                (out, offset, path)
            })
            .await
            .unwrap_or_default()
        };
        if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        if !follow {
            return;
        }
        // Follow: read what the monitor appends; container output wakes us early.
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let running = c.is_running();
            let (chunk, new_offset, rotated) = {
                let file2 = file.clone();
                tokio::task::spawn_blocking(move || read_from(&file2, offset))
                    .await
                    .unwrap_or((Vec::new(), offset, false))
            };
            if rotated {
                offset = 0;
                partial.clear();
                continue;
            }
            offset = new_offset;
            if !chunk.is_empty() {
                // Bytes, not text: a read may end inside a multi-byte character.
                partial.extend_from_slice(&chunk);
                let mut out = Vec::new();
                while let Some(pos) = partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=pos).collect();
                    if let Ok(l) = serde_json::from_slice::<LogLine>(&line) {
                        render(&l, &sel, &mut out);
                    }
                }
                if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
                    return;
                }
                continue;
            }
            if !running {
                return;
            }
            tokio::select! {
                // More output went by (the monitor writes the log before the daemon
                // sees it).
                _ = seen.changed() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    let ct = if rec.config.tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(http::streaming(ct, rx))
}

/// Reads a log file from `offset`; reports rotation when the file got shorter.
fn read_from(path: &Path, offset: u64) -> (Vec<u8>, u64, bool) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return (Vec::new(), offset, false);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len < offset {
        return (Vec::new(), 0, true);
    }
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return (Vec::new(), offset, false);
    }
    let mut buf = Vec::new();
    let n = f.take(4 << 20).read_to_end(&mut buf).unwrap_or(0);
    (buf, offset + n as u64, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times() {
        use berth_api::units::from_human_size;
        assert_eq!(from_human_size("10m"), Ok(10_000_000));
        assert_eq!(from_human_size("1k"), Ok(1000));
        assert!(from_human_size("abc").is_err());
        assert_eq!(
            parse_time_nanos("1700000000.5").unwrap(),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(parse_time_nanos("").unwrap(), None);
        assert!(parse_time_nanos("yesterday").is_err());
    }

    #[test]
    fn rotated_files_plain_and_gzipped() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("c-json.log");
        let gz = |p: &Path, text: &str| {
            let mut e = flate2::write::GzEncoder::new(
                std::fs::File::create(p).unwrap(),
                flate2::Compression::default(),
            );
            e.write_all(text.as_bytes()).unwrap();
            e.finish().unwrap();
        };
        std::fs::write(&log, "cur\n").unwrap();
        gz(&d.path().join("c-json.log.2.gz"), "two\n");
        // Mid-compression: `.1` and a partial `.1.gz`; the plain file wins.
        std::fs::write(d.path().join("c-json.log.1"), "one\n").unwrap();
        std::fs::write(d.path().join("c-json.log.1.gz"), b"\x1f\x8b").unwrap();
        std::fs::write(d.path().join("c-json.log.x"), "junk").unwrap();
        let files = log_files(&log);
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["c-json.log.2.gz", "c-json.log.1", "c-json.log"]);
        let text: String = files.iter().filter_map(|f| read_log_file(f)).collect();
        assert_eq!(text, "two\none\ncur\n");
        // `.1` compressed after the listing: read from its `.gz`.
        gz(&d.path().join("c-json.log.1.gz"), "one\n");
        std::fs::remove_file(d.path().join("c-json.log.1")).unwrap();
        assert_eq!(read_log_file(&files[1]).unwrap(), "one\n");
    }
}
