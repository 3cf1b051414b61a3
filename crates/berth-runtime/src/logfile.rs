//! Docker `json-file` log writer used by the monitor.
//!
//! One JSON object per line, `{"log":"text\n","stream":"stdout","time":"...Z"}`, split at
//! newlines so `docker logs` readers see the same records Docker writes. Lines longer than
//! [`MAX_LINE`] are written as partial records (no trailing newline), as Docker does.
//! Rotation keeps `<log>`, `<log>.1` … `<log>.<max_file-1>`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Longest line buffered before it is flushed as a partial record (Docker's 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;

/// Which stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (and all tty output).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Rotating json-file writer with per-stream line buffers.
pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
    pending: [Vec<u8>; 2],
    rec: Vec<u8>,
}

impl JsonLog {
    /// Opens (appends to) `path`. `max_size` 0 means unlimited; `max_file` is the number of
    /// files kept including the current one (Docker's `max-file`, at least 1).
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> io::Result<JsonLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            pending: [Vec::with_capacity(256), Vec::with_capacity(256)],
            rec: Vec::with_capacity(512),
        })
    }

    /// Adds output bytes of `stream`; complete lines are written immediately.
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) -> io::Result<()> {
        let idx = stream as usize;
        while !data.is_empty() {
            let room = MAX_LINE - self.pending[idx].len();
            let (line_end, complete) = match data.iter().position(|&b| b == b'\n') {
                Some(p) if p < room => (p + 1, true),
                _ if data.len() >= room => (room, true),
                _ => (data.len(), false),
            };
            self.pending[idx].extend_from_slice(&data[..line_end]);
            data = &data[line_end..];
            if complete {
                let buf = std::mem::take(&mut self.pending[idx]);
                let r = self.record(stream, &buf);
                self.pending[idx] = buf;
                self.pending[idx].clear();
                r?;
            }
        }
        Ok(())
    }

    /// Writes out partial lines (at exit).
    pub fn flush(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let idx = stream as usize;
            if !self.pending[idx].is_empty() {
                let buf = std::mem::take(&mut self.pending[idx]);
                self.record(stream, &buf)?;
            }
        }
        self.file.flush()
    }

    fn record(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        self.rec.clear();
        self.rec.extend_from_slice(b"{\"log\":\"");
        json_escape(&mut self.rec, line);
        self.rec.extend_from_slice(b"\",\"stream\":\"");
        self.rec.extend_from_slice(stream.name().as_bytes());
        self.rec.extend_from_slice(b"\",\"time\":\"");
        let mut ts = [0u8; 30];
        let n = rfc3339_nano_now(&mut ts);
        self.rec.extend_from_slice(&ts[..n]);
        self.rec.extend_from_slice(b"\"}\n");
        if self.max_size > 0 && self.size > 0 && self.size + self.rec.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&self.rec)?;
        self.size += self.rec.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_file > 1 {
            let name = |i: u32| {
                let mut s = self.path.clone().into_os_string();
                s.push(format!(".{i}"));
                PathBuf::from(s)
            };
            for i in (1..self.max_file - 1).rev() {
                let _ = std::fs::rename(name(i), name(i + 1));
            }
            std::fs::rename(&self.path, name(1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// Escapes bytes as the body of a JSON string the way Go's encoding/json does (HTML-safe,
/// invalid UTF-8 replaced by U+FFFD), so log files read the same as Docker's.
pub fn json_escape(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                    let v = c as u32;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(v >> 4) as usize]);
                    out.push(HEX[(v & 15) as usize]);
                }
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
}

/// Formats the current UTC time as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` into `buf` without
/// allocating; returns the length (30).
pub fn rfc3339_nano_now(buf: &mut [u8; 30]) -> usize {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_nano(buf, now.as_secs() as i64, now.subsec_nanos())
}

