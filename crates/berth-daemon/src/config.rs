//! Daemon configuration: dockerd's flag names, merged over `daemon.json`.

use berth_net::ipam::Ipv4Net;
use clap::Parser;
use serde::Deserialize;
use std::path::PathBuf;

/// `berth daemon` flags. Names follow dockerd where the feature overlaps.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "berth daemon",
    about = "Start the berth daemon",
    disable_version_flag = true
)]
pub struct DaemonFlags {
    /// Daemon socket(s) to listen on (unix:///path)
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root directory of persistent state
    #[arg(long = "data-root")]
    pub data_root: Option<PathBuf>,
    /// Root directory for execution state files
    #[arg(long = "exec-root")]
    pub exec_root: Option<PathBuf>,
    /// Path to use for the daemon PID file
    #[arg(short = 'p', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Daemon configuration file
    #[arg(long = "config-file")]
    pub config_file: Option<PathBuf>,
    /// Default OCI runtime for containers
    #[arg(long = "default-runtime")]
    pub default_runtime: Option<String>,
    /// Register an additional OCI compatible runtime (name=path; repeatable)
    #[arg(long = "add-runtime")]
    pub add_runtimes: Vec<String>,
    /// Set parent cgroup for all containers
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Group for the unix socket
    #[arg(short = 'G', long = "group")]
    pub group: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Keep containers alive during daemon downtime (always on in berth)
    #[arg(long = "live-restore")]
    pub live_restore: bool,
    /// Set no-new-privileges by default for new containers
    #[arg(long = "no-new-privileges")]
    pub no_new_privileges: bool,
    /// User/Group setting for user namespaces ("default", user[:group], uid[:gid])
    #[arg(long = "userns-remap")]
    pub userns_remap: Option<String>,
    /// Enable insecure registry communication (host[:port] or CIDR; repeatable)
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Preferred Docker registry mirror (repeatable)
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Directory of per-registry TLS material, `<dir>/<host[:port]>/{ca.crt,client.cert,client.key}`
    /// (repeatable; default /etc/berth/certs.d and /etc/docker/certs.d)
    #[arg(long = "registry-certs-dir")]
    pub registry_certs_dirs: Vec<std::path::PathBuf>,
    /// Set the max concurrent downloads for each pull
    #[arg(long = "max-concurrent-downloads")]
    pub max_concurrent_downloads: Option<usize>,
    /// Set the max concurrent uploads for each push
    #[arg(long = "max-concurrent-uploads")]
    pub max_concurrent_uploads: Option<usize>,
    #[command(flatten)]
    pub network: NetworkFlags,
}

/// dockerd's networking flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NetworkFlags {
    /// Attach containers to a network bridge ("none" disables the default network)
    #[arg(short = 'b', long = "bridge")]
    pub bridge: Option<String>,
    /// Network bridge IP (gateway/prefix of the default bridge network)
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// Set the containers network MTU
    #[arg(long = "mtu")]
    pub mtu: Option<u32>,
    /// Enable inter-container communication on the default bridge
    #[arg(long = "icc", num_args = 0..=1, default_missing_value = "true")]
    pub icc: Option<bool>,
    /// Enable IP masquerading
    #[arg(long = "ip-masq", num_args = 0..=1, default_missing_value = "true")]
    pub ip_masq: Option<bool>,
    /// Enable addition of firewall rules (nftables table per daemon)
    #[arg(long = "iptables", num_args = 0..=1, default_missing_value = "true")]
    pub iptables: Option<bool>,
    /// Enable IP forwarding
    #[arg(long = "ip-forward", num_args = 0..=1, default_missing_value = "true")]
    pub ip_forward: Option<bool>,
    /// Use userland proxy for loopback traffic (accepted; berth always uses NAT)
    #[arg(long = "userland-proxy", num_args = 0..=1, default_missing_value = "true")]
    pub userland_proxy: Option<bool>,
    /// DNS server to use for containers
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Default address pools for node specific local networks (base=CIDR,size=N)
    #[arg(long = "default-address-pool")]
    pub default_address_pools: Vec<String>,
}

