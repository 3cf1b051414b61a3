//! go-units' size parsing (`units.FromHumanSize`, `units.RAMInBytes`), which docker's
//! client flags (`-m`, `--shm-size`, `tmpfs-size`) and the daemon's log options use, with
//! its error texts.

/// `units.FromHumanSize`: SI multipliers (`10m` is 10,000,000 bytes).
pub fn from_human_size(s: &str) -> Result<i64, String> {
    parse_units(s, 1000)
}

/// `units.RAMInBytes`: binary multipliers.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    parse_units(s, 1024)
}

/// go-units' `parseSize`.
fn parse_units(size: &str, base: i64) -> Result<i64, String> {
    let Some(sep) = size.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{size}'"));
    };
    let (num, sfx) = if size.as_bytes()[sep] != b' ' {
        (&size[..sep + 1], &size[sep + 1..])
    } else {
        (&size[..sep], &size[sep + 1..])
    };
    let mut n = go_parse_float(num)?;
    if n < 0.0 {
        return Err(format!("invalid size: '{size}'"));
    }
    if sfx.is_empty() {
        return Ok(n as i64);
    }
    let bad = || format!("invalid suffix: '{sfx}'");
    if sfx.len() > 3 {
        return Err(bad());
    }
    let lower = sfx.to_ascii_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        return if b.len() > 1 {
            Err(bad())
        } else {
            Ok(n as i64)
        };
    }
    let power = match b[0] {
        b'k' => 1,
        b'm' => 2,
        b'g' => 3,
        b't' => 4,
        b'p' => 5,
        _ => return Err(bad()),
    };
    n *= (base as f64).powi(power);
    if (b.len() == 2 && b[1] != b'b') || (b.len() == 3 && &lower[1..] != "ib") {
        return Err(bad());
    }
    Ok(n as i64)
}

/// `strconv.ParseFloat` (the error text only).
fn go_parse_float(s: &str) -> Result<f64, String> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    match s.parse::<f64>() {
        Ok(v) if ok => Ok(v),
        _ => Err(format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_go_units() {
        assert_eq!(from_human_size("10m"), Ok(10_000_000));
        assert_eq!(ram_in_bytes("10k"), Ok(10240));
        assert_eq!(ram_in_bytes("2MiB"), Ok(2 << 20));
        assert_eq!(ram_in_bytes("1.5g"), Ok(1610612736));
        assert_eq!(ram_in_bytes("abc"), Err("invalid size: 'abc'".into()));
        assert_eq!(ram_in_bytes("10x"), Err("invalid suffix: 'x'".into()));
    }
}
