//! The runtimes a container can run under (`docker run --runtime`): berth's built-in
//! runtime, runc (when installed) and the OCI runtime binaries of `--add-runtime` and
//! daemon.json `runtimes`.
//!
//! Creating, starting, signalling and waiting go through the container's monitor, which
//! is given the runtime; what the daemon does to a running container besides that
//! (pause, resume, new limits) goes through [`Runtime`] here, so no handler touches a
//! cgroup file or a runtime binary itself.

use crate::config::{DaemonConfig, RuntimeConfig};
use crate::error::{DaemonError, Result};
use berth_api::ApiError;
use berth_runtime::oci::OciRuntime;
use berth_runtime::oci_spec::runtime::LinuxResources;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of berth's own runtime, the default.
pub const BUILTIN: &str = "berth";

/// How a container's processes are made and controlled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// The monitor's built-in runtime; the daemon controls the cgroup itself.
    Builtin,
    /// An OCI runtime binary, driven by its command line.
    Oci(OciRuntime),
}

/// One registered runtime, as `docker info` shows it.
#[derive(Debug, Clone)]
struct Entry {
    /// The path shown in `docker info`.
    path: String,
    args: Vec<String>,
    runtime: Runtime,
}

/// Every runtime this daemon knows, by name, and the default one.
#[derive(Debug, Clone)]
pub struct Runtimes {
    default: String,
    entries: BTreeMap<String, Entry>,
}

