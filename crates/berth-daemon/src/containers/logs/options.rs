//! The json-file driver's options as moby v28.2.2 reads them: validation
//! (`logger.ValidateLogOpts`, `jsonfilelog.ValidateLogOpt` and the checks `jsonfilelog.New`
//! makes at start), and the extra attributes each record carries (`loginfo.ExtraAttributes`
//! plus the `tag` template).
//!
//! moby only reports the `New` errors (bad sizes, counts, `compress`, regexps, tag templates)
//! when the container starts, as `failed to initialize logging driver: <reason>`; berth
//! reports the same text when the container is created, so a container never exists that
//! cannot start for this reason.

use super::super::ContainerRecord;
use berth_api::container::LogConfig;
use berth_api::units::{from_human_size, ram_in_bytes};
use berth_api::ApiError;
use std::collections::BTreeMap;

/// The json-file writer settings the monitor gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonFileOpts {
    /// `max-size` in bytes (SI units, as `units.FromHumanSize`); `None`: unlimited.
    pub max_size: Option<u64>,
    /// `max-file`, at least 1.
    pub max_file: u32,
    /// `compress`.
    pub compress: bool,
}

/// Options every driver accepts (moby's `builtInLogOpts`).
const BUILTIN: &[&str] = &["mode", "max-buffer-size"];
/// Options the json-file driver knows (moby's `jsonfilelog.ValidateLogOpt`).
const JSON_FILE: &[&str] = &[
    "max-file",
    "max-size",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Create-time validation of a container's `LogConfig`.
pub fn validate(lc: &LogConfig) -> Result<(), ApiError> {
    let empty = BTreeMap::new();
    let cfg = lc.config.as_ref().unwrap_or(&empty);
    match lc.kind.as_str() {
        "" | "json-file" => {}
        "none" => return Ok(()),
        other => {
            return Err(ApiError::invalid(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    }
    let mode = cfg.get("mode").map(String::as_str).unwrap_or("");
    if !matches!(mode, "" | "blocking" | "non-blocking") {
        return Err(ApiError::invalid(format!(
            "logger: logging mode not supported: {mode}"
        )));
    }
    if let Some(s) = cfg.get("max-buffer-size") {
        if mode != "non-blocking" {
            return Err(ApiError::invalid(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
            ));
        }
        ram_in_bytes(s)
            .map_err(|e| ApiError::invalid(format!("error parsing option max-buffer-size: {e}")))?;
    }
    for k in cfg.keys() {
        if !BUILTIN.contains(&k.as_str()) && !JSON_FILE.contains(&k.as_str()) {
            return Err(ApiError::invalid(format!(
                "unknown log opt '{k}' for json-file log driver"
            )));
        }
    }
    let init = |e: String| ApiError::invalid(format!("failed to initialize logging driver: {e}"));
    parse(cfg).map_err(init)?;
    for key in ["labels-regex", "env-regex"] {
        if let Some(re) = cfg.get(key).filter(|r| !r.is_empty()) {
            compile(re).map_err(init)?;
        }
    }
    if let Some(t) = cfg.get("tag") {
        render_tag(t, &TagInfo::default()).map_err(init)?;
    }
    Ok(())
}

/// moby's `jsonfilelog.New` checks, in its order and with its texts.
pub fn parse(cfg: &BTreeMap<String, String>) -> Result<JsonFileOpts, String> {
    let mut max_size = None;
    if let Some(s) = cfg.get("max-size") {
        let n = from_human_size(s)?;
        if n <= 0 {
            return Err("max-size must be a positive number".into());
        }
        max_size = Some(n as u64);
    }
    let mut max_file = 1u32;
    if let Some(s) = cfg.get("max-file") {
        let n = go_atoi(s)?;
        if n < 1 {
            return Err("max-file cannot be less than 1".into());
        }
        max_file = n.min(u32::MAX as i64) as u32;
    }
    let mut compress = false;
    if let Some(s) = cfg.get("compress") {
        compress = go_parse_bool(s)?;
        if compress && (max_file == 1 || max_size.is_none()) {
            return Err(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
                    .into(),
            );
        }
    }
    Ok(JsonFileOpts {
        max_size,
        max_file,
        compress,
    })
}

/// `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            go_quote(s)
        )),
    }
}

/// `strconv.Atoi`.
fn go_atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(s)))
}

/// Go's `%q` for the plain strings these messages quote.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn compile(re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(re).map_err(|_| format!("error parsing regexp: invalid expression: `{re}`"))
}

/// moby's `logger.Info`, as far as log tags and attributes read it.
#[derive(Debug, Default)]
pub struct TagInfo {
    pub container_id: String,
    /// With the leading `/`, as moby stores it.
    pub container_name: String,
    pub entrypoint: String,
    pub args: Vec<String>,
    /// `sha256:…`.
    pub image_id: String,
    /// The image as the user named it.
    pub image_name: String,
    pub log_path: String,
}