/// The effective networking configuration.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Linux bridge of the default network; `None` when disabled (`--bridge none`).
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub mtu: u32,
    pub icc: bool,
    pub ip_masq: bool,
    pub iptables: bool,
    pub ip_forward: bool,
    pub dns: Vec<String>,
    /// Where networks without a `--subnet` (and the default bridge without `--bip`) get
    /// their subnet: `(base, size)`, in order. Docker's pools unless configured.
    pub address_pools: Vec<(Ipv4Net, u8)>,
}

/// One `default-address-pools` entry of daemon.json.
#[derive(Debug, Clone, Deserialize)]
pub struct AddressPoolJson {
    pub base: String,
    pub size: u8,
}

/// Parses dockerd's `--default-address-pool base=CIDR,size=N` value.
fn parse_pool_flag(value: &str) -> Result<(String, u8), String> {
    let (mut base, mut size) = (None, None);
    for field in value.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
        match k.to_ascii_lowercase().as_str() {
            "base" => base = Some(v.to_string()),
            "size" => {
                size = Some(
                    v.parse::<u8>()
                        .map_err(|_| format!("invalid size value {v:?}: not a prefix length"))?,
                )
            }
            _ => return Err(format!("invalid field key {k}")),
        }
    }
    match (base, size) {
        (Some(b), Some(s)) => Ok((b, s)),
        _ => Err(format!(
            "invalid default address pool {value:?}: base and size are both required"
        )),
    }
}

/// Checks one pool: an IPv4 base, and a size at least as long as the base's prefix.
fn check_pool(base: &str, size: u8) -> Result<(Ipv4Net, u8), String> {
    let net: Ipv4Net = base
        .parse()
        .map_err(|_| format!("invalid base pool {base:?}: not an IPv4 CIDR"))?;
    if size < net.prefix || size > 32 {
        return Err(format!(
            "invalid pools size: {size} (base pool {base} cannot be split into /{size} networks)"
        ));
    }
    Ok((net.network(), size))
}

/// The subset of `daemon.json` berth understands; unknown keys are ignored like dockerd
/// ignores keys for features it was built without.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DaemonJson {
    pub hosts: Option<Vec<String>>,
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub log_level: Option<String>,
    pub default_runtime: Option<String>,
    pub runtimes: Option<std::collections::BTreeMap<String, RuntimeJson>>,
    pub cgroup_parent: Option<String>,
    pub debug: Option<bool>,
    pub log_driver: Option<String>,
    pub log_opts: Option<std::collections::BTreeMap<String, String>>,
    pub no_new_privileges: Option<bool>,
    pub userns_remap: Option<String>,
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub default_address_pools: Option<Vec<AddressPoolJson>>,
    pub mtu: Option<u32>,
    pub icc: Option<bool>,
    pub ip_masq: Option<bool>,
    pub iptables: Option<bool>,
    pub ip_forward: Option<bool>,
    pub dns: Option<Vec<String>>,
    pub group: Option<String>,
    pub insecure_registries: Option<Vec<String>>,
    pub registry_mirrors: Option<Vec<String>>,
    pub max_concurrent_downloads: Option<usize>,
    pub max_concurrent_uploads: Option<usize>,
}

/// One entry of daemon.json's `runtimes`, as dockerd reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeJson {
    pub path: Option<String>,
    pub runtime_args: Option<Vec<String>>,
    /// A containerd shim (`io.containerd.runsc.v1`): berth runs runtimes without
    /// containerd, so such an entry is refused with a clear message.
    pub runtime_type: Option<String>,
}

/// An OCI runtime binary registered by `--add-runtime` or daemon.json `runtimes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The binary: a path, or a name found on PATH.
    pub path: String,
    /// Global options given to it before each command.
    pub args: Vec<String>,
}

/// Runtime names that mean something already (dockerd reserves the runc ones too).
pub const RESERVED_RUNTIMES: [&str; 3] = ["berth", "runc", "io.containerd.runc.v2"];

