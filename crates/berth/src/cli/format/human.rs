//! Human-readable durations and sizes, as docker's go-units prints them.

/// go-units `HumanDuration`: "Less than a second", "About a minute", "2 hours"...
pub fn duration(secs: f64) -> String {
    let seconds = secs as i64;
    let minutes = (secs / 60.0) as i64;
    let hours = (secs / 3600.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (secs / 3600.0 / 24.0 / 365.0) as i64)
    }
}

/// "<duration> ago" for a unix timestamp, relative to `now` (both in seconds).
pub fn since(ts: i64, now: i64) -> String {
    format!("{} ago", duration((now - ts).max(0) as f64))
}

/// Go's `%.<prec>g` for the magnitudes sizes take (no exponent form below 10^prec).
fn fmt_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i64 + 1;
    if digits > prec as i64 {
        // Go switches to exponent form; sizes never get here after scaling except
        // 1000..1023 in binary units, printed as integers by Go too ("1000KiB" is "1e+03KiB").
        let exp = digits - 1;
        let mant = v / 10f64.powi(exp as i32);
        let m = trim_zeros(format!("{:.*}", prec.saturating_sub(1), mant));
        return format!("{m}e+{exp:02}");
    }
    let decimals = (prec as i64 - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    // rounding may add a digit (999.95 → "1000.0"); Go keeps 4 significant digits.
    trim_zeros(s)
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn custom_size(size: f64, prec: usize, base: f64, units: &[&str]) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", fmt_g(size, prec), units[i])
}

/// go-units `HumanSizeWithPrecision`: decimal units ("4.26MB").
pub fn size_prec(bytes: f64, prec: usize) -> String {
    custom_size(
        bytes,
        prec,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
    )
}

/// go-units `HumanSize` (precision 4).
pub fn size(bytes: f64) -> String {
    size_prec(bytes, 4)
}

/// go-units `BytesSize`: binary units ("1.5MiB"), used by `stats`.
pub fn bytes_size(bytes: f64) -> String {
    custom_size(
        bytes,
        4,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"],
    )
}

/// Truncates to `max` display columns with a trailing "…" (docker's `Ellipsis`).
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote` for the printable text commands hold.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A 64-hex id cut to docker's 12 characters, without its `sha256:` prefix.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0.5), "Less than a second");
        assert_eq!(duration(1.0), "1 second");
        assert_eq!(duration(3.0), "3 seconds");
        assert_eq!(duration(59.0), "59 seconds");
        assert_eq!(duration(60.0), "About a minute");
        assert_eq!(duration(119.0), "About a minute");
        assert_eq!(duration(120.0), "2 minutes");
        assert_eq!(duration(3599.0), "59 minutes");
        assert_eq!(duration(3600.0), "About an hour");
        assert_eq!(duration(2.0 * 3600.0), "2 hours");
        assert_eq!(duration(47.0 * 3600.0), "47 hours");
        assert_eq!(duration(3.0 * 86400.0), "3 days");
        assert_eq!(duration(15.0 * 86400.0), "2 weeks");
        assert_eq!(duration(90.0 * 86400.0), "3 months");
        assert_eq!(duration(800.0 * 86400.0), "2 years");
        assert_eq!(since(100, 105), "5 seconds ago");
    }

    #[test]
    fn sizes() {
        assert_eq!(size_prec(4_261_000.0, 3), "4.26MB");
        assert_eq!(size(0.0), "0B");
        assert_eq!(size(999.0), "999B");
        assert_eq!(size(1000.0), "1kB");
        assert_eq!(size(1_234_567.0), "1.235MB");
        assert_eq!(size_prec(1_234_567.0, 3), "1.23MB");
        assert_eq!(size(12_000_000_000.0), "12GB");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(bytes_size(512.0), "512B");
        assert_eq!(bytes_size(1024.0 * 1024.0 * 100.0), "100MiB");
    }

    #[test]
    fn text() {
        assert_eq!(
            ellipsis("sh -c 'echo hello world'", 20),
            "sh -c 'echo hello w…"
        );
        assert_eq!(ellipsis("short", 20), "short");
        assert_eq!(go_quote("sh -c \"x\""), "\"sh -c \\\"x\\\"\"");
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789ab");
    }
}
