//! Docker `json-file` log writer used by the monitor.
//!
//! One JSON object per line, `{"log":"text\n","stream":"stdout","time":"...Z"}`, split at
//! newlines so `docker logs` readers see the same records Docker writes. Lines longer than
//! [`MAX_LINE`] are written as partial records (no trailing newline), as Docker does.
//! Rotation keeps `<log>`, `<log>.1` … `<log>.<max_file-1>`; with `compress` (moby's
//! `compress=true`) the rotated files are gzipped to `<log>.1.gz` … in a helper thread
//! right after each rotation, exactly as moby's `loggerutils.LogFile` does. Extra
//! attributes (moby's `attrs`: labels, env, tag) are serialized once and spliced into
//! every record.

use std::collections::BTreeMap;
use std::fs::File;
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
    /// `,"attrs":{...}` (empty when there are none), spliced into every record.
    attrs: Vec<u8>,
    compress: bool,
    /// Timestamp of the last record (for the gzip header, as moby writes it).
    last_ts: [u8; 30],
    /// The thread compressing the last rotated file; joined before the next rotation.
    compressor: Option<std::thread::JoinHandle<()>>,
}

impl JsonLog {
    /// Opens (appends to) `path`. `max_size` 0 means unlimited; `max_file` is the number of
    /// files kept including the current one (Docker's `max-file`, at least 1).
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> io::Result<JsonLog> {
        let file = berth_perms::append_file(path, berth_perms::Mode::LOG_FILE)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            pending: [Vec::with_capacity(256), Vec::with_capacity(256)],
            rec: Vec::with_capacity(512),
            attrs: Vec::new(),
            compress: false,
            last_ts: [0u8; 30],
            compressor: None,
        })
    }

    /// Adds moby's `attrs` object to every record. `attrs_json` is a serialized JSON object
    /// (see [`attrs_json`]); empty or `{}` means none.
    pub fn with_attrs(mut self, attrs_json: &str) -> JsonLog {
        let a = attrs_json.trim();
        self.attrs.clear();
        if !a.is_empty() && a != "{}" {
            self.attrs.extend_from_slice(b",\"attrs\":");
            self.attrs.extend_from_slice(a.as_bytes());
        }
        self
    }

    /// Gzips rotated files (only meaningful with a size limit and at least 2 files).
    pub fn with_compress(mut self, compress: bool) -> JsonLog {
        self.compress = compress;
        self
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
        self.wait_compressor();
        self.file.flush()
    }

    fn wait_compressor(&mut self) {
        if let Some(h) = self.compressor.take() {
            let _ = h.join();
        }
    }

    fn record(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        self.rec.clear();
        self.rec.extend_from_slice(b"{\"log\":\"");
        json_escape(&mut self.rec, line);
        self.rec.extend_from_slice(b"\",\"stream\":\"");
        self.rec.extend_from_slice(stream.name().as_bytes());
        self.rec.push(b'"');
        self.rec.extend_from_slice(&self.attrs);
        self.rec.extend_from_slice(b",\"time\":\"");
        let n = rfc3339_nano_now(&mut self.last_ts);
        self.rec.extend_from_slice(&self.last_ts[..n]);
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
            // moby's rotateMu: the previous compression finishes before files move on.
            self.wait_compressor();
            let ext = if self.compress { ".gz" } else { "" };
            let name = |i: u32, ext: &str| {
                let mut s = self.path.clone().into_os_string();
                s.push(format!(".{i}{ext}"));
                PathBuf::from(s)
            };
            let _ = std::fs::remove_file(name(self.max_file - 1, ext));
            for i in (1..self.max_file - 1).rev() {
                let _ = std::fs::rename(name(i, ext), name(i + 1, ext));
            }
            std::fs::rename(&self.path, name(1, ""))?;
            self.file = berth_perms::append_file(&self.path, berth_perms::Mode::LOG_FILE)?;
            if self.compress {
                let src = name(1, "");
                let last = self.last_ts;
                // Small stack: the deflate state lives on the heap.
                self.compressor = std::thread::Builder::new()
                    .name("log-compress".into())
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        if let Err(e) = compress_file(&src, &last) {
                            eprintln!("berth monitor: compress {}: {e}", src.display());
                        }
                    })
                    .ok();
            }
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

impl Drop for JsonLog {
    fn drop(&mut self) {
        self.wait_compressor();
    }
}