fn runtimes(
    flags: &[String],
    json: Option<std::collections::BTreeMap<String, RuntimeJson>>,
) -> Result<std::collections::BTreeMap<String, RuntimeConfig>, ConfigError> {
    let mut out = std::collections::BTreeMap::new();
    for (name, r) in json.unwrap_or_default() {
        if RESERVED_RUNTIMES.contains(&name.as_str()) {
            return Err(ConfigError::Flags(format!(
                "runtime name '{name}' is reserved"
            )));
        }
        if let Some(t) = r.runtime_type.filter(|t| !t.is_empty()) {
            return Err(ConfigError::Flags(format!(
                "runtime {name}: runtimeType {t:?} is a containerd shim; berth runs OCI runtime binaries (give \"path\")"
            )));
        }
        let path = r
            .path
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ConfigError::Flags(format!("runtime {name}: a path is required")))?;
        out.insert(
            name,
            RuntimeConfig {
                path,
                args: r.runtime_args.unwrap_or_default(),
            },
        );
    }
    for flag in flags {
        let (name, path) = flag
            .split_once('=')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
            .ok_or_else(|| {
                ConfigError::Flags(format!(
                    "invalid argument \"{flag}\" for \"--add-runtime\" flag: expected name=path"
                ))
            })?;
        if RESERVED_RUNTIMES.contains(&name) {
            return Err(ConfigError::Flags(format!(
                "runtime name '{name}' is reserved"
            )));
        }
        if out.contains_key(name) {
            return Err(ConfigError::Flags(format!(
                "conflicting options: runtime {name} is given by the --add-runtime flag and by the configuration file"
            )));
        }
        out.insert(
            name.to_string(),
            RuntimeConfig {
                path: path.to_string(),
                args: Vec::new(),
            },
        );
    }
    Ok(out)
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub log_level: String,
    pub default_runtime: String,
    /// OCI runtime binaries besides the built-in `berth` (and runc, found on PATH).
    pub runtimes: std::collections::BTreeMap<String, RuntimeConfig>,
    pub cgroup_parent: String,
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// Containers get no_new_privs unless they say `no-new-privileges=false`.
    pub no_new_privileges: bool,
    pub network: NetworkConfig,
    /// `--userns-remap` as given; resolved into `remap` at start-up.
    pub userns_remap: Option<String>,
    /// The resolved remapping of a `--userns-remap` daemon.
    pub remap: Option<crate::userns::Remap>,
    /// `-G`/`group`: the group of the API sockets (see `state_dirs::socket_group`).
    pub group: Option<String>,
    /// `--insecure-registry` / `insecure-registries` (flags and file together, as dockerd).
    pub registry: berth_registry::RegistryConfig,
    /// Layers downloaded at once by one pull (dockerd's default: 3).
    pub max_concurrent_downloads: usize,
    /// Layers uploaded at once by one push (dockerd's default: 5).
    pub max_concurrent_uploads: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Help(String),
    #[error("{0}")]
    Flags(String),
    #[error("unable to configure the daemon with file {path}: {reason}")]
    File { path: String, reason: String },
}