impl TagInfo {
    pub fn from_record(rec: &ContainerRecord, log_path: &str) -> TagInfo {
        TagInfo {
            container_id: rec.id.clone(),
            container_name: format!("/{}", rec.name.trim_start_matches('/')),
            entrypoint: rec.path.clone(),
            args: rec.args.clone(),
            image_id: rec.image_id.clone(),
            image_name: rec.config.image.clone(),
            log_path: log_path.to_string(),
        }
    }

    fn field(&self, name: &str) -> Option<String> {
        let short = |s: &str| s.chars().take(12).collect::<String>();
        Some(match name {
            "ID" => short(&self.container_id),
            "FullID" | "ContainerID" => self.container_id.clone(),
            "Name" => self.container_name.trim_start_matches('/').to_string(),
            "ContainerName" => self.container_name.clone(),
            "ImageID" => short(&self.image_id),
            "ImageFullID" | "ContainerImageID" => self.image_id.clone(),
            "ImageName" | "ContainerImageName" => self.image_name.clone(),
            "DaemonName" => "docker".to_string(),
            "ContainerEntrypoint" => self.entrypoint.clone(),
            "ContainerArgs" => format!("[{}]", self.args.join(" ")),
            "Command" => {
                let mut terms = vec![self.entrypoint.clone()];
                terms.extend(self.args.iter().cloned());
                terms.join(" ")
            }
            "LogPath" => self.log_path.clone(),
            "Hostname" => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
            _ => return None,
        })
    }
}

