//! `HostConfig.SecurityOpt`: validation as dockerd's `parseSecurityOpt` does it, and the
//! seccomp profile it selects (moby `daemon/seccomp_linux.go`, `WithSeccomp`).

use crate::error::Result;
use berth_api::container::HostConfig;
use berth_api::ApiError;
use berth_runtime::seccomp::{self, Arch};
use oci_spec::runtime::Spec;

/// Which seccomp profile a container asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SeccompOpt {
    /// Docker's default profile (no option, or `seccomp=builtin`).
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// `seccomp=<profile JSON>`: the docker CLI reads the file and sends its content.
    Profile(String),
}

/// The security options of one container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: SeccompOpt,
    pub apparmor: Option<String>,
    pub labels: Vec<String>,
    /// `systempaths=unconfined`: no masked or read-only paths under /proc and /sys.
    pub unmasked_system_paths: bool,
    /// `writable-cgroups[=bool]`: /sys/fs/cgroup writable (default: `--privileged`).
    pub writable_cgroups: Option<bool>,
}

fn invalid(n: u8, opt: &str) -> ApiError {
    ApiError::invalid(format!("invalid --security-opt {n}: {opt:?}"))
}

fn parse_bool(v: &str) -> Option<bool> {
    // Go's strconv.ParseBool.
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parses `--security-opt` values; unknown keys are refused with dockerd's text
/// (`invalid --security-opt 2: "x=y"`, `invalid --security-opt 1: "x"`), and a seccomp
/// profile that does not parse with moby's (`Decoding seccomp profile failed: ...`).
pub fn parse(opts: &[String]) -> Result<SecurityOpts, ApiError> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        match opt.as_str() {
            "no-new-privileges" => {
                out.no_new_privileges = true;
                continue;
            }
            "writable-cgroups" => {
                out.writable_cgroups = Some(true);
                continue;
            }
            "disable" => {
                out.labels.push("disable".into());
                continue;
            }
            _ => {}
        }
        let kv = if opt.contains('=') {
            opt.split_once('=')
        } else {
            opt.split_once(':')
        };
        let Some((k, v)) = kv else {
            return Err(invalid(1, opt));
        };
        match k {
            "label" => out.labels.push(v.to_string()),
            "apparmor" => out.apparmor = Some(v.to_string()),
            "seccomp" => {
                out.seccomp = match v {
                    "unconfined" => SeccompOpt::Unconfined,
                    "" | "builtin" => SeccompOpt::Default,
                    text => {
                        // Checked here, not only at start: a start that fails before the
                        // monitor exists would leave `docker run --rm` waiting.
                        seccomp::Profile::parse(text)
                            .map_err(|e| ApiError::invalid(e.to_string()))?;
                        SeccompOpt::Profile(text.to_string())
                    }
                }
            }
            "no-new-privileges" => {
                out.no_new_privileges = parse_bool(v).ok_or_else(|| invalid(2, opt))?;
            }
            "writable-cgroups" => {
                out.writable_cgroups = Some(parse_bool(v).ok_or_else(|| invalid(2, opt))?);
            }
            "systempaths" if v == "unconfined" => out.unmasked_system_paths = true,
            "systempaths" => {
                return Err(ApiError::invalid(format!(
                "invalid --security-opt: {opt:?}: only \"unconfined\" is supported for systempaths"
            )))
            }
            _ => return Err(invalid(2, opt)),
        }
    }
    Ok(out)
}

/// The cgroup mount is read-only unless `writable-cgroups` says otherwise; without the
/// option it follows `--privileged` (moby).
pub fn apply_writable_cgroups(spec: &mut Spec, hc: &HostConfig) -> Result<()> {
    let opts = parse(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let writable = opts.writable_cgroups.unwrap_or(hc.privileged);
    if let Some(mounts) = spec.mounts_mut() {
        for m in mounts
            .iter_mut()
            .filter(|m| m.typ().as_deref() == Some("cgroup"))
        {
            let mut o: Vec<String> = m
                .options()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|o| o != "ro" && o != "rw")
                .collect();
            if !writable {
                o.push("ro".into());
            }
            m.set_options(Some(o));
        }
    }
    Ok(())
}

