//! Container objects: create body, config, host config, inspect, list, wait, top, update.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `Config.Healthcheck` (moby's `HealthConfig`): durations in nanoseconds, 0 or absent
/// for the default; an empty `Test` inherits the image's, `["NONE"]` turns it off.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// `State.Health`: the last probes and what they add up to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub status: String,
    #[serde(default)]
    pub failing_streak: i64,
    /// Oldest first; `[]`, never null (moby copies it into a fresh slice).
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub log: Vec<HealthcheckResult>,
}

/// One probe's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthcheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// `HostConfig.PortBindings`: `"80/tcp"` → bindings (`null`: one binding to any port).
pub type PortMap = BTreeMap<String, Option<Vec<crate::network::PortBinding>>>;

/// One `--ulimit`: `{"Name":"nofile","Soft":1024,"Hard":2048}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// One `--device`: host path, path in the container (default: the same), cgroup
/// permissions (default `rwm`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub path_on_host: String,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub path_in_container: String,
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub cgroup_permissions: String,
}

/// One `--blkio-weight-device`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct WeightDevice {
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub path: String,
    #[serde(default)]
    pub weight: u16,
}

/// One `--device-{read,write}-{bps,iops}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleDevice {
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub path: String,
    #[serde(default)]
    pub rate: u64,
}

/// One `--gpus` (or other device driver) request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceRequest {
    #[serde(default, deserialize_with = "crate::de::null_default")]
    pub driver: String,
    #[serde(default)]
    pub count: i64,
    #[serde(default, rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    #[serde(default)]
    pub capabilities: Option<Vec<Vec<String>>>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

/// The image-independent, portable part of a container (`Config` in inspect).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub domainname: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub attach_stdin: bool,
    #[serde(default)]
    pub attach_stdout: bool,
    #[serde(default)]
    pub attach_stderr: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub open_stdin: bool,
    #[serde(default)]
    pub stdin_once: bool,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default)]
    pub on_build: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// "", "no", "always", "unless-stopped", "on-failure"
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub maximum_retry_count: i64,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(default, rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub config: Option<BTreeMap<String, String>>,
}

/// The non-portable part of a container: resources, isolation, mounts.
/// Unknown keys are accepted and ignored, as dockerd's decoder does.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(default)]
    pub binds: Option<Vec<String>>,
    #[serde(default)]
    pub container_i_d_file: String,
    #[serde(default)]
    pub log_config: LogConfig,
    #[serde(default)]
    pub network_mode: String,
    #[serde(default)]
    pub port_bindings: Option<PortMap>,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    #[serde(default)]
    pub auto_remove: bool,
    #[serde(default)]
    pub volume_driver: String,
    #[serde(default)]
    pub volumes_from: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<crate::volume::Mount>>,
    #[serde(default)]
    pub console_size: Option<Vec<u32>>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub cap_add: Option<Vec<String>>,
    #[serde(default)]
    pub cap_drop: Option<Vec<String>>,
    #[serde(default)]
    pub cgroupns_mode: String,
    #[serde(default)]
    pub dns: Option<Vec<String>>,
    #[serde(default)]
    pub dns_options: Option<Vec<String>>,
    #[serde(default)]
    pub dns_search: Option<Vec<String>>,
    #[serde(default)]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub group_add: Option<Vec<String>>,
    #[serde(default)]
    pub ipc_mode: String,
    #[serde(default)]
    pub cgroup: String,
    #[serde(default)]
    pub links: Option<Vec<String>>,
    #[serde(default)]
    pub oom_score_adj: i64,
    #[serde(default)]
    pub pid_mode: String,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub publish_all_ports: bool,
    #[serde(default)]
    pub readonly_rootfs: bool,
    #[serde(default)]
    pub security_opt: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "UTSMode")]
    pub uts_mode: String,
    #[serde(default)]
    pub userns_mode: String,
    #[serde(default)]
    pub shm_size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub runtime: String,
    #[serde(default)]
    pub isolation: String,
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(default)]
    pub masked_paths: Option<Vec<String>>,
    #[serde(default)]
    pub readonly_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

/// Resource limits; shared by `HostConfig` and `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Resources {
    #[serde(default)]
    pub cpu_shares: i64,
    #[serde(default)]
    pub memory: i64,
    #[serde(default)]
    pub cgroup_parent: String,
    #[serde(default)]
    pub blkio_weight: u16,
    #[serde(default)]
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    #[serde(default)]
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    #[serde(default)]
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(default, rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(default, rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    #[serde(default)]
    pub cpu_period: i64,
    #[serde(default)]
    pub cpu_quota: i64,
    #[serde(default)]
    pub cpu_realtime_period: i64,
    #[serde(default)]
    pub cpu_realtime_runtime: i64,
    #[serde(default)]
    pub cpuset_cpus: String,
    #[serde(default)]
    pub cpuset_mems: String,
    #[serde(default)]
    pub devices: Option<Vec<DeviceMapping>>,
    #[serde(default)]
    pub device_cgroup_rules: Option<Vec<String>>,
    #[serde(default)]
    pub device_requests: Option<Vec<DeviceRequest>>,
    #[serde(default)]
    pub memory_reservation: i64,
    #[serde(default)]
    pub memory_swap: i64,
    #[serde(default)]
    pub memory_swappiness: Option<i64>,
    #[serde(default)]
    pub nano_cpus: i64,
    #[serde(default)]
    pub oom_kill_disable: Option<bool>,
    #[serde(default)]
    pub pids_limit: Option<i64>,
    #[serde(default)]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(default)]
    pub cpu_count: i64,
    #[serde(default)]
    pub cpu_percent: i64,
    #[serde(default, rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(default, rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
}

/// `POST /containers/create` body: `Config` fields at top level plus `HostConfig`
/// and `NetworkingConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: Config,
    #[serde(default)]
    pub host_config: Option<HostConfig>,
    #[serde(default)]
    pub networking_config: Option<crate::network::NetworkingConfig>,
}

/// `POST /containers/create` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateResponse {
    pub id: String,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `State` in container inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    /// created, running, paused, restarting, removing, exited, dead
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// A mount as inspect and list show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub graph_driver: Value,
    pub mounts: Vec<MountPoint>,
    pub config: Config,
    pub network_settings: Value,
    /// With `?size=1` only (walks the container's layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
}

/// A port of a running container in `GET /containers/json` (moby's `Port`): the
/// host side only when it is published.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Port {
    #[serde(rename = "IP", default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    #[serde(rename = "PublicPort", default, skip_serializing_if = "is_zero")]
    pub public_port: u16,
    /// `tcp`, `udp` or `sctp`.
    #[serde(rename = "Type")]
    pub kind: String,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// One row of `GET /containers/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub status: String,
    pub host_config: Value,
    pub network_settings: Value,
    pub mounts: Vec<MountPoint>,
}

/// `POST /containers/{id}/wait` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    pub status_code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitError>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    pub message: String,
}

/// `GET /containers/{id}/top` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopResponse {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// `POST /containers/{id}/update` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateRequest {
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(default)]
    pub restart_policy: Option<RestartPolicy>,
}

/// `POST /containers/{id}/update` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateResponse {
    pub warnings: Vec<String>,
}

/// `POST /containers/prune` answer (also used for image prune with other names).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerPruneResponse {
    pub containers_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}
