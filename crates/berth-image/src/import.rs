//! `docker import`: a rootfs tarball becomes a one-layer image.

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value;

use crate::config::{
    host_architecture, ContainerConfig, Healthcheck, History, ImageConfig, RootFs,
};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::ImageStore;

/// Options of `POST /images/create?fromSrc=...`.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Config the image starts with: Cmd, Entrypoint, Env, WorkingDir,
    /// User, Labels, ExposedPorts... Build it from `changes=` query values
    /// with [`apply_change`].
    pub changes: ContainerConfig,
    /// Commit message (`message=`); defaults to `Imported from <source>`.
    pub comment: Option<String>,
    /// `os[/arch[/variant]]`; defaults to the host's.
    pub platform: Option<String>,
    /// Where the tarball came from, for the history comment; `-` if unset.
    pub source: Option<String>,
}

/// Imports a rootfs tar (plain, gzip or zstd, detected by magic) as a
/// one-layer image and returns its id. The layer's tar is kept as a blob so
/// the image can be saved and pushed like any other.
pub fn import_rootfs<R: Read>(
    store: &ImageStore,
    reader: R,
    opts: ImportOptions,
) -> Result<Digest> {
    let layer = store.apply_layer(None, reader, None)?;
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let comment = opts
        .comment
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("Imported from {}", opts.source.as_deref().unwrap_or("-")));
    let (os, arch, variant) = parse_platform(opts.platform.as_deref())?;
    let cfg = ImageConfig {
        architecture: arch,
        variant,
        os,
        config: Some(opts.changes),
        rootfs: RootFs {
            kind: "layers".to_string(),
            diff_ids: vec![layer.diff_id],
        },
        history: vec![History {
            created: Some(created.clone()),
            comment: Some(comment.clone()),
            ..Default::default()
        }],
        created: Some(created),
        comment: Some(comment),
        ..Default::default()
    };
    store.put_image_config(&cfg.to_vec())
}

fn parse_platform(p: Option<&str>) -> Result<(String, String, Option<String>)> {
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(("linux".to_string(), host_architecture().to_string(), None));
    };
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        [os] => Ok((os.to_string(), host_architecture().to_string(), None)),
        [os, arch] => Ok((os.to_string(), arch.to_string(), None)),
        [os, arch, v] => Ok((os.to_string(), arch.to_string(), Some(v.to_string()))),
        _ => Err(Error::InvalidChange(format!("platform {p}"))),
    }
}

/// Applies one `--change` instruction (the Dockerfile subset docker import
/// and commit accept: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,
/// ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR) to a config.
pub fn apply_change(cfg: &mut ContainerConfig, change: &str) -> Result<()> {
    let bad = || Error::InvalidChange(change.to_string());
    let change = change.trim();
    let (kw, rest) = change
        .split_once(|c: char| c.is_whitespace())
        .map(|(a, b)| (a, b.trim()))
        .unwrap_or((change, ""));
    match kw.to_ascii_uppercase().as_str() {
        "CMD" => cfg.cmd = Some(exec_or_shell(rest)),
        "ENTRYPOINT" => cfg.entrypoint = Some(exec_or_shell(rest)),
        "SHELL" => cfg.shell = Some(serde_json::from_str(rest).map_err(|_| bad())?),
        "USER" if !rest.is_empty() => cfg.user = Some(rest.to_string()),
        "WORKDIR" if !rest.is_empty() => cfg.working_dir = Some(rest.to_string()),
        "STOPSIGNAL" if !rest.is_empty() => cfg.stop_signal = Some(rest.to_string()),
        "ONBUILD" if !rest.is_empty() => cfg
            .on_build
            .get_or_insert_with(Vec::new)
            .push(rest.to_string()),
        "ENV" => {
            for (k, v) in key_values(rest).ok_or_else(bad)? {
                let env = cfg.env.get_or_insert_with(Vec::new);
                let prefix = format!("{k}=");
                env.retain(|e| !e.starts_with(&prefix));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            for (k, v) in key_values(rest).ok_or_else(bad)? {
                cfg.labels.get_or_insert_with(BTreeMap::new).insert(k, v);
            }
        }
        "EXPOSE" => {
            let ports = words(rest).ok_or_else(bad)?;
            if ports.is_empty() {
                return Err(bad());
            }
            for p in ports {
                let p = if p.contains('/') {
                    p
                } else {
                    format!("{p}/tcp")
                };
                cfg.exposed_ports
                    .get_or_insert_with(BTreeMap::new)
                    .insert(p, Value::Object(Default::default()));
            }
        }
        "VOLUME" => {
            let vols: Vec<String> = if rest.starts_with('[') {
                serde_json::from_str(rest).map_err(|_| bad())?
            } else {
                words(rest).ok_or_else(bad)?
            };
            for v in vols {
                cfg.volumes
                    .get_or_insert_with(BTreeMap::new)
                    .insert(v, Value::Object(Default::default()));
            }
        }
        "HEALTHCHECK" => {
            // Leading `--interval=30s --timeout=5s --start-period=… --start-interval=…
            // --retries=3`, as in a Dockerfile.
            let mut hc = Healthcheck::default();
            let mut rest = rest;
            while let Some(flag) = rest.strip_prefix("--") {
                let (word, after) = flag
                    .split_once(char::is_whitespace)
                    .map(|(a, b)| (a, b.trim_start()))
                    .unwrap_or((flag, ""));
                let (name, value) = word.split_once('=').ok_or_else(bad)?;
                match name {
                    "interval" => hc.interval = Some(go_duration(value).ok_or_else(bad)?),
                    "timeout" => hc.timeout = Some(go_duration(value).ok_or_else(bad)?),
                    "start-period" => hc.start_period = Some(go_duration(value).ok_or_else(bad)?),
                    "start-interval" => {
                        hc.start_interval = Some(go_duration(value).ok_or_else(bad)?)
                    }
                    "retries" => hc.retries = Some(value.parse().map_err(|_| bad())?),
                    _ => return Err(bad()),
                }
                rest = after;
            }
            let test = if rest.eq_ignore_ascii_case("NONE") {
                vec!["NONE".to_string()]
            } else {
                let (k, cmd) = rest.split_once(char::is_whitespace).ok_or_else(bad)?;
                if !k.eq_ignore_ascii_case("CMD") {
                    return Err(bad());
                }
                let cmd = cmd.trim();
                match serde_json::from_str::<Vec<String>>(cmd) {
                    Ok(v) if cmd.starts_with('[') => {
                        std::iter::once("CMD".to_string()).chain(v).collect()
                    }
                    _ => vec!["CMD-SHELL".to_string(), cmd.to_string()],
                }
            };
            hc.test = test;
            cfg.healthcheck = Some(hc);
        }
        other => return Err(Error::NotAChangeCommand(other.to_ascii_lowercase())),
    }
    Ok(())
}

fn go_duration(s: &str) -> Option<i64> {
    berth_api::duration::parse_go_duration(s).ok()
}

fn exec_or_shell(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return v;
        }
    }
    vec!["/bin/sh".to_string(), "-c".to_string(), rest.to_string()]
}