/// Sets `linux.seccomp` of a spec whose capabilities are already final: Docker's default
/// profile filtered for the bounding set, the user's profile, or none (`unconfined`,
/// `--privileged` without an explicit profile).
pub fn apply_seccomp(spec: &mut Spec, hc: &HostConfig) -> Result<()> {
    let opts = parse(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let text = match (&opts.seccomp, hc.privileged) {
        (SeccompOpt::Unconfined, _) => return Ok(()),
        (SeccompOpt::Default, true) => return Ok(()),
        (SeccompOpt::Default, false) => None,
        (SeccompOpt::Profile(t), _) => Some(t.as_str()),
    };
    let Some(arch) = Arch::native() else {
        if text.is_some() {
            return Err(ApiError::invalid(
                "seccomp is not enabled in your kernel, cannot run a custom seccomp profile",
            )
            .into());
        }
        tracing::warn!("seccomp is not supported on this architecture, running container without default profile");
        return Ok(());
    };
    let caps: Vec<String> = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .map(|set| {
            set.iter()
                .filter_map(|c| serde_json::to_value(c).ok())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let sc = match text {
        None => Some(seccomp::default_for(&caps, arch)),
        Some(t) => {
            seccomp::load_profile(t, &caps, arch).map_err(|e| ApiError::invalid(e.to_string()))?
        }
    };
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_seccomp(sc);
    spec.set_linux(Some(linux));
    Ok(())
}

/// Masked and read-only paths: `HostConfig.MaskedPaths`/`ReadonlyPaths` when the client
/// sent them (the docker CLI turns `--security-opt systempaths=unconfined` into two empty
/// lists), cleared by `systempaths=unconfined` sent as an option; Docker's defaults otherwise.
pub fn apply_system_paths(spec: &mut Spec, hc: &HostConfig) -> Result<()> {
    let opts = parse(hc.security_opt.as_deref().unwrap_or(&[]))?;
    if let Some(linux) = spec.linux_mut() {
        if let Some(masked) = &hc.masked_paths {
            linux.set_masked_paths(Some(masked.clone()));
        }
        if let Some(ro) = &hc.readonly_paths {
            linux.set_readonly_paths(Some(ro.clone()));
        }
        if opts.unmasked_system_paths {
            linux.set_masked_paths(Some(vec![]));
            linux.set_readonly_paths(Some(vec![]));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Result<SecurityOpts, ApiError> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_like_dockerd() {
        assert_eq!(opts(&[]).unwrap(), SecurityOpts::default());
        let o = opts(&["seccomp=unconfined", "no-new-privileges"]).unwrap();
        assert_eq!(o.seccomp, SeccompOpt::Unconfined);
        assert!(o.no_new_privileges);
        let o = opts(&["seccomp:{\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]).unwrap();
        assert!(matches!(o.seccomp, SeccompOpt::Profile(_)));
        let o = opts(&["seccomp={\"comment\":\"b=c\"}", "no-new-privileges=false"]).unwrap();
        assert_eq!(
            o.seccomp,
            SeccompOpt::Profile("{\"comment\":\"b=c\"}".into())
        );
        assert!(opts(&["seccomp={nope"])
            .unwrap_err()
            .to_string()
            .contains("Decoding seccomp"));
        assert!(!o.no_new_privileges);
        assert_eq!(
            opts(&["seccomp=builtin"]).unwrap().seccomp,
            SeccompOpt::Default
        );
        assert_eq!(
            opts(&["unknown"]).unwrap_err().to_string(),
            "invalid --security-opt 1: \"unknown\""
        );
        assert_eq!(
            opts(&["unknown=something"]).unwrap_err().to_string(),
            "invalid --security-opt 2: \"unknown=something\""
        );
        assert_eq!(
            opts(&["no-new-privileges=maybe"]).unwrap_err().status(),
            400
        );
    }

    fn spec_for(hc: &HostConfig) -> Spec {
        let mut spec = berth_runtime::defaults::default_spec();
        super::super::spec_caps::apply(&mut spec, hc).unwrap();
        apply_seccomp(&mut spec, hc).unwrap();
        spec
    }

    fn seccomp_names(spec: &Spec) -> Option<Vec<String>> {
        let sc = spec.linux().as_ref()?.seccomp().as_ref()?;
        Some(
            sc.syscalls()
                .iter()
                .flatten()
                .flat_map(|s| s.names().clone())
                .collect(),
        )
    }

    #[test]
    fn default_unconfined_privileged_and_custom() {
        if Arch::native().is_none() {
            return;
        }
        let names = seccomp_names(&spec_for(&HostConfig::default())).unwrap();
        assert!(names.iter().any(|n| n == "clone3"));
        assert!(names.iter().any(|n| n == "read"));
        // Without CAP_SYS_ADMIN: no unconditional mount rule.
        assert!(!names.iter().any(|n| n == "mount"));

        let admin = HostConfig {
            cap_add: Some(vec!["SYS_ADMIN".into()]),
            ..Default::default()
        };
        let names = seccomp_names(&spec_for(&admin)).unwrap();
        if names.iter().any(|n| n == "mount") {
            // The daemon holds CAP_SYS_ADMIN (as root): the gated rules are in.
            assert!(names.iter().any(|n| n == "bpf"));
        }

        let unconfined = HostConfig {
            security_opt: Some(vec!["seccomp=unconfined".into()]),
            ..Default::default()
        };
        assert!(seccomp_names(&spec_for(&unconfined)).is_none());
        let privileged = HostConfig {
            privileged: true,
            ..Default::default()
        };
        assert!(seccomp_names(&spec_for(&privileged)).is_none());

        let custom = HostConfig {
            security_opt: Some(vec![
                r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#.into(),
            ]),
            ..Default::default()
        };
        assert_eq!(
            seccomp_names(&spec_for(&custom)).unwrap(),
            ["mkdir", "mkdirat"]
        );

        let broken = HostConfig {
            security_opt: Some(vec![r#"seccomp={"defaultAction":"SCMP_ACT_BOGUS"}"#.into()]),
            ..Default::default()
        };
        let mut spec = berth_runtime::defaults::default_spec();
        let e = apply_seccomp(&mut spec, &broken).unwrap_err();
        assert!(
            e.to_string().contains("Decoding seccomp profile failed"),
            "{e}"
        );
    }
}
