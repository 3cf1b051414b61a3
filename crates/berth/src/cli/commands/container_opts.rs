//! The flags shared by `run` and `create`, and their translation into the
//! `POST /containers/create` body, following docker/cli's `opts.go` parsing.

use super::super::{envfile, units, Fail};
use berth_api::container::{
    Config, CreateRequest, DeviceMapping, HealthConfig, HostConfig, LogConfig, PortMap,
    RestartPolicy, Ulimit,
};
use berth_api::network::{EndpointIpamConfig, EndpointSettings, NetworkingConfig, PortBinding};
use clap::Args;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn mem(s: &str) -> Result<i64, String> {
    units::ram_in_bytes(s)
}
fn mem_swap(s: &str) -> Result<i64, String> {
    units::mem_swap(s)
}
fn cpus(s: &str) -> Result<i64, String> {
    units::nano_cpus(s)
}

/// Container configuration flags (docker's `containerOptions`).
#[derive(Args, Debug, Default, Clone)]
pub struct ContainerOpts {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname")]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Restart policy to apply when a container exits (default "no")
    #[arg(long)]
    pub restart: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub init: Option<bool>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_parser = mem)]
    pub memory: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_parser = mem_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_parser = mem)]
    pub memory_reservation: Option<i64>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_parser = cpus)]
    pub cpus: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_parser = mem)]
    pub shm_size: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    /// Kernel parameters (sysctl)
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Add an annotation to the container (passed through to the OCI runtime)
    #[arg(long)]
    pub annotation: Vec<String>,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long)]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Go's `time.ParseDuration` for the units health flags use; returns nanoseconds.
pub fn go_duration(s: &str) -> Result<i64, String> {
    berth_api::duration::parse_go_duration(s)
}

fn kv_map(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.to_string(), String::new()),
        })
        .collect()
}