/// Gzips `src` to `src.gz` and removes `src` (moby's `compressFile`): the gzip header's
/// extra field holds `{"lastTime":"<time of the last record>"}`.
fn compress_file(src: &Path, last_ts: &[u8; 30]) -> io::Result<()> {
    let mut input = match File::open(src) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut gz_name = src.as_os_str().to_os_string();
    gz_name.push(".gz");
    let gz_path = PathBuf::from(gz_name);
    let result = (|| {
        let out = berth_perms::create_file(&gz_path, berth_perms::Mode::LOG_FILE)?;
        let mut extra = Vec::with_capacity(48);
        if last_ts[0] != 0 {
            extra.extend_from_slice(b"{\"lastTime\":\"");
            extra.extend_from_slice(&go_time_trim(last_ts));
            extra.extend_from_slice(b"\"}");
        } else {
            extra.extend_from_slice(b"{}");
        }
        let mut enc = flate2::GzBuilder::new()
            .extra(extra)
            .write(io::BufWriter::new(out), flate2::Compression::default());
        io::copy(&mut input, &mut enc)?;
        enc.finish()?.flush()
    })();
    match result {
        Ok(()) => std::fs::remove_file(src),
        Err(e) => {
            let _ = std::fs::remove_file(&gz_path);
            Err(e)
        }
    }
}

/// Go's `time.RFC3339Nano` drops trailing zeros of the fraction (and the dot).
fn go_time_trim(ts: &[u8; 30]) -> Vec<u8> {
    let frac = &ts[20..29];
    let keep = frac
        .iter()
        .rposition(|&b| b != b'0')
        .map(|p| p + 1)
        .unwrap_or(0);
    let mut out = ts[..19].to_vec();
    if keep > 0 {
        out.push(b'.');
        out.extend_from_slice(&frac[..keep]);
    }
    out.push(b'Z');
    out
}

/// Serializes moby's extra log attributes the way Go's `json.Marshal` does a
/// `map[string]string` (keys sorted, HTML-safe escaping); `""` when there are none.
pub fn attrs_json(attrs: &BTreeMap<String, String>) -> String {
    if attrs.is_empty() {
        return String::new();
    }
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        json_escape(&mut out, k.as_bytes());
        out.extend_from_slice(b"\":\"");
        json_escape(&mut out, v.as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
    String::from_utf8_lossy(&out).into_owned()
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

    #[test]
    fn attrs_in_every_record() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        let mut m = BTreeMap::new();
        m.insert("tag".to_string(), "web<1>".to_string());
        m.insert("env".to_string(), "prod".to_string());
        let json = attrs_json(&m);
        assert_eq!(json, r#"{"env":"prod","tag":"web\u003c1\u003e"}"#);
        assert_eq!(attrs_json(&BTreeMap::new()), "");
        let mut l = JsonLog::open(&p, 0, 1).unwrap().with_attrs(&json);
        l.write(Stream::Stdout, b"one\ntwo\n").unwrap();
        let raw = std::fs::read_to_string(&p).unwrap();
        // moby's field order: log, stream, attrs, time.
        assert!(raw.starts_with(
            r#"{"log":"one\n","stream":"stdout","attrs":{"env":"prod","tag":"web\u003c1\u003e"},"time":""#
        ));
        for v in lines(&p) {
            assert_eq!(v["attrs"]["tag"], "web<1>");
            assert_eq!(v["attrs"]["env"], "prod");
        }
        // No attrs: no key at all.
        let p2 = d.path().join("b.log");
        let mut l = JsonLog::open(&p2, 0, 1).unwrap().with_attrs("{}");
        l.write(Stream::Stdout, b"x\n").unwrap();
        assert!(!std::fs::read_to_string(&p2).unwrap().contains("attrs"));
    }

    fn read_gz(p: &Path) -> String {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(File::open(p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn compressed_rotation() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("z.log");
        let mut l = JsonLog::open(&p, 200, 3).unwrap().with_compress(true);
        for i in 0..40 {
            l.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        l.flush().unwrap();
        let f = |n: &str| d.path().join(n);
        assert!(f("z.log.1.gz").exists() && f("z.log.2.gz").exists());
        assert!(!f("z.log.1").exists() && !f("z.log.2").exists());
        assert!(!f("z.log.3.gz").exists());
        // Oldest first, the files hold consecutive lines ending with the last one.
        let mut all = read_gz(&f("z.log.2.gz"));
        all.push_str(&read_gz(&f("z.log.1.gz")));
        all.push_str(&std::fs::read_to_string(&p).unwrap());
        let nums: Vec<i32> = all
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["log"].as_str().unwrap().trim()[5..].parse().unwrap()
            })
            .collect();
        assert_eq!(*nums.last().unwrap(), 39);
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
        // The gzip header carries moby's lastTime.
        let gz = flate2::read::GzDecoder::new(File::open(f("z.log.1.gz")).unwrap());
        let extra = gz.header().unwrap().extra().unwrap().to_vec();
        let v: serde_json::Value = serde_json::from_slice(&extra).unwrap();
        assert!(v["lastTime"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn go_time_trims_zeros() {
        let mut b = [0u8; 30];
        rfc3339_nano(&mut b, 0, 120_000_000);
        assert_eq!(go_time_trim(&b), b"1970-01-01T00:00:00.12Z");
        rfc3339_nano(&mut b, 0, 0);
        assert_eq!(go_time_trim(&b), b"1970-01-01T00:00:00Z");
    }
}