/// Renders a `tag` template (`loggerutils.ParseLogTag`): text with `{{.Field}}` actions.
/// Only field actions are supported; anything else is refused at create.
pub fn render_tag(template: &str, info: &TagInfo) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    let mut offset = 0usize;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let line = template[..offset + open].matches('\n').count() + 1;
        let Some(close) = rest[open + 2..].find("}}") else {
            return Err(format!("template: log-tag:{line}: unclosed action"));
        };
        let mut inner = &rest[open + 2..open + 2 + close];
        let mut lead = 0;
        if let Some(i) = inner.strip_prefix("- ") {
            inner = i;
            lead = 2;
            out.truncate(out.trim_end().len());
        }
        let trim_right = inner.ends_with(" -");
        if trim_right {
            inner = &inner[..inner.len() - 2];
        }
        let lead = lead + (inner.len() - inner.trim_start().len());
        let action = inner.trim();
        let col = offset + open + 2 + lead
            - template[..offset + open]
                .rfind('\n')
                .map(|p| p + 1)
                .unwrap_or(0);
        let field = action
            .strip_prefix('.')
            .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        match field {
            Some(f) => match info.field(f) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(format!(
                        "template: log-tag:{line}:{col}: executing \"log-tag\" at <.{f}>: can't evaluate field {f} in type *logger.Info"
                    ))
                }
            },
            None => {
                return Err(format!(
                    "template: log-tag:{line}: unsupported action {{{{{action}}}}} (berth supports {{{{.Field}}}} only)"
                ))
            }
        }
        let consumed = open + 2 + close + 2;
        rest = &rest[consumed..];
        offset += consumed;
        if trim_right {
            let t = rest.trim_start();
            offset += rest.len() - t.len();
            rest = t;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// moby's extra attributes for a container: `labels`, `labels-regex`, `env`, `env-regex`
/// (only keys that exist), and `tag` when the option is set.
pub fn extra_attrs(
    cfg: &BTreeMap<String, String>,
    rec: &ContainerRecord,
    log_path: &str,
) -> BTreeMap<String, String> {
    let mut extra = BTreeMap::new();
    let empty = BTreeMap::new();
    let labels = rec.config.labels.as_ref().unwrap_or(&empty);
    if let Some(l) = cfg.get("labels").filter(|l| !l.is_empty()) {
        for k in l.split(',') {
            if let Some(v) = labels.get(k) {
                extra.insert(k.to_string(), v.clone());
            }
        }
    }
    if let Some(re) = cfg.get("labels-regex").filter(|r| !r.is_empty()) {
        if let Ok(re) = compile(re) {
            for (k, v) in labels {
                if re.is_match(k) {
                    extra.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let env: BTreeMap<&str, &str> = rec
        .config
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.split_once('='))
        .collect();
    if !env.is_empty() {
        if let Some(l) = cfg.get("env").filter(|l| !l.is_empty()) {
            for k in l.split(',') {
                if let Some(v) = env.get(k) {
                    extra.insert(k.to_string(), v.to_string());
                }
            }
        }
        if let Some(re) = cfg.get("env-regex").filter(|r| !r.is_empty()) {
            if let Ok(re) = compile(re) {
                for (k, v) in &env {
                    if re.is_match(k) {
                        extra.insert(k.to_string(), v.to_string());
                    }
                }
            }
        }
    }
    if let Some(t) = cfg.get("tag") {
        if let Ok(tag) = render_tag(t, &TagInfo::from_record(rec, log_path)) {
            if !tag.is_empty() {
                extra.insert("tag".into(), tag);
            }
        }
    }
    extra
}

/// `docker logs --details`: moby's `attrsByteSlice`, keys sorted, `url.QueryEscape`d.
pub fn details_prefix(attrs: Option<&BTreeMap<String, String>>, out: &mut Vec<u8>) {
    for (i, (k, v)) in attrs.into_iter().flatten().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        query_escape(k, out);
        out.push(b'=');
        query_escape(v, out);
    }
    out.push(b' ');
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(from_human_size("10m"), Ok(10_000_000));
        assert_eq!(from_human_size("1k"), Ok(1000));
        assert_eq!(from_human_size("1KiB"), Ok(1000));
        assert_eq!(from_human_size("2.5MB"), Ok(2_500_000));
        assert_eq!(from_human_size("100"), Ok(100));
        assert_eq!(from_human_size("100 b"), Ok(100));
        assert_eq!(from_human_size("abc"), Err("invalid size: 'abc'".into()));
        assert_eq!(from_human_size("10x"), Err("invalid suffix: 'x'".into()));
        assert_eq!(from_human_size("10mm"), Err("invalid suffix: 'mm'".into()));
        assert_eq!(
            from_human_size("1.2.3k"),
            Err("strconv.ParseFloat: parsing \"1.2.3\": invalid syntax".into())
        );
        assert_eq!(ram_in_bytes("1k"), Ok(1024));
    }

    #[test]
    fn new_checks() {
        let e = |p: &[(&str, &str)]| parse(&cfg(p)).unwrap_err();
        assert_eq!(e(&[("max-file", "0")]), "max-file cannot be less than 1");
        assert_eq!(
            e(&[("max-file", "x")]),
            "strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            e(&[("max-size", "0")]),
            "max-size must be a positive number"
        );
        assert_eq!(
            e(&[("compress", "maybe")]),
            "strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        let c = "compress cannot be true when max-file is less than 2 or max-size is not set";
        assert_eq!(e(&[("compress", "true"), ("max-size", "1k")]), c);
        assert_eq!(e(&[("compress", "true"), ("max-file", "3")]), c);
        let ok = parse(&cfg(&[
            ("compress", "1"),
            ("max-file", "3"),
            ("max-size", "1k"),
        ]));
        assert_eq!(
            ok,
            Ok(JsonFileOpts {
                max_size: Some(1000),
                max_file: 3,
                compress: true
            })
        );
    }

    #[test]
    fn tags() {
        let info = TagInfo {
            container_id: "0123456789abcdef0123".into(),
            container_name: "/web".into(),
            image_id: "sha256:feedfacecafe0000".into(),
            image_name: "busybox".into(),
            ..Default::default()
        };
        assert_eq!(
            render_tag("{{.ID}}/{{ .Name }}/{{.ImageName}}", &info).unwrap(),
            "0123456789ab/web/busybox"
        );
        assert_eq!(render_tag("{{.ImageID}}", &info).unwrap(), "sha256:feedf");
        assert_eq!(render_tag("{{.DaemonName}}", &info).unwrap(), "docker");
        assert_eq!(render_tag("plain", &info).unwrap(), "plain");
        assert_eq!(
            render_tag("{{.Foo}}", &info).unwrap_err(),
            "template: log-tag:1:2: executing \"log-tag\" at <.Foo>: can't evaluate field Foo in type *logger.Info"
        );
        assert_eq!(
            render_tag("a{{.ID", &info).unwrap_err(),
            "template: log-tag:1: unclosed action"
        );
    }

    #[test]
    fn details_escape() {
        let mut out = Vec::new();
        let a = cfg(&[("b", "x y"), ("a", "1,2=3")]);
        details_prefix(Some(&a), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "a=1%2C2%3D3,b=x+y ");
        let mut out = Vec::new();
        details_prefix(None, &mut out);
        assert_eq!(out, b" ");
    }

    #[test]
    fn validation_texts() {
        let lc = |p: &[(&str, &str)]| LogConfig {
            kind: "json-file".into(),
            config: Some(cfg(p)),
        };
        let msg = |p: &[(&str, &str)]| validate(&lc(p)).unwrap_err().message;
        assert_eq!(
            msg(&[("x", "1")]),
            "unknown log opt 'x' for json-file log driver"
        );
        assert_eq!(
            msg(&[("max-file", "0")]),
            "failed to initialize logging driver: max-file cannot be less than 1"
        );
        assert_eq!(
            msg(&[("max-size", "abc")]),
            "failed to initialize logging driver: invalid size: 'abc'"
        );
        assert!(validate(&lc(&[("labels", "a"), ("tag", "{{.Name}}")])).is_ok());
        assert!(validate(&LogConfig {
            kind: "none".into(),
            config: Some(cfg(&[("x", "1")]))
        })
        .is_ok());
    }
}