/// `8080:80`, `127.0.0.1:8080:80/udp`, `80`, `127.0.0.1::80` → (container port/proto, host ip, host port).
pub fn parse_publish(spec: &str) -> Result<(String, String, String), String> {
    let (main, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let parts: Vec<&str> = if main.starts_with('[') {
        // [::1]:8080:80
        let end = main
            .find(']')
            .ok_or_else(|| format!("invalid IP address: {main}"))?;
        let ip = &main[1..end];
        let rest: Vec<&str> = main[end + 1..].trim_start_matches(':').split(':').collect();
        let mut v = vec![ip];
        v.extend(rest);
        v
    } else {
        main.split(':').collect()
    };
    let (ip, hp, cp) = match parts.as_slice() {
        [cp] => ("", "", *cp),
        [hp, cp] => ("", *hp, *cp),
        [ip, hp, cp] => (*ip, *hp, *cp),
        _ => return Err(format!("invalid port format for --publish: {spec}")),
    };
    if cp.is_empty() || !cp.chars().all(|c| c.is_ascii_digit() || c == '-') {
        return Err(format!("invalid containerPort: {cp}"));
    }
    if !hp.chars().all(|c| c.is_ascii_digit() || c == '-') {
        return Err(format!("invalid hostPort: {hp}"));
    }
    Ok((format!("{cp}/{proto}"), ip.to_string(), hp.to_string()))
}

/// `--mount type=bind,source=/a,target=/b,readonly` → a `HostConfig.Mounts` entry.
pub fn parse_mount(spec: &str) -> Result<Value, String> {
    let mut m = Map::new();
    let mut kind = "volume".to_string();
    let mut bind = Map::new();
    let mut vol = Map::new();
    let mut tmpfs = Map::new();
    for field in spec.split(',') {
        let (k, v) = field
            .split_once('=')
            .map(|(k, v)| (k.trim(), Some(v.trim())))
            .unwrap_or((field.trim(), None));
        let truthy = |v: Option<&str>| -> Result<bool, String> {
            match v.unwrap_or("true") {
                "1" | "true" | "True" => Ok(true),
                "0" | "false" | "False" => Ok(false),
                other => Err(format!("invalid value for {k}: {other}")),
            }
        };
        match k.to_ascii_lowercase().as_str() {
            "type" => kind = v.unwrap_or("").to_string(),
            "source" | "src" => {
                m.insert("Source".into(), json!(v.unwrap_or("")));
            }
            "target" | "destination" | "dst" => {
                m.insert("Target".into(), json!(v.unwrap_or("")));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(truthy(v)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(v.unwrap_or("")));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(v.unwrap_or("")));
            }
            "bind-nonrecursive" => {
                return Err(
                    "bind-nonrecursive is deprecated, use bind-recursive=disabled instead".into(),
                )
            }
            "bind-recursive" => match v.unwrap_or("") {
                "enabled" => {}
                "disabled" => {
                    bind.insert("NonRecursive".into(), json!(true));
                }
                "writable" => {
                    bind.insert("ReadOnlyNonRecursive".into(), json!(true));
                }
                "readonly" => {
                    bind.insert("ReadOnlyForceRecursive".into(), json!(true));
                }
                other => {
                    return Err(format!(
                        "invalid value for {k}: {other} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                    ))
                }
            },
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), json!(truthy(v)?));
            }
            "volume-driver" => {
                vol.insert("DriverConfig".into(), json!({"Name": v.unwrap_or("")}));
            }
            "volume-opt" => {
                let (ok, ov) = v
                    .unwrap_or("")
                    .split_once('=')
                    .ok_or_else(|| format!("invalid value for volume-opt: {}", v.unwrap_or("")))?;
                let dc = vol
                    .entry("DriverConfig")
                    .or_insert_with(|| json!({"Name": "local"}));
                let opts = dc
                    .as_object_mut()
                    .ok_or("invalid volume-driver")?
                    .entry("Options")
                    .or_insert_with(|| json!({}));
                if let Some(o) = opts.as_object_mut() {
                    o.insert(ok.to_string(), json!(ov));
                }
            }
            "volume-label" => {
                let (lk, lv) = v
                    .unwrap_or("")
                    .split_once('=')
                    .unwrap_or((v.unwrap_or(""), ""));
                let labels = vol.entry("Labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert(lk.to_string(), json!(lv));
                }
            }
            "volume-subpath" => {
                vol.insert("Subpath".into(), json!(v.unwrap_or("")));
            }
            "tmpfs-size" => {
                tmpfs.insert(
                    "SizeBytes".into(),
                    json!(units::ram_in_bytes(v.unwrap_or(""))?),
                );
            }
            "tmpfs-mode" => {
                let mode = i64::from_str_radix(v.unwrap_or(""), 8)
                    .map_err(|_| format!("invalid value for tmpfs-mode: {}", v.unwrap_or("")))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            other => return Err(format!("unexpected key '{other}' in '{field}'")),
        }
    }
    if !m.contains_key("Target") {
        return Err("target is required".into());
    }
    m.insert("Type".into(), json!(kind));
    if !bind.is_empty() && kind != "bind" {
        return Err(format!(
            "cannot mix 'bind-*' options with mount type '{kind}'"
        ));
    }
    let read_only = m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false);
    let flag = |k: &str| bind.get(k).and_then(Value::as_bool).unwrap_or(false);
    if flag("ReadOnlyNonRecursive") && !read_only {
        return Err(
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
                .into(),
        );
    }
    if flag("ReadOnlyForceRecursive") {
        if !read_only {
            return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into());
        }
        if bind.get("Propagation").and_then(Value::as_str) != Some("rprivate") {
            return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into());
        }
    }
    if !bind.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if !vol.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(vol));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    Ok(Value::Object(m))
}

/// `nofile=1024:2048` → `{"Name","Soft","Hard"}`.
pub fn parse_ulimit(spec: &str) -> Result<Ulimit, String> {
    let (name, vals) = spec
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {spec}"))?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let p = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("invalid ulimit argument: {spec}"))
    };
    Ok(Ulimit {
        name: name.to_string(),
        soft: p(soft)?,
        hard: p(hard)?,
    })
}

/// `/dev/x[:/dev/y[:rwm]]` → a `Devices` entry.
pub fn parse_device(spec: &str) -> Result<DeviceMapping, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, perm) = match parts.as_slice() {
        [s] => (*s, *s, "rwm"),
        [s, x] if x.chars().all(|c| "rwm".contains(c)) && !x.starts_with('/') => (*s, *s, *x),
        [s, d] => (*s, *d, "rwm"),
        [s, d, p] => (*s, *d, *p),
        _ => return Err(format!("invalid device specification: {spec}")),
    };
    Ok(DeviceMapping {
        path_on_host: src.to_string(),
        path_in_container: dst.to_string(),
        cgroup_permissions: perm.to_string(),
    })
}