/// Formats a Unix time as RFC 3339 with 9 fractional digits, UTC.
pub fn rfc3339_nano(buf: &mut [u8; 30], secs: i64, nanos: u32) -> usize {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let mut put = |pos: usize, v: i64, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            buf[pos + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y, 4);
    put(5, m, 2);
    put(8, d, 2);
    put(11, rem / 3600, 2);
    put(14, rem % 3600 / 60, 2);
    put(17, rem % 60, 2);
    put(20, nanos as i64, 9);
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    buf[19] = b'.';
    buf[29] = b'Z';
    30
}

/// Current time as an owned RFC 3339 nano string (for exit.json).
pub fn now_rfc3339_nano() -> String {
    let mut b = [0u8; 30];
    let n = rfc3339_nano_now(&mut b);
    String::from_utf8_lossy(&b[..n]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn time_format() {
        let mut b = [0u8; 30];
        rfc3339_nano(&mut b, 0, 0);
        assert_eq!(&b, b"1970-01-01T00:00:00.000000000Z");
        rfc3339_nano(&mut b, 1_704_067_200 + 3661, 5);
        assert_eq!(&b, b"2024-01-01T01:01:01.000000005Z");
        rfc3339_nano(&mut b, 951_782_400, 123_456_789); // leap day 2000
        assert_eq!(&b, b"2000-02-29T00:00:00.123456789Z");
        let now = now_rfc3339_nano();
        assert!(chrono::DateTime::parse_from_rfc3339(&now).is_ok());
    }

    #[test]
    fn escape_like_go() {
        let mut v = vec![];
        json_escape(&mut v, b"a\"b\\<x>&\x01\t\xff\n");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "a\\\"b\\\\\\u003cx\\u003e\\u0026\\u0001\\t\u{fffd}\\n"
        );
    }

    #[test]
    fn splits_lines_and_streams() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut l = JsonLog::open(&p, 0, 1).unwrap();
        l.write(Stream::Stdout, b"hel").unwrap();
        l.write(Stream::Stderr, b"err\n").unwrap();
        l.write(Stream::Stdout, b"lo\nworld\npart").unwrap();
        l.flush().unwrap();
        let v = lines(&p);
        let got: Vec<(String, String)> = v
            .iter()
            .map(|o| {
                (
                    o["log"].as_str().unwrap().to_string(),
                    o["stream"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("err\n".into(), "stderr".into()),
                ("hello\n".into(), "stdout".into()),
                ("world\n".into(), "stdout".into()),
                ("part".into(), "stdout".into()),
            ]
        );
        assert!(v[0]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn long_lines_are_partial() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.log");
        let mut l = JsonLog::open(&p, 0, 1).unwrap();
        let big = vec![b'x'; MAX_LINE + 10];
        l.write(Stream::Stdout, &big).unwrap();
        l.write(Stream::Stdout, b"\n").unwrap();
        let v = lines(&p);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["log"].as_str().unwrap().len(), MAX_LINE);
        assert_eq!(v[1]["log"].as_str().unwrap(), "xxxxxxxxxx\n");
    }

    #[test]
    fn rotation() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.log");
        let mut l = JsonLog::open(&p, 300, 3).unwrap();
        for i in 0..20 {
            l.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        l.flush().unwrap();
        let r1 = d.path().join("r.log.1");
        let r2 = d.path().join("r.log.2");
        assert!(r1.exists() && r2.exists());
        assert!(!d.path().join("r.log.3").exists());
        for f in [&p, &r1, &r2] {
            assert!(std::fs::metadata(f).unwrap().len() <= 300);
        }
        let last = lines(&p);
        assert_eq!(last.last().unwrap()["log"], "line 19\n");
        // The newest rotated file holds the lines right before the current file's first.
        let prev = lines(&r1);
        let first_cur: String = last[0]["log"].as_str().unwrap().to_string();
        let n: i32 = first_cur.trim().split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(prev.last().unwrap()["log"], format!("line {}\n", n - 1));

        // max-file 1: truncate in place.
        let p1 = d.path().join("t.log");
        let mut l = JsonLog::open(&p1, 200, 1).unwrap();
        for i in 0..20 {
            l.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert!(std::fs::metadata(&p1).unwrap().len() <= 200);
        assert!(!d.path().join("t.log.1").exists());
    }
}
