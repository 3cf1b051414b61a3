//! `POST /containers/create`: validate, merge the image's config, persist.

use super::{Container, ContainerRecord, ZERO_TIME};
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::store::{Op, Refusal, Table};
use berth_api::container::{Config, ContainerState, CreateRequest, HostConfig};
use berth_api::ApiError;
use std::sync::Arc;

/// Merges the image's config under the user's, as dockerd does at create time.
pub fn merge_image_config(user: &mut Config, image: &Config) {
    if user.user.is_empty() {
        user.user = image.user.clone();
    }
    if user.working_dir.is_empty() {
        user.working_dir = image.working_dir.clone();
    }
    let mut env: Vec<String> = image.env.clone().unwrap_or_default();
    for kv in user.env.iter().flatten() {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    user.env = Some(env);
    let entrypoint_overridden = user.entrypoint.is_some();
    if !entrypoint_overridden {
        user.entrypoint = image.entrypoint.clone();
    }
    if user.cmd.as_ref().map(|c| c.is_empty()).unwrap_or(true) && !entrypoint_overridden {
        user.cmd = image.cmd.clone();
    }
    if let Some(ep) = &user.entrypoint {
        if ep.len() == 1 && ep[0].is_empty() {
            user.entrypoint = None;
        }
    }
    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(user.labels.clone().unwrap_or_default());
    user.labels = Some(labels);
    if user.stop_signal.is_none() {
        user.stop_signal = image.stop_signal.clone();
    }
    if user.healthcheck.is_none() {
        user.healthcheck = image.healthcheck.clone();
    }
    if let Some(ports) = &image.exposed_ports {
        let mut merged = ports.clone();
        merged.extend(user.exposed_ports.clone().unwrap_or_default());
        user.exposed_ports = Some(merged);
    }
    if let Some(vols) = &image.volumes {
        let mut merged = vols.clone();
        merged.extend(user.volumes.clone().unwrap_or_default());
        user.volumes = Some(merged);
    }
    if user.on_build.is_none() {
        user.on_build = image.on_build.clone();
    }
}

fn validate_host_config(hc: &HostConfig) -> Result<(), ApiError> {
    super::host_options::validate(hc)?;
    validate_storage_opt(hc)?;
    if !matches!(hc.isolation.as_str(), "" | "default") {
        return Err(ApiError::invalid(format!(
            "invalid isolation ({}): linux only supports 'default'",
            hc.isolation
        )));
    }
    if hc.resources.io_maximum_bandwidth != 0 {
        return Err(ApiError::invalid(
            "invalid option: QoS maximum bandwidth configuration is not supported on linux",
        ));
    }
    if hc.resources.io_maximum_iops != 0 {
        return Err(ApiError::invalid(
            "invalid option: QoS maximum IOPs configuration is not supported on linux",
        ));
    }
    validate_realtime(&hc.resources)?;
    validate_device_requests(&hc.resources)?;
    if !matches!(hc.volume_driver.as_str(), "" | "local") {
        return Err(ApiError::not_found(format!(
            "error looking up volume plugin {0}: plugin \"{0}\" not found",
            hc.volume_driver
        )));
    }
    if hc.auto_remove && !matches!(hc.restart_policy.name.as_str(), "" | "no") {
        return Err(ApiError::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    super::restart_policy::validate(&hc.restart_policy, hc.auto_remove)?;
    super::security_opt::parse(hc.security_opt.as_deref().unwrap_or(&[]))?;
    super::devices::validate(hc)?;
    let r = &hc.resources;
    if r.memory != 0 && r.memory < 6 * 1024 * 1024 {
        return Err(ApiError::invalid("Minimum memory limit allowed is 6MB"));
    }
    if r.memory < 0 {
        return Err(ApiError::invalid("invalid memory limit: must be positive"));
    }
    if r.memory_swap > 0 && r.memory > 0 && r.memory_swap < r.memory {
        return Err(ApiError::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if r.memory_swap > 0 && r.memory == 0 {
        return Err(ApiError::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if r.memory_reservation < 0 || (r.memory > 0 && r.memory_reservation > r.memory) {
        return Err(ApiError::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    if r.nano_cpus < 0 || r.nano_cpus > ncpu * 1_000_000_000 {
        return Err(ApiError::invalid(format!(
            "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return Err(ApiError::invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(ApiError::invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if r.memory_reservation != 0 && r.memory_reservation < 6 * 1024 * 1024 {
        return Err(ApiError::invalid(
            "Minimum memory reservation allowed is 6MB",
        ));
    }
    validate_limits(r)?;
    if hc.oom_score_adj < -1000 || hc.oom_score_adj > 1000 {
        return Err(ApiError::invalid(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            hc.oom_score_adj
        )));
    }
    if hc.shm_size < 0 {
        return Err(ApiError::invalid("SHM size can not be less than 0"));
    }
    crate::containers::logs::options::validate(&hc.log_config)?;
    for c in hc
        .cap_add
        .iter()
        .flatten()
        .chain(hc.cap_drop.iter().flatten())
    {
        if !c.eq_ignore_ascii_case("all") {
            super::spec_caps::parse_cap(c)?;
        }
    }
    Ok(())
}

/// The limits checked both at create and at `docker update`, with Docker's texts.
pub(super) fn validate_limits(r: &berth_api::container::Resources) -> Result<(), ApiError> {
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return Err(ApiError::invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return Err(ApiError::invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if r.cpu_shares < 0 {
        return Err(ApiError::invalid(format!(
            "invalid CPU shares ({}): value must be a positive integer",
            r.cpu_shares
        )));
    }
    if r.blkio_weight > 0 && !(10..=1000).contains(&r.blkio_weight) {
        return Err(ApiError::invalid(
            "Range of blkio weight is from 10 to 1000",
        ));
    }
    for (req, what, file, kind) in [
        (&r.cpuset_cpus, "cpus", "cpus", "CPUs"),
        (&r.cpuset_mems, "mems", "mems", "memory nodes"),
    ] {
        if req.is_empty() {
            continue;
        }
        let want = parse_cpuset(req)
            .ok_or_else(|| ApiError::invalid(format!("Invalid value {req} for cpuset {what}")))?;
        let avail = available_cpuset(file);
        if let Some(have) = avail.as_deref().and_then(parse_cpuset) {
            if !want.iter().all(|c| have.contains(c)) {
                return Err(ApiError::invalid(format!(
                    "Requested {kind} are not available - requested {req}, available: {}",
                    avail.unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// Parses a cpuset list (`0-3,5`); `None` when malformed.
fn parse_cpuset(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let a = part.parse::<u32>().ok()?;
                (a, a)
            }
        };
        if b < a || b - a > 65_536 {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

/// The host's cpus/mems the way Docker reads them: the root cpuset cgroup (v1) or the
/// effective sets (v2), else the online ones.
fn available_cpuset(which: &str) -> Option<String> {
    [
        format!("/sys/fs/cgroup/cpuset/cpuset.{which}"),
        format!("/sys/fs/cgroup/cpuset.{which}.effective"),
        match which {
            "cpus" => "/sys/devices/system/cpu/online".into(),
            _ => "/sys/devices/system/node/online".into(),
        },
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| s.trim().to_string())
    .find(|s| !s.is_empty())
}

/// `--cpu-rt-runtime/--cpu-rt-period`: berth does not give containers real-time budgets
/// yet (that needs the daemon's own `--cpu-rt-runtime` on the parent cgroup), so it
/// refuses them rather than ignore them.
fn validate_realtime(r: &berth_api::container::Resources) -> Result<(), ApiError> {
    if r.cpu_realtime_period == 0 && r.cpu_realtime_runtime == 0 {
        return Ok(());
    }
    if r.cpu_realtime_period != 0
        && r.cpu_realtime_runtime != 0
        && r.cpu_realtime_runtime > r.cpu_realtime_period
    {
        return Err(ApiError::invalid(
            "cpu real-time runtime cannot be higher than cpu real-time period",
        ));
    }
    Err(ApiError::invalid(
        "berth does not support the CPU real-time scheduler (--cpu-rt-runtime, --cpu-rt-period) yet",
    ))
}

/// `--gpus` and other device requests: berth has no device driver yet (GPU containers
/// are on the roadmap), so every request fails the way dockerd fails without one.
fn validate_device_requests(r: &berth_api::container::Resources) -> Result<(), ApiError> {
    if let Some(req) = r.device_requests.iter().flatten().next() {
        let driver = &req.driver;
        let caps: Vec<String> = req
            .capabilities
            .iter()
            .flatten()
            .map(|set| format!("[{}]", set.join(" ")))
            .collect();
        return Err(ApiError::invalid(format!(
            "could not select device driver \"{driver}\" with capabilities: [{}]",
            caps.join(" ")
        )));
    }
    Ok(())
}

/// `--storage-opt`: overlay2's only option is `size`, a project quota that needs an xfs
/// backing filesystem mounted with `pquota`; berth keeps no quotas, so it answers as
/// dockerd does on any other filesystem rather than ignore the limit.
fn validate_storage_opt(hc: &HostConfig) -> Result<(), ApiError> {
    let Some(opts) = hc.storage_opt.as_ref().filter(|o| !o.is_empty()) else {
        return Ok(());
    };
    if opts.keys().any(|k| k.eq_ignore_ascii_case("size")) {
        return Err(ApiError::system(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ));
    }
    let key = opts
        .keys()
        .next()
        .map(|k| k.to_lowercase())
        .unwrap_or_default();
    Err(ApiError::system(format!("Unknown option {key}")))
}

/// Creates a container; returns its ID and warnings.
///
/// `api_version` is the client's (from the URL): some defaults depend on it, as in moby.
pub async fn create(
    daemon: &Arc<Daemon>,
    name: Option<&str>,
    req: CreateRequest,
    api_version: &str,
) -> Result<(String, Vec<String>)> {
    let mut config = req.config;
    let mut host_config = req.host_config.unwrap_or_default();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        let bare = name.strip_prefix('/').unwrap_or(name);
        if !crate::ids::valid_name(bare) {
            return Err(ApiError::invalid(format!(
                "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            ))
            .into());
        }
    }
    if config.image.is_empty() {
        return Err(ApiError::invalid("no image specified").into());
    }
    super::health::validate(&mut config.healthcheck, api_version)?;
    let image = daemon.images.resolve(&config.image)?;
    let image_config = daemon.images.container_config(&image)?;
    validate_host_config(&host_config)?;
    super::namespaces::validate(&config, &host_config)?;
    if let Some(s) = config.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        super::kill::parse_signal(s)
            .map_err(|_| ApiError::invalid(format!("Invalid signal: {s}")))?;
    }
    if !config.working_dir.is_empty() && !config.working_dir.starts_with('/') {
        return Err(ApiError::invalid(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            config.working_dir
        ))
        .into());
    }
    // moby: a zero or negative pids limit means "unlimited", stored as null.
    if host_config.resources.pids_limit.is_some_and(|l| l <= 0) {
        host_config.resources.pids_limit = None;
    }
    crate::userns::validate(daemon.config.remap.as_ref(), &host_config)?;
    merge_image_config(&mut config, &image_config);
    let mut command: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    command.extend(config.cmd.clone().unwrap_or_default());
    if command.is_empty() {
        return Err(ApiError::invalid("no command specified").into());
    }
    if host_config.network_mode.is_empty() || host_config.network_mode == "default" {
        // `--bridge none` disables the default network: such containers get none.
        host_config.network_mode = if daemon.networks.default_bridge().is_some() {
            "bridge".into()
        } else {
            "none".into()
        };
    }
    let networking = req.networking_config.clone();
    // `Config.NetworkDisabled` (docker-py's `network_disabled=True`): no endpoint at all,
    // only the namespace's loopback, as moby skips networking for such a container.
    let endpoints = if config.network_disabled == Some(true) {
        Default::default()
    } else {
        crate::networks::endpoints::plan_create(
            daemon,
            &host_config.network_mode,
            networking.as_ref(),
        )?
    };
    if host_config.log_config.kind.is_empty() {
        host_config.log_config.kind = "json-file".into();
        if host_config.log_config.config.is_none() && !daemon.config.log_opts.is_empty() {
            host_config.log_config.config = Some(daemon.config.log_opts.clone());
        }
    }
    daemon.runtimes.get(&host_config.runtime)?;
    if host_config.runtime.is_empty() {
        host_config.runtime = daemon.runtimes.default_name().to_string();
    }
    if host_config.restart_policy.name.is_empty() {
        host_config.restart_policy.name = "no".into();
    }
    if host_config.cgroupns_mode.is_empty() {
        host_config.cgroupns_mode = "private".into();
    }
    if host_config.ipc_mode.is_empty() {
        host_config.ipc_mode = "private".into();
    }
    // Like dockerd: a container that is not privileged records Docker's masked and
    // read-only paths, so inspect shows them and they are what its spec uses.
    if !host_config.privileged {
        if host_config.masked_paths.is_none() {
            host_config.masked_paths = Some(
                berth_runtime::defaults::MASKED_PATHS
                    .iter()
                    .map(|p| p.to_string())
                    .collect(),
            );
        }
        if host_config.readonly_paths.is_none() {
            host_config.readonly_paths = Some(
                berth_runtime::defaults::READONLY_PATHS
                    .iter()
                    .map(|p| p.to_string())
                    .collect(),
            );
        }
    }
    if host_config.shm_size == 0 {
        host_config.shm_size = 64 * 1024 * 1024;
    }
    // Docker stores twice the memory as the swap limit when none is given.
    let res = &mut host_config.resources;
    if res.memory > 0 && res.memory_swap == 0 {
        res.memory_swap = res.memory * 2;
    }
    let id = crate::ids::new_id();
    if config.hostname.is_empty() {
        config.hostname = super::spec::default_hostname(&id);
    }
    let mut warnings = Vec::new();
    if host_config.network_mode == "host"
        && host_config
            .port_bindings
            .as_ref()
            .is_some_and(|p| !p.is_empty())
    {
        warnings.push("Published ports are discarded when using host network mode".to_string());
    }
    // The CLI sends -1 for "not set"; moby clears it before any check (fixMemorySwappiness).
    if host_config.resources.memory_swappiness == Some(-1) {
        host_config.resources.memory_swappiness = None;
    }
    if host_config.resources.memory_swappiness.is_some()
        && berth_runtime::cgroups::detect() == berth_runtime::cgroups::CgroupVersion::V2
    {
        warnings.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".to_string());
        host_config.resources.memory_swappiness = None;
    }
    if host_config.resources.oom_kill_disable == Some(true) && host_config.resources.memory == 0 {
        warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".to_string());
    }
    // Windows-only knobs: moby drops them on Linux with a warning.
    if host_config.resources.cpu_percent > 0 {
        warnings.push("linux does not support CPU percent. Percent discarded.".to_string());
        host_config.resources.cpu_percent = 0;
    }
    if host_config.resources.cpu_count > 0 {
        warnings.push("linux does not support CPU count. Count discarded.".to_string());
        host_config.resources.cpu_count = 0;
    }

    let mount_plan = crate::volumes::mounts::plan(
        daemon,
        &config,
        &host_config,
        berth_api::version::parse(api_version) < berth_api::version::parse("1.44"),
    )?;
    let made_volumes = crate::volumes::mounts::ensure_volumes(daemon, &mount_plan)?;
    let mounts = crate::volumes::mounts::mount_points(daemon, &mount_plan);

    let rec_name_given = name
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !n.is_empty());
    let mut attempt = 0;
    loop {
        let cname = rec_name_given
            .clone()
            .unwrap_or_else(|| crate::ids::random_name(attempt));
        let rec = ContainerRecord {
            id: id.clone(),
            name: cname.clone(),
            created: super::now_rfc3339(),
            path: command[0].clone(),
            args: command[1..].to_vec(),
            config: config.clone(),
            host_config: host_config.clone(),
            image_id: image.clone(),
            state: ContainerState {
                status: "created".into(),
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..Default::default()
            },
            restart_count: 0,
            manually_stopped: false,
            has_been_started: false,
            monitor_pid: 0,
            mounts: mounts.clone(),
            mount_plan: mount_plan.clone(),
            networks: endpoints.clone(),
            ifnames: Default::default(),
            ports: Default::default(),
        };
        let value = serde_json::to_vec(&rec).map_err(|e| DaemonError::Other(e.to_string()))?;
        let ops = vec![
            Op::Insert {
                table: Table::Names,
                key: cname.clone(),
                value: id.as_bytes().to_vec(),
            },
            Op::Put {
                table: Table::Containers,
                key: id.clone(),
                value,
            },
        ];
        let applied = daemon.store.apply(ops);
        let retry = matches!(applied, Ok(Err(Refusal::Conflict(_, _))))
            && rec_name_given.is_none()
            && attempt < 10;
        if !retry && !matches!(applied, Ok(Ok(()))) {
            crate::volumes::mounts::undo(daemon, &made_volumes);
        }
        match applied? {
            Ok(()) => {
                let dir = daemon.container_paths(&id).dir;
                berth_perms::create_dir_all(&dir, berth_perms::Mode::CONTAINER_DIR)
                    .map_err(|e| DaemonError::io(format!("create {}", dir.display()), e))?;
                let c = Container::new(rec);
                daemon.containers.insert(c.clone());
                daemon.container_event(&c, "create", &[]);
                return Ok((id, warnings));
            }
            Err(Refusal::Conflict(_, _)) if rec_name_given.is_none() && attempt < 10 => {
                attempt += 1
            }
            Err(Refusal::Conflict(_, _)) => {
                let other = daemon
                    .store
                    .get(Table::Names, &cname)?
                    .map(|v| String::from_utf8_lossy(&v).to_string())
                    .unwrap_or_default();
                return Err(ApiError::conflict(format!(
                    "Conflict. The container name \"/{cname}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                ))
                .into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuset_lists_and_limits() {
        assert_eq!(parse_cpuset("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpuset("1"), Some(vec![1]));
        for bad in ["", "a-b", "3-1", "1,", "-1"] {
            assert_eq!(parse_cpuset(bad), None, "{bad}");
        }
        let mut r = berth_api::container::Resources {
            cpuset_cpus: "a-b".into(),
            ..Default::default()
        };
        let e = validate_limits(&r).unwrap_err();
        assert!(
            e.to_string().contains("Invalid value a-b for cpuset cpus"),
            "{e}"
        );
        r.cpuset_cpus = "99999".into();
        let e = validate_limits(&r).unwrap_err();
        assert!(
            e.to_string()
                .contains("Requested CPUs are not available - requested 99999, available: "),
            "{e}"
        );
        r.cpuset_cpus = "0".into();
        validate_limits(&r).unwrap();
        r.blkio_weight = 5;
        let e = validate_limits(&r).unwrap_err();
        assert!(e
            .to_string()
            .contains("Range of blkio weight is from 10 to 1000"));
        r.blkio_weight = 10;
        validate_limits(&r).unwrap();
    }

    #[test]
    fn image_config_merges_under_the_users() {
        let image = Config {
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            working_dir: "/w".into(),
            ..Default::default()
        };
        let mut user = Config {
            env: Some(vec!["A=2".into()]),
            ..Default::default()
        };
        merge_image_config(&mut user, &image);
        assert_eq!(user.env.unwrap(), vec!["PATH=/bin", "A=2"]);
        assert_eq!(user.cmd.unwrap(), vec!["sh"]);
        assert_eq!(user.working_dir, "/w");
        let mut ep = Config {
            entrypoint: Some(vec!["echo".into()]),
            ..Default::default()
        };
        merge_image_config(&mut ep, &image);
        assert_eq!(ep.cmd, None, "an entrypoint override drops the image's Cmd");
    }
}