impl Runtimes {
    /// The runtimes of a configuration. runc's names (`runc`, `io.containerd.runc.v2`)
    /// select the runc binary on PATH; on a host without runc they select the built-in
    /// runtime, so compose files and scripts that name runc keep working.
    pub fn from_config(config: &DaemonConfig, self_exe: &Path) -> Result<Runtimes> {
        let state_root = |name: &str| config.exec_root.join("runtimes").join(name);
        let mut entries = BTreeMap::new();
        entries.insert(
            BUILTIN.to_string(),
            Entry {
                path: self_exe.display().to_string(),
                args: Vec::new(),
                runtime: Runtime::Builtin,
            },
        );
        let runc = find_on_path("runc");
        for name in ["runc", "io.containerd.runc.v2"] {
            let entry = match &runc {
                Some(path) => Entry {
                    path: path.display().to_string(),
                    args: Vec::new(),
                    runtime: Runtime::Oci(OciRuntime {
                        binary: path.clone(),
                        args: Vec::new(),
                        // Both names are the one runc, with one state root.
                        root: state_root("runc"),
                    }),
                },
                None => Entry {
                    path: self_exe.display().to_string(),
                    args: Vec::new(),
                    runtime: Runtime::Builtin,
                },
            };
            entries.insert(name.to_string(), entry);
        }
        for (name, RuntimeConfig { path, args }) in &config.runtimes {
            let binary = if path.contains('/') {
                PathBuf::from(path)
            } else {
                // dockerd resolves a bare name when it runs it; so does berth, once here.
                find_on_path(path).unwrap_or_else(|| PathBuf::from(path))
            };
            entries.insert(
                name.clone(),
                Entry {
                    path: path.clone(),
                    args: args.clone(),
                    runtime: Runtime::Oci(OciRuntime {
                        binary,
                        args: args.clone(),
                        root: state_root(name),
                    }),
                },
            );
        }
        if !entries.contains_key(&config.default_runtime) {
            return Err(DaemonError::Other(format!(
                "default runtime {:?} is not a configured runtime (known: {})",
                config.default_runtime,
                entries.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(Runtimes {
            default: config.default_runtime.clone(),
            entries,
        })
    }

    /// The default runtime's name (`docker info`'s DefaultRuntime).
    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// The runtime called `name` (the default for an empty name).
    pub fn get(&self, name: &str) -> std::result::Result<&Runtime, ApiError> {
        let name = if name.is_empty() { &self.default } else { name };
        self.entries
            .get(name)
            .map(|e| &e.runtime)
            .ok_or_else(|| ApiError::invalid(format!("unknown or invalid runtime name: {name}")))
    }

    /// `docker info`'s `Runtimes`: name → `{path, runtimeArgs}`.
    pub fn info(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .entries
            .iter()
            .map(|(name, e)| {
                let mut v = serde_json::json!({ "path": e.path });
                if !e.args.is_empty() {
                    v["runtimeArgs"] = serde_json::json!(e.args);
                }
                (name.clone(), v)
            })
            .collect();
        serde_json::Value::Object(map)
    }
}

impl Runtime {
    /// The OCI runtime binary, if this is one.
    pub fn oci(&self) -> Option<&OciRuntime> {
        match self {
            Runtime::Builtin => None,
            Runtime::Oci(rt) => Some(rt),
        }
    }

    /// Freezes (`frozen`) or thaws every process of a running container. `bundle` holds
    /// the runtime's log.
    pub async fn set_frozen(
        &self,
        id: &str,
        cgroup: &str,
        bundle: &Path,
        frozen: bool,
    ) -> Result<()> {
        let (id, cgroup, bundle) = (id.to_string(), cgroup.to_string(), bundle.to_path_buf());
        let rt = self.clone();
        blocking(move || match rt.oci() {
            None => berth_runtime::cgroups::freeze(&cgroup, frozen)
                .map_err(|e| DaemonError::io(format!("freezer of {id}"), e)),
            Some(oci) => {
                let done = if frozen {
                    oci.pause(&id, &bundle)
                } else {
                    oci.resume(&id, &bundle)
                };
                done.map_err(|e| DaemonError::Api(ApiError::system(e.to_string())))
            }
        })
        .await
    }

    /// Gives a running container new cgroup limits; when some are refused, the built-in
    /// runtime puts `previous` back so the cgroup matches the record that is kept.
    pub async fn update(
        &self,
        id: &str,
        cgroup: &str,
        bundle: &Path,
        resources: LinuxResources,
        previous: LinuxResources,
    ) -> std::result::Result<(), String> {
        let (id, cgroup, bundle) = (id.to_string(), cgroup.to_string(), bundle.to_path_buf());
        let rt = self.clone();
        tokio::task::spawn_blocking(move || match rt.oci() {
            None => berth_runtime::cgroups::update(&cgroup, &resources)
                .inspect_err(|_| {
                    let _ = berth_runtime::cgroups::update(&cgroup, &previous);
                })
                .map_err(|e| e.to_string()),
            Some(oci) => oci
                .update(&id, &bundle, &resources)
                .map_err(|e| e.to_string()),
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DaemonError::Other(format!("runtime task: {e}")))?
}

/// The executable `name` in the directories of PATH (and the usual ones a service's PATH
/// may lack): runc, the runtimes added by name, `--init`'s docker-init.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .filter(|d| !d.is_empty())
        .chain([
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/sbin",
            "/usr/bin",
        ])
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str], json: &str) -> DaemonConfig {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        std::fs::write(&file, json).unwrap();
        let mut argv: Vec<String> = vec!["--config-file".into(), file.display().to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        DaemonConfig::from_args(argv).unwrap()
    }

    #[test]
    fn added_runtimes_are_listed_with_their_arguments() {
        let c = config(
            &["--add-runtime", "fast=/opt/fast/bin/fast"],
            r#"{"runtimes": {"slow": {"path": "/opt/slow", "runtimeArgs": ["--debug"]}}}"#,
        );
        let r = Runtimes::from_config(&c, Path::new("/usr/bin/berth")).unwrap();
        assert_eq!(r.default_name(), "berth");
        assert_eq!(r.get("").unwrap(), &Runtime::Builtin);
        let info = r.info();
        assert_eq!(info["fast"]["path"], "/opt/fast/bin/fast");
        assert_eq!(info["slow"]["runtimeArgs"], serde_json::json!(["--debug"]));
        assert_eq!(info["berth"]["path"], "/usr/bin/berth");
        assert!(info.get("runc").is_some() && info.get("io.containerd.runc.v2").is_some());
        match r.get("slow").unwrap() {
            Runtime::Oci(rt) => {
                assert_eq!(rt.binary, PathBuf::from("/opt/slow"));
                assert_eq!(rt.args, vec!["--debug".to_string()]);
                assert!(rt.root.ends_with("runtimes/slow"));
            }
            other => panic!("{other:?}"),
        }
        let e = r.get("nvidia").unwrap_err();
        assert_eq!(e.message, "unknown or invalid runtime name: nvidia");
    }

    #[test]
    fn reserved_conflicting_and_unknown_defaults_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        let parse = |args: &[&str], json: &str| {
            std::fs::write(&file, json).unwrap();
            let mut argv: Vec<String> = vec!["--config-file".into(), file.display().to_string()];
            argv.extend(args.iter().map(|s| s.to_string()));
            DaemonConfig::from_args(argv)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(parse(&["--add-runtime", "runc=/x"], "{}").contains("'runc' is reserved"));
        assert!(parse(&[], r#"{"runtimes":{"berth":{"path":"/x"}}}"#).contains("reserved"));
        assert!(parse(
            &["--add-runtime", "a=/x"],
            r#"{"runtimes":{"a":{"path":"/y"}}}"#
        )
        .contains("conflicting options"));
        assert!(parse(&["--add-runtime", "nopath"], "{}").contains("name=path"));
        assert!(parse(
            &[],
            r#"{"runtimes":{"gvisor":{"runtimeType":"io.containerd.runsc.v1"}}}"#
        )
        .contains("containerd shim"));
        let c = config(&["--default-runtime", "missing"], "{}");
        let e = Runtimes::from_config(&c, Path::new("/b")).unwrap_err();
        assert!(e.to_string().contains("not a configured runtime"), "{e}");
    }
}
