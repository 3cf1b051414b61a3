//! Parsing of the size and CPU flags (`-m 512m`, `--cpus 1.5`) as docker's opts do.

/// go-units `RAMInBytes`: "512m", "1g", "10k", "100", "1.5GB", "2MiB" (binary multipliers).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    berth_api::units::ram_in_bytes(s.trim())
}

/// A memory flag value: `-1` means unlimited for `--memory-swap`.
pub fn mem_swap(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s)
}

/// `--cpus 1.5` → NanoCpus 1500000000, refusing more precision than a nano-CPU.
pub fn nano_cpus(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let valid = !t.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
        && !(int.is_empty() && frac.is_empty());
    if !valid {
        return Err(format!("failed to parse {t} as a rational number"));
    }
    let frac_trim = frac.trim_end_matches('0');
    if frac_trim.len() > 9 {
        return Err("value is too precise".into());
    }
    let i: i64 = if int.is_empty() {
        0
    } else {
        int.parse()
            .map_err(|_| format!("failed to parse {t} as a rational number"))?
    };
    let f: i64 = if frac_trim.is_empty() {
        0
    } else {
        format!("{frac_trim:0<9}").parse().unwrap_or(0)
    };
    i.checked_mul(1_000_000_000)
        .and_then(|x| x.checked_add(f))
        .ok_or_else(|| "value is too large".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram() {
        assert_eq!(ram_in_bytes("100"), Ok(100));
        assert_eq!(ram_in_bytes("10k"), Ok(10240));
        assert_eq!(ram_in_bytes("512m"), Ok(512 << 20));
        assert_eq!(ram_in_bytes("512M"), Ok(512 << 20));
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("1GB"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("2MiB"), Ok(2 << 20));
        assert_eq!(ram_in_bytes("1.5g"), Ok(1610612736));
        assert_eq!(ram_in_bytes("6b"), Ok(6));
        assert!(ram_in_bytes("10x").is_err());
        assert!(ram_in_bytes("").is_err());
        assert!(ram_in_bytes("m").is_err());
        assert_eq!(mem_swap("-1"), Ok(-1));
    }

    #[test]
    fn cpus() {
        assert_eq!(nano_cpus("1"), Ok(1_000_000_000));
        assert_eq!(nano_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("0.001"), Ok(1_000_000));
        assert_eq!(nano_cpus(".5"), Ok(500_000_000));
        assert_eq!(
            nano_cpus("0.0000000001"),
            Err("value is too precise".into())
        );
        assert!(nano_cpus("abc").is_err());
        assert!(nano_cpus("1.x").is_err());
    }
}
