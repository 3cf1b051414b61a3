//! Docker's seccomp profile format and its resolution into an OCI `LinuxSeccomp` for one
//! container, as moby's `profiles/seccomp/seccomp_linux.go` (`setupSeccomp`) does it.
//!
//! A profile is either Docker's form (`archMap`, `syscalls[].includes/excludes`) or the
//! plain OCI form (`architectures`, `syscalls` without conditions); both parse here.

use super::arch::Arch;
use super::SeccompError;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSyscall,
};
use serde::{Deserialize, Serialize};

/// A seccomp profile as Docker reads it (`--security-opt seccomp=<file>`, default.json).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Empty together with `syscalls` means "no filter", as in moby.
    #[serde(default)]
    pub default_action: Option<LinuxSeccompAction>,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// OCI form: the architectures, given directly.
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    /// Docker form: native architecture → sub-architectures.
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    pub flags: Option<Vec<LinuxSeccompFilterFlag>>,
    #[serde(default)]
    pub syscalls: Option<Vec<Syscall>>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One rule of a Docker profile.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscall {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub names: Option<Vec<String>>,
    pub action: LinuxSeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

/// `includes` / `excludes` of a rule.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// What a profile is resolved against: the container's bounding set, the native
/// architecture and the running kernel.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Capability names as in the OCI spec (`CAP_SYS_ADMIN`).
    pub caps: &'a [String],
    pub arch: Arch,
    /// `(major, minor)` of the running kernel.
    pub kernel: (u32, u32),
}

impl Profile {
    /// Parses a profile's JSON text (moby's message on failure).
    pub fn parse(text: &str) -> Result<Profile, SeccompError> {
        serde_json::from_str(text)
            .map_err(|e| SeccompError::Profile(format!("Decoding seccomp profile failed: {e}")))
    }