impl DaemonConfig {
    /// Parses `berth daemon` arguments (without the leading `daemon`).
    pub fn from_args(args: Vec<String>) -> Result<DaemonConfig, ConfigError> {
        let mut argv = vec!["berth daemon".to_string()];
        argv.extend(args);
        let flags = DaemonFlags::try_parse_from(argv).map_err(|e| match e.kind() {
            clap::error::ErrorKind::DisplayHelp => ConfigError::Help(e.to_string()),
            _ => ConfigError::Flags(e.to_string().trim_end().to_string()),
        })?;
        let default_file = PathBuf::from("/etc/berth/daemon.json");
        let (file, explicit) = match &flags.config_file {
            Some(p) => (p.clone(), true),
            None => (default_file, false),
        };
        let json = match std::fs::read(&file) {
            Ok(bytes) => {
                serde_json::from_slice::<DaemonJson>(&bytes).map_err(|e| ConfigError::File {
                    path: file.display().to_string(),
                    reason: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                DaemonJson::default()
            }
            Err(e) => {
                return Err(ConfigError::File {
                    path: file.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        Self::merge(flags, json)
    }

    fn merge(flags: DaemonFlags, json: DaemonJson) -> Result<DaemonConfig, ConfigError> {
        // The flag's pools replace the file's, and either replaces Docker's defaults.
        let address_pools = if !flags.network.default_address_pools.is_empty() {
            flags
                .network
                .default_address_pools
                .iter()
                .map(|v| parse_pool_flag(v).and_then(|(b, s)| check_pool(&b, s)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(ConfigError::Flags)?
        } else if let Some(pools) = json
            .default_address_pools
            .as_ref()
            .filter(|p| !p.is_empty())
        {
            pools
                .iter()
                .map(|p| check_pool(&p.base, p.size))
                .collect::<Result<Vec<_>, _>>()
                .map_err(ConfigError::Flags)?
        } else {
            berth_net::ipam::DEFAULT_POOLS.to_vec()
        };
        let exec_root = flags
            .exec_root
            .or(json.exec_root)
            .unwrap_or_else(|| "/run/berth".into());
        let hosts = if !flags.hosts.is_empty() {
            flags.hosts
        } else {
            json.hosts.unwrap_or_else(|| {
                vec![format!("unix://{}", exec_root.join("berth.sock").display())]
            })
        };
        let debug = flags.debug || json.debug.unwrap_or(false);
        let log_level = flags.log_level.or(json.log_level).unwrap_or_else(|| {
            if debug {
                "debug".into()
            } else {
                "info".into()
            }
        });
        Ok(DaemonConfig {
            hosts,
            data_root: flags
                .data_root
                .or(json.data_root)
                .unwrap_or_else(|| "/var/lib/berth".into()),
            pidfile: flags
                .pidfile
                .or(json.pidfile)
                .unwrap_or_else(|| exec_root.join("berth.pid")),
            exec_root,
            log_level: if log_level == "fatal" {
                "error".into()
            } else {
                log_level
            },
            default_runtime: flags
                .default_runtime
                .or(json.default_runtime)
                .unwrap_or_else(|| "berth".into()),
            runtimes: runtimes(&flags.add_runtimes, json.runtimes)?,
            cgroup_parent: flags
                .cgroup_parent
                .or(json.cgroup_parent)
                .unwrap_or_else(|| "berth".into()),
            log_opts: json.log_opts.unwrap_or_default(),
            no_new_privileges: flags.no_new_privileges || json.no_new_privileges.unwrap_or(false),
            userns_remap: flags
                .userns_remap
                .or(json.userns_remap)
                .filter(|s| !s.is_empty()),
            remap: None,
            group: flags.group.or(json.group),
            registry: berth_registry::RegistryConfig {
                insecure: flags
                    .insecure_registries
                    .iter()
                    .cloned()
                    .chain(json.insecure_registries.into_iter().flatten())
                    .collect(),
                mirrors: flags
                    .registry_mirrors
                    .iter()
                    .chain(json.registry_mirrors.iter().flatten())
                    .map(|m| berth_registry::client::validate_mirror(m))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(ConfigError::Flags)?,
                certs_dirs: if flags.registry_certs_dirs.is_empty() {
                    berth_registry::RegistryConfig::default().certs_dirs
                } else {
                    flags.registry_certs_dirs.clone()
                },
            },
            max_concurrent_downloads: flags
                .max_concurrent_downloads
                .or(json.max_concurrent_downloads)
                .unwrap_or(3)
                .max(1),
            max_concurrent_uploads: flags
                .max_concurrent_uploads
                .or(json.max_concurrent_uploads)
                .unwrap_or(5)
                .max(1),
            network: NetworkConfig {
                bridge: match flags.network.bridge.or(json.bridge) {
                    Some(b) if b == "none" => None,
                    Some(b) if !b.is_empty() => Some(b),
                    _ => Some("berth0".into()),
                },
                bip: flags.network.bip.or(json.bip),
                mtu: flags.network.mtu.or(json.mtu).unwrap_or(1500),
                icc: flags.network.icc.or(json.icc).unwrap_or(true),
                ip_masq: flags.network.ip_masq.or(json.ip_masq).unwrap_or(true),
                iptables: flags.network.iptables.or(json.iptables).unwrap_or(true),
                ip_forward: flags.network.ip_forward.or(json.ip_forward).unwrap_or(true),
                dns: if flags.network.dns.is_empty() {
                    json.dns.unwrap_or_default()
                } else {
                    flags.network.dns
                },
                address_pools,
            },
        })
    }

    /// The unix socket paths to listen on.
    pub fn socket_paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        self.hosts
            .iter()
            .map(|h| {
                h.strip_prefix("unix://").map(PathBuf::from).ok_or_else(|| {
                    ConfigError::Flags(format!(
                        "unsupported host {h}: only unix:// sockets are served"
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file() {
        let flags = DaemonFlags::try_parse_from([
            "berth daemon",
            "-H",
            "unix:///tmp/a.sock",
            "--data-root",
            "/tmp/d",
        ])
        .unwrap();
        let json: DaemonJson =
            serde_json::from_str(r#"{"data-root":"/x","exec-root":"/tmp/e","unknown-key":1}"#)
                .unwrap();
        let c = DaemonConfig::merge(flags, json).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/tmp/d"));
        assert_eq!(c.exec_root, PathBuf::from("/tmp/e"));
        assert_eq!(c.pidfile, PathBuf::from("/tmp/e/berth.pid"));
        assert_eq!(
            c.socket_paths().unwrap(),
            vec![PathBuf::from("/tmp/a.sock")]
        );
    }

    #[test]
    fn no_new_privileges_from_flag_or_file() {
        let parse = |args: &[&str], json: &str| {
            let mut argv = vec!["berth daemon"];
            argv.extend(args);
            let flags = DaemonFlags::try_parse_from(argv).unwrap();
            DaemonConfig::merge(flags, serde_json::from_str(json).unwrap())
                .unwrap()
                .no_new_privileges
        };
        assert!(!parse(&[], "{}"));
        assert!(parse(&["--no-new-privileges"], "{}"));
        assert!(parse(&[], r#"{"no-new-privileges":true}"#));
        assert!(!parse(&[], r#"{"no-new-privileges":false}"#));
    }

    #[test]
    fn address_pools_from_flag_file_or_docker_defaults() {
        let pools = |args: &[&str], json: &str| {
            let mut argv = vec!["berth daemon"];
            argv.extend(args);
            let flags = DaemonFlags::try_parse_from(argv).unwrap();
            DaemonConfig::merge(flags, serde_json::from_str(json).unwrap())
                .map(|c| {
                    c.network
                        .address_pools
                        .iter()
                        .map(|(b, s)| format!("{b}:{s}"))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(pools(&[], "{}").unwrap()[0], "172.17.0.0/16:16");
        let file = r#"{"default-address-pools":[{"base":"10.10.0.0/16","size":24}]}"#;
        assert_eq!(pools(&[], file).unwrap(), ["10.10.0.0/16:24"]);
        assert_eq!(
            pools(
                &[
                    "--default-address-pool",
                    "base=10.20.0.0/16,size=24",
                    "--default-address-pool",
                    "Size=28,Base=10.30.1.0/24"
                ],
                file
            )
            .unwrap(),
            ["10.20.0.0/16:24", "10.30.1.0/24:28"]
        );
        for (bad, needle) in [
            ("base=10.0.0.0/16", "both required"),
            ("base=10.0.0.0/16,size=8", "invalid pools size"),
            ("base=nope,size=24", "not an IPv4 CIDR"),
            ("base=10.0.0.0/16,sz=24", "invalid field key sz"),
            ("10.0.0.0/16", "must be a key=value pair"),
        ] {
            let e = pools(&["--default-address-pool", bad], "{}").unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