/// `always`, `on-failure:3`, `no`, `unless-stopped` → `RestartPolicy`.
pub fn parse_restart(spec: &str) -> Result<RestartPolicy, String> {
    let (name, count) = spec.split_once(':').unwrap_or((spec, ""));
    let maximum_retry_count = if count.is_empty() {
        0
    } else {
        if name != "on-failure" {
            return Err(format!("invalid restart policy format: maximum retry count can only be used with 'on-failure': {spec}"));
        }
        count.parse().map_err(|_| {
            format!("invalid restart policy format: maximum retry count must be an integer: {spec}")
        })?
    };
    match name {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
            name: name.to_string(),
            maximum_retry_count,
        }),
        _ => Err(format!("invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")),
    }
}

/// Splits a shell-ish entrypoint string: docker passes `--entrypoint` as one word.
fn entrypoint(e: &str) -> Option<Vec<String>> {
    if e.is_empty() {
        Some(vec![String::new()])
    } else {
        Some(vec![e.to_string()])
    }
}

impl ContainerOpts {
    /// Builds the create body. `detach` decides the default attach set, as in docker.
    pub fn to_create(
        &self,
        image: &str,
        cmd: &[String],
        detach: bool,
    ) -> Result<CreateRequest, Fail> {
        let bad = |m: String| {
            Fail::new(
                format!("berth: {m}\n\nRun 'berth run --help' for more information"),
                125,
            )
        };
        let mut env: Vec<String> = Vec::new();
        for f in &self.env_file {
            env.extend(envfile::read_env_file(f).map_err(bad)?);
        }
        env.extend(self.env.iter().filter_map(|e| envfile::expand_env(e)));
        let mut labels = BTreeMap::new();
        for f in &self.label_file {
            for l in envfile::parse_env_file(
                &std::fs::read_to_string(f)
                    .map_err(|e| bad(format!("open {f}: {}", envfile::io_text(&e))))?,
                |_| Some(String::new()),
            )
            .map_err(bad)?
            {
                let (k, v) = l.split_once('=').unwrap_or((&l, ""));
                labels.insert(k.to_string(), v.to_string());
            }
        }
        labels.extend(kv_map(&self.label));

        let mut attach_stdin = self.interactive;
        let (mut attach_stdout, mut attach_stderr) = (true, true);
        if !self.attach.is_empty() {
            attach_stdin = false;
            attach_stdout = false;
            attach_stderr = false;
            for a in &self.attach {
                match a.to_ascii_lowercase().as_str() {
                    "stdin" => attach_stdin = true,
                    "stdout" => attach_stdout = true,
                    "stderr" => attach_stderr = true,
                    _ => return Err(bad(format!("invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"))),
                }
            }
        }
        if detach {
            attach_stdin = false;
            attach_stdout = false;
            attach_stderr = false;
        }

        let mut exposed: BTreeMap<String, Value> = BTreeMap::new();
        let mut bindings: PortMap = PortMap::new();
        for p in &self.publish {
            let (port, ip, hp) = parse_publish(p).map_err(bad)?;
            exposed.insert(port.clone(), json!({}));
            bindings
                .entry(port)
                .or_default()
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: ip.to_string(),
                    host_port: hp.to_string(),
                });
        }
        for e in &self.expose {
            let p = if e.contains('/') {
                e.clone()
            } else {
                format!("{e}/tcp")
            };
            exposed.insert(p, json!({}));
        }

        let mut binds = Vec::new();
        let mut volumes: BTreeMap<String, Value> = BTreeMap::new();
        for v in &self.volume {
            if v.contains(':') {
                // docker: a relative host path starting with '.' is made absolute.
                match v.split_once(':') {
                    Some((host, rest)) if host.starts_with('.') => {
                        let abs = std::path::absolute(host)
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_else(|_| host.to_string());
                        binds.push(format!("{abs}:{rest}"));
                    }
                    _ => binds.push(v.clone()),
                }
            } else {
                volumes.insert(v.clone(), json!({}));
            }
        }
        let mounts: Vec<Value> = self
            .mount
            .iter()
            .map(|m| parse_mount(m))
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("invalid argument for \"--mount\" flag: {e}")))?;
        let tmpfs: BTreeMap<String, String> = self
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_string(), o.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect();
        let ulimits: Vec<Ulimit> = self
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<_, _>>()
            .map_err(bad)?;
        let devices: Vec<DeviceMapping> = self
            .device
            .iter()
            .map(|d| parse_device(d))
            .collect::<Result<_, _>>()
            .map_err(bad)?;
        let restart = match &self.restart {
            Some(r) => parse_restart(r).map_err(bad)?,
            None => RestartPolicy::default(),
        };
        if self.memory_swap.is_some_and(|s| s > 0)
            && self
                .memory
                .is_some_and(|m| m > self.memory_swap.unwrap_or(0))
        {
            // the daemon reports this one too, but docker checks it client-side
        }

        let healthcheck = if self.no_healthcheck {
            Some(HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            })
        } else if self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_retries.is_some()
            || self.health_timeout.is_some()
            || self.health_start_period.is_some()
        {
            let duration = |v: &Option<String>| -> Result<Option<i64>, _> {
                v.as_deref()
                    .map(|v| go_duration(v).map_err(bad))
                    .transpose()
            };
            Some(HealthConfig {
                test: self
                    .health_cmd
                    .as_ref()
                    .map(|c| vec!["CMD-SHELL".into(), c.clone()]),
                interval: duration(&self.health_interval)?,
                timeout: duration(&self.health_timeout)?,
                start_period: duration(&self.health_start_period)?,
                retries: self.health_retries,
                ..Default::default()
            })
        } else {
            None
        };

        let config = Config {
            hostname: self.hostname.clone().unwrap_or_default(),
            domainname: self.domainname.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            attach_stdin,
            attach_stdout,
            attach_stderr,
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: self.interactive && attach_stdin && !detach,
            env: Some(env),
            cmd: (!cmd.is_empty()).then(|| cmd.to_vec()),
            healthcheck,
            image: image.to_string(),
            volumes: (!volumes.is_empty()).then_some(volumes),
            working_dir: self.workdir.clone().unwrap_or_default(),
            entrypoint: self.entrypoint.as_deref().and_then(entrypoint),
            mac_address: self.mac_address.clone(),
            labels: Some(labels),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            ..Default::default()
        };
        let mut host = HostConfig {
            binds: (!binds.is_empty()).then_some(binds),
            container_i_d_file: self.cidfile.clone().unwrap_or_default(),
            log_config: LogConfig {
                kind: self.log_driver.clone().unwrap_or_default(),
                config: (!self.log_opt.is_empty()).then(|| kv_map(&self.log_opt)),
            },
            network_mode: self.network.clone().unwrap_or_else(|| "default".into()),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            restart_policy: restart,
            volumes_from: (!self.volumes_from.is_empty()).then(|| self.volumes_from.clone()),
            mounts: (!mounts.is_empty())
                .then(|| serde_json::from_value(Value::Array(mounts)))
                .transpose()
                .map_err(|e| bad(format!("invalid argument for \"--mount\" flag: {e}")))?,
            annotations: (!self.annotation.is_empty()).then(|| kv_map(&self.annotation)),
            cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
            cap_drop: (!self.cap_drop.is_empty()).then(|| self.cap_drop.clone()),
            cgroupns_mode: self.cgroupns.clone().unwrap_or_default(),
            dns: Some(self.dns.clone()),
            dns_options: Some(self.dns_option.clone()),
            dns_search: Some(self.dns_search.clone()),
            extra_hosts: (!self.add_host.is_empty()).then(|| self.add_host.clone()),
            group_add: (!self.group_add.is_empty()).then(|| self.group_add.clone()),
            ipc_mode: self.ipc.clone().unwrap_or_default(),
            links: (!self.link.is_empty()).then(|| self.link.clone()),
            oom_score_adj: self.oom_score_adj.unwrap_or(0),
            pid_mode: self.pid.clone().unwrap_or_default(),
            privileged: self.privileged,
            publish_all_ports: self.publish_all,
            readonly_rootfs: self.read_only,
            security_opt: (!self.security_opt.is_empty()).then(|| self.security_opt.clone()),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            uts_mode: self.uts.clone().unwrap_or_default(),
            userns_mode: self.userns.clone().unwrap_or_default(),
            shm_size: self.shm_size.unwrap_or(0),
            sysctls: (!self.sysctl.is_empty()).then(|| kv_map(&self.sysctl)),
            runtime: self.runtime.clone().unwrap_or_default(),
            init: self.init,
            ..Default::default()
        };
        let r = &mut host.resources;
        r.memory = self.memory.unwrap_or(0);
        r.memory_swap = self.memory_swap.unwrap_or(0);
        r.memory_reservation = self.memory_reservation.unwrap_or(0);
        r.memory_swappiness = self.memory_swappiness;
        r.nano_cpus = self.cpus.unwrap_or(0);
        r.cpu_shares = self.cpu_shares.unwrap_or(0);
        r.cpu_period = self.cpu_period.unwrap_or(0);
        r.cpu_quota = self.cpu_quota.unwrap_or(0);
        r.cpuset_cpus = self.cpuset_cpus.clone().unwrap_or_default();
        r.cpuset_mems = self.cpuset_mems.clone().unwrap_or_default();
        r.pids_limit = self.pids_limit;
        r.oom_kill_disable = self.oom_kill_disable.then_some(true);
        r.cgroup_parent = self.cgroup_parent.clone().unwrap_or_default();
        r.ulimits = (!ulimits.is_empty()).then_some(ulimits);
        r.devices = Some(devices);
        r.device_cgroup_rules =
            (!self.device_cgroup_rule.is_empty()).then(|| self.device_cgroup_rule.clone());

        let networking_config = match (&self.network, self.network_alias.is_empty(), &self.ip) {
            (Some(n), false, _) | (Some(n), _, Some(_)) => {
                let endpoint = EndpointSettings {
                    aliases: (!self.network_alias.is_empty()).then(|| self.network_alias.clone()),
                    ipam_config: self.ip.as_ref().map(|ip| EndpointIpamConfig {
                        ipv4_address: ip.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                Some(NetworkingConfig {
                    endpoints_config: Some([(n.clone(), Some(endpoint))].into()),
                })
            }
            _ => None,
        };
        Ok(CreateRequest {
            config,
            host_config: Some(host),
            networking_config,
        })
    }
}

/// Finds where the positional part of a run/create command line begins (the image),
/// so that everything after it goes to the container's command untouched — docker
/// stops flag parsing at the first positional (`SetInterspersed(false)`).
pub fn split_at_image(cmd: &clap::Command, args: &[String]) -> usize {
    let takes_value = |long: Option<&str>, short: Option<char>| -> bool {
        cmd.get_arguments().any(|a| {
            let hit = match (long, short) {
                (Some(l), _) => {
                    a.get_long() == Some(l) || a.get_all_aliases().is_some_and(|al| al.contains(&l))
                }
                (_, Some(s)) => a.get_short() == Some(s),
                _ => false,
            };
            hit && a.get_action().takes_values() && !a.is_require_equals_set()
        })
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return i + 1;
        }
        if let Some(long) = a.strip_prefix("--") {
            if !long.contains('=') && takes_value(Some(long), None) {
                i += 1;
            }
        } else if a.starts_with('-') && a.len() > 1 {
            // a cluster: the first flag that takes a value swallows the rest or the next arg
            for (pos, c) in a[1..].char_indices() {
                if takes_value(None, Some(c)) {
                    if pos + c.len_utf8() == a.len() - 1 {
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            return i;
        }
        i += 1;
    }
    args.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish() {
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            ("80/tcp".into(), "".into(), "8080".into())
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp").unwrap(),
            ("80/udp".into(), "127.0.0.1".into(), "8080".into())
        );
        assert_eq!(
            parse_publish("80").unwrap(),
            ("80/tcp".into(), "".into(), "".into())
        );
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            ("80/tcp".into(), "127.0.0.1".into(), "".into())
        );
        assert!(parse_publish("a:b").is_err());
    }

    #[test]
    fn mounts_and_limits() {
        let m = parse_mount("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            m,
            json!({"Type":"bind","Source":"/a","Target":"/b","ReadOnly":true})
        );
        assert!(parse_mount("type=bind,source=/a").is_err());
        let t = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777").unwrap();
        assert_eq!(t["TmpfsOptions"], json!({"SizeBytes":1048576,"Mode":1023}));
        let v = parse_mount("type=volume,src=v1,dst=/v,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-label=a=b,volume-nocopy").unwrap();
        assert_eq!(
            v["VolumeOptions"],
            json!({"NoCopy":true,"Labels":{"a":"b"},
                "DriverConfig":{"Name":"local","Options":{"type":"tmpfs","device":"tmpfs"}}})
        );
        assert_eq!(
            serde_json::to_value(parse_ulimit("nofile=1024:2048").unwrap()).unwrap(),
            json!({"Name":"nofile","Soft":1024,"Hard":2048})
        );
        assert_eq!(parse_ulimit("nproc=10").unwrap().hard, 10);
        assert_eq!(
            parse_device("/dev/fuse").unwrap().path_in_container,
            "/dev/fuse"
        );
        assert_eq!(parse_device("/dev/a:r").unwrap().cgroup_permissions, "r");
        assert_eq!(
            parse_restart("on-failure:3").unwrap().maximum_retry_count,
            3
        );
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
        assert_eq!(go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(go_duration("500ms"), Ok(500_000_000));
        assert!(go_duration("5").is_err());
    }
}