    /// Filters the rules for one container; `None` when the profile disables seccomp.
    pub fn resolve(&self, t: &Target<'_>) -> Result<Option<LinuxSeccomp>, SeccompError> {
        let rules = self.syscalls.as_deref().unwrap_or(&[]);
        let Some(default_action) = self.default_action else {
            if rules.is_empty() {
                return Ok(None);
            }
            return Err(SeccompError::Profile(
                "seccomp profile has syscalls but no defaultAction".into(),
            ));
        };
        let given = self.architectures.as_deref().unwrap_or(&[]);
        let map = self.arch_map.as_deref().unwrap_or(&[]);
        if !given.is_empty() && !map.is_empty() {
            return Err(SeccompError::Profile(
                "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
            ));
        }
        let mut arch_names: Vec<String> = given.to_vec();
        if let Some(m) = map.iter().find(|m| m.architecture == t.arch.oci_name()) {
            arch_names.push(m.architecture.clone());
            arch_names.extend(m.sub_architectures.iter().flatten().cloned());
        }
        let arches = arch_names
            .iter()
            .map(|a| {
                serde_json::from_value(serde_json::Value::String(a.clone()))
                    .map_err(|_| SeccompError::Profile(format!("unknown architecture {a:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let native = t.arch.profile_name();
        let has_cap = |c: &String| t.caps.iter().any(|h| h == c);
        let mut out = Vec::new();
        for call in rules {
            let names = match (&call.name, &call.names) {
                (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => {
                    return Err(SeccompError::Profile(
                        "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'".into(),
                    ))
                }
                (Some(n), _) if !n.is_empty() => vec![n.clone()],
                (_, Some(v)) => v.clone(),
                _ => Vec::new(),
            };
            if let Some(ex) = &call.excludes {
                if ex.arches.iter().flatten().any(|a| a == native) {
                    continue;
                }
                if ex.caps.iter().flatten().any(has_cap) {
                    continue;
                }
                if let Some(k) = &ex.min_kernel {
                    if t.kernel >= parse_kernel(k)? {
                        continue;
                    }
                }
            }
            if let Some(inc) = &call.includes {
                if let Some(a) = inc.arches.as_ref().filter(|a| !a.is_empty()) {
                    if !a.iter().any(|a| a == native) {
                        continue;
                    }
                }
                if !inc.caps.iter().flatten().all(has_cap) {
                    continue;
                }
                if let Some(k) = &inc.min_kernel {
                    if t.kernel < parse_kernel(k)? {
                        continue;
                    }
                }
            }
            let mut s = LinuxSyscall::default();
            s.set_names(names);
            s.set_action(call.action);
            s.set_errno_ret(call.errno_ret);
            s.set_args(call.args.clone().filter(|a| !a.is_empty()));
            out.push(s);
        }
        let mut sc = LinuxSeccomp::default();
        sc.set_default_action(default_action);
        sc.set_default_errno_ret(self.default_errno_ret);
        sc.set_architectures((!arches.is_empty()).then_some(arches));
        sc.set_flags(self.flags.clone().filter(|f| !f.is_empty()));
        sc.set_syscalls(Some(out));
        Ok(Some(sc))
    }
}

/// `"4.8"` → `(4, 8)`.
fn parse_kernel(v: &str) -> Result<(u32, u32), SeccompError> {
    let bad = || SeccompError::Profile(format!("invalid kernel version {v:?}"));
    let mut it = v.trim().split('.');
    let major = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let minor = match it.next() {
        Some(m) => m.parse().map_err(|_| bad())?,
        None => 0,
    };
    Ok((major, minor))
}

/// The running kernel's `(major, minor)`; `(0, 0)` when unreadable.
pub fn running_kernel() -> (u32, u32) {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let digits = |s: &str| -> u32 {
        s.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    };
    let mut it = rel.split('.');
    let major = it.next().map(digits).unwrap_or(0);
    let minor = it.next().map(digits).unwrap_or(0);
    (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sc: &LinuxSeccomp) -> Vec<String> {
        sc.syscalls()
            .iter()
            .flatten()
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel("4.8").unwrap(), (4, 8));
        assert_eq!(parse_kernel("5").unwrap(), (5, 0));
        assert!(parse_kernel("x").is_err());
    }

    #[test]
    fn includes_and_excludes_follow_caps_arch_and_kernel() {
        let p = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]}],
            "syscalls":[
              {"names":["read"],"action":"SCMP_ACT_ALLOW"},
              {"names":["bpf"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
              {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"excludes":{"caps":["CAP_SYS_ADMIN"]}},
              {"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64","x32"]}},
              {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}},
              {"name":"newer","action":"SCMP_ACT_ALLOW","includes":{"minKernel":"99.1"}}
            ]}"#,
        )
        .unwrap();
        let caps = vec!["CAP_CHOWN".to_string()];
        let t = Target {
            caps: &caps,
            arch: Arch::X86_64,
            kernel: (6, 1),
        };
        let sc = p.resolve(&t).unwrap().unwrap();
        assert_eq!(names(&sc), ["read", "clone3", "arch_prctl", "ptrace"]);
        assert_eq!(sc.architectures().as_ref().unwrap().len(), 3);
        let admin = vec!["CAP_SYS_ADMIN".to_string()];
        let t = Target {
            caps: &admin,
            arch: Arch::Aarch64,
            kernel: (4, 4),
        };
        let sc = p.resolve(&t).unwrap().unwrap();
        assert_eq!(names(&sc), ["read", "bpf"]);
        assert!(sc.architectures().is_none());
    }

    #[test]
    fn empty_profile_means_unconfined_and_conflicts_are_refused() {
        let t = Target {
            caps: &[],
            arch: Arch::X86_64,
            kernel: (6, 1),
        };
        assert!(Profile::parse("{}").unwrap().resolve(&t).unwrap().is_none());
        let both = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
            "archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
        )
        .unwrap();
        assert!(both.resolve(&t).is_err());
        let e = Profile::parse("{nope").unwrap_err();
        assert!(
            e.to_string().contains("Decoding seccomp profile failed"),
            "{e}"
        );
    }
}
