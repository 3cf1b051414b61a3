//! `--env-file` and `--label-file` parsing, as docker's `opts.ParseEnvFile`.

/// Parses env-file text: `#` comments and blank lines skipped, `KEY=VALUE` kept as is,
/// a bare `KEY` takes its value from `lookup` (dropped when unset). Leading whitespace
/// of a line is ignored; names with whitespace are rejected like docker does.
pub fn parse_env_file(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if name.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        if name.contains(char::is_whitespace) {
            return Err(format!("variable '{}' contains whitespaces", name));
        }
        let _ = n;
        match value {
            Some(v) => out.push(format!("{name}={v}")),
            None => {
                if let Some(v) = lookup(name) {
                    out.push(format!("{name}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// Reads and parses an env file from disk, looking bare names up in the environment.
pub fn read_env_file(path: &str) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("open {path}: {}", io_text(&e)))?;
    parse_env_file(&text, |k| std::env::var(k).ok())
}

/// Go's wording for the common I/O errors.
pub fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// `-e KEY` without a value takes it from the environment (dropped when unset).
pub fn expand_env(arg: &str) -> Option<String> {
    if arg.contains('=') {
        Some(arg.to_string())
    } else {
        std::env::var(arg).ok().map(|v| format!("{arg}={v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file() {
        let text = "# comment\n\nA=1\n  B=two words\nC\nD\nE=\n";
        let got = parse_env_file(text, |k| (k == "C").then(|| "from-env".to_string())).unwrap();
        assert_eq!(got, ["A=1", "B=two words", "C=from-env", "E="]);
        assert!(parse_env_file("BAD NAME=1\n", |_| None).is_err());
        assert!(parse_env_file("=1\n", |_| None).is_err());
    }

    #[test]
    fn expand() {
        assert_eq!(expand_env("A=b").as_deref(), Some("A=b"));
        assert_eq!(expand_env("BERTH_SURELY_UNSET_VAR"), None);
    }
}