/// Splits on whitespace honouring quotes and backslash escapes.
fn words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                cur.push(chars.next()?);
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// `k=v k2="v 2"` or the legacy single `k v w` form.
fn key_values(s: &str) -> Option<Vec<(String, String)>> {
    let ws = words(s)?;
    let first = ws.first()?;
    if !first.contains('=') {
        let (k, v) = s.split_once(char::is_whitespace)?;
        let v = words(v.trim())?.join(" ");
        return Some(vec![(k.to_string(), v)]);
    }
    ws.into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .filter(|kv| kv.as_ref().map(|(k, _)| !k.is_empty()).unwrap_or(true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = ContainerConfig::default();
        apply_change(&mut c, r#"CMD ["sh"]"#).unwrap();
        apply_change(&mut c, "ENTRYPOINT echo hi").unwrap();
        apply_change(&mut c, r#"ENV A=1 B="two words""#).unwrap();
        apply_change(&mut c, "ENV A 3").unwrap();
        apply_change(&mut c, "env C=x").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "LABEL a=b 'c d'=e").unwrap();
        apply_change(&mut c, "USER nobody").unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        apply_change(&mut c, r#"VOLUME ["/data"]"#).unwrap();
        apply_change(&mut c, "STOPSIGNAL SIGINT").unwrap();
        apply_change(
            &mut c,
            "HEALTHCHECK --interval=1m30s --timeout=500ms --retries=2 CMD [\"true\"]",
        )
        .unwrap();
        let h = c.healthcheck.clone().unwrap();
        assert_eq!(h.test, ["CMD", "true"]);
        assert_eq!(
            (h.interval, h.timeout, h.retries),
            (Some(90_000_000_000), Some(500_000_000), Some(2))
        );
        assert!(apply_change(&mut c, "HEALTHCHECK --bogus=1 CMD true").is_err());
        apply_change(&mut c, "HEALTHCHECK CMD true").unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["sh"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.env.unwrap(), vec!["B=two words", "A=3", "C=x"]);
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, vec!["53/udp", "80/tcp"]);
        assert_eq!(c.labels.unwrap()["c d"], "e");
        assert_eq!(c.user.as_deref(), Some("nobody"));
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert!(c.volumes.unwrap().contains_key("/data"));
        assert_eq!(c.healthcheck.unwrap().test, vec!["CMD-SHELL", "true"]);
        let mut c = ContainerConfig::default();
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut c, "ENV A=\"unterminated").is_err());
        assert!(apply_change(&mut c, "USER").is_err());
    }

    #[test]
    fn platforms() {
        assert_eq!(
            parse_platform(Some("linux/arm64/v8")).unwrap().2.as_deref(),
            Some("v8")
        );
        assert_eq!(parse_platform(None).unwrap().0, "linux");
    }
}
