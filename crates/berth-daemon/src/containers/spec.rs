//! Container record → OCI runtime spec (config.json), starting from Docker's defaults
//! in `berth_runtime::defaults`.

use super::{ContainerPaths, ContainerRecord};
use crate::error::{DaemonError, Result};
use berth_api::ApiError;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResourcesBuilder, Mount, MountBuilder, Spec,
};
use std::path::Path;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The user a process runs as, resolved against the image's /etc/passwd and /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

fn read_in_root(root: &Path, path: &str) -> Option<String> {
    use std::io::Read;
    let mut f = berth_runtime::rootfs::open_in_root(root, path).ok()?;
    let mut s = String::new();
    f.by_ref().take(4 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Resolves `user[:group]` (names or numbers) the way Docker does, reading the files
/// inside the container's rootfs without following links out of it.
pub fn resolve_user(
    root: &Path,
    spec: &str,
    group_add: &[String],
) -> Result<ResolvedUser, ApiError> {
    let passwd = read_in_root(root, "/etc/passwd").unwrap_or_default();
    let group = read_in_root(root, "/etc/group").unwrap_or_default();
    let users: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 7)
        .collect();
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 3)
        .collect();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = users
        .iter()
        .find(|f| f[0] == user_part || (user_part.parse::<u32>().is_ok() && f[2] == user_part));
    let (uid, mut gid, home, uname) = match (entry, user_part.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>().unwrap_or(0),
            f[3].parse::<u32>().unwrap_or(0),
            f[5].to_string(),
            f[0].to_string(),
        ),
        (None, Ok(n)) => (n, 0, "/".to_string(), String::new()),
        (None, Err(_)) => {
            return Err(ApiError::invalid(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )))
        }
    };
    if entry.is_none() {
        gid = 0;
    }
    if let Some(g) = group_part {
        gid = match groups.iter().find(|f| f[0] == g || f[2] == g) {
            Some(f) => f[2].parse().unwrap_or(0),
            None => g.parse::<u32>().map_err(|_| {
                ApiError::invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
    }
    let mut additional = Vec::new();
    if !uname.is_empty() {
        for f in &groups {
            if f.len() >= 4 && f[3].split(',').any(|m| m == uname) {
                if let Ok(g) = f[2].parse::<u32>() {
                    if g != gid && !additional.contains(&g) {
                        additional.push(g);
                    }
                }
            }
        }
    }
    for g in group_add {
        let id = match groups.iter().find(|f| f[0] == g.as_str()) {
            Some(f) => f[2].parse().unwrap_or(0),
            None => g.parse::<u32>().map_err(|_| {
                ApiError::invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
        if !additional.contains(&id) {
            additional.push(id);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home,
    })
}

/// The process environment: image env, then the container's, then PATH/HOSTNAME/HOME/TERM
/// defaults where unset — as Docker composes it.
pub fn process_env(rec: &ContainerRecord, hostname: &str, home: &str) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let set = |kv: &str, env: &mut Vec<String>| {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.to_string());
    };
    set(&format!("PATH={DEFAULT_PATH}"), &mut env);
    set(&format!("HOSTNAME={hostname}"), &mut env);
    for kv in rec.config.env.iter().flatten() {
        if kv.contains('=') {
            set(kv, &mut env);
        }
    }
    if rec.config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", if home.is_empty() { "/" } else { home }));
    }
    env
}

fn bind(src: &Path, dst: &str, ro: bool) -> Result<Mount> {
    let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
    if ro {
        opts.push("ro".to_string());
    }
    MountBuilder::default()
        .destination(dst)
        .typ("bind")
        .source(src)
        .options(opts)
        .build()
        .map_err(|e| DaemonError::Other(format!("build mount {dst}: {e}")))
}

fn oci_err(e: impl std::fmt::Display) -> DaemonError {
    DaemonError::Other(format!("build runtime spec: {e}"))
}

/// Whether the container's processes (init and execs) run with no_new_privs: asked for
/// with `--security-opt no-new-privileges[=true|:true]`, or the daemon's
/// `--no-new-privileges` default unless the container says `no-new-privileges=false`.
pub fn no_new_privileges(rec: &ContainerRecord, daemon_default: bool) -> bool {
    let mut on = daemon_default;
    for o in rec.host_config.security_opt.iter().flatten() {
        match o.as_str() {
            "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true" => on = true,
            "no-new-privileges=false" | "no-new-privileges:false" => on = false,
            _ => {}
        }
    }
    on
}

/// Builds config.json for a container whose rootfs is mounted at `paths.rootfs()`.
pub fn build(rec: &ContainerRecord, paths: &ContainerPaths, cgroup_path: &str) -> Result<Spec> {
    let hc = &rec.host_config;
    let rootfs = paths.rootfs();
    let mut spec = berth_runtime::defaults::default_spec();
    let hostname = rec.config.hostname.clone();
    let user = resolve_user(
        &rootfs,
        &rec.config.user,
        hc.group_add.as_deref().unwrap_or(&[]),
    )?;

    let mut root = spec.root().clone().unwrap_or_default();
    root.set_path(rootfs.clone());
    root.set_readonly(Some(hc.readonly_rootfs));
    spec.set_root(Some(root));
    spec.set_hostname(Some(hostname.clone()));
    if !rec.config.domainname.is_empty() {
        spec.set_domainname(Some(rec.config.domainname.clone()));
    }

    let mut process = spec.process().clone().unwrap_or_default();
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    process.set_args(Some(args));
    process.set_env(Some(process_env(rec, &hostname, &user.home)));
    process.set_cwd(if rec.config.working_dir.is_empty() {
        "/".into()
    } else {
        rec.config.working_dir.clone().into()
    });
    process.set_terminal(Some(rec.config.tty));
    let mut u = process.user().clone();
    u.set_uid(user.uid);
    u.set_gid(user.gid);
    u.set_additional_gids(if user.additional_gids.is_empty() {
        None
    } else {
        Some(user.additional_gids.clone())
    });
    process.set_user(u);
    if let Some(size) = rec
        .host_config
        .console_size
        .as_ref()
        .filter(|s| s.len() == 2 && s[0] > 0)
    {
        let cs = oci_spec::runtime::BoxBuilder::default()
            .height(size[0])
            .width(size[1])
            .build()
            .map_err(oci_err)?;
        process.set_console_size(Some(cs));
    }
    if hc.oom_score_adj != 0 {
        process.set_oom_score_adj(Some(hc.oom_score_adj as i32));
    }
    let no_new_privs = hc.security_opt.iter().flatten().any(|o| {
        matches!(
            o.as_str(),
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
        )
    });
    process.set_no_new_privileges(Some(no_new_privs));
    let rlimits = super::host_options::rlimits(hc, process.rlimits().clone().unwrap_or_default())?;
    process.set_rlimits(Some(rlimits));
    spec.set_process(Some(process));
    super::spec_caps::apply(&mut spec, hc)?;
    super::security_opt::apply_seccomp(&mut spec, hc)?;
    super::security_opt::apply_system_paths(&mut spec, hc)?;
    super::security_opt::apply_writable_cgroups(&mut spec, hc)?;

    // Files Docker bind-mounts into every container.
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    // Read-only with `--read-only`, as moby mounts them (`Writable: !ReadonlyRootfs`).
    let ro = hc.readonly_rootfs;
    mounts.push(bind(&paths.resolv_conf(), "/etc/resolv.conf", ro)?);
    mounts.push(bind(&paths.hostname(), "/etc/hostname", ro)?);
    mounts.push(bind(&paths.hosts(), "/etc/hosts", ro)?);
    if hc.shm_size > 0 {
        for m in mounts.iter_mut() {
            if m.destination() == Path::new("/dev/shm") {
                let mut opts: Vec<String> = m
                    .options()
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|o| !o.starts_with("size="))
                    .collect();
                opts.push(format!("size={}k", hc.shm_size / 1024));
                m.set_options(Some(opts));
            }
        }
    }
    mounts.extend(super::host_options::tmpfs_mounts(hc)?);
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_cgroups_path(Some(cgroup_path.into()));
    // Network: host shares the host's; everything else gets its own (empty for none).
    if hc.network_mode == "host" {
        if let Some(ns) = linux.namespaces_mut() {
            ns.retain(|n| n.typ() != LinuxNamespaceType::Network);
        }
        spec.set_hostname(None);
    }
    linux.set_resources(Some(resources(&hc.resources)?));
    if let Some(sysctls) = &hc.sysctls {
        linux.set_sysctl(Some(sysctls.clone().into_iter().collect()));
    }
    spec.set_linux(Some(linux));
    super::devices::apply(&mut spec, hc)?;

    let mut annotations = spec.annotations().clone().unwrap_or_default();
    if hc.init == Some(true) {
        annotations.insert("org.berth.init".into(), "true".into());
    }
    for (k, v) in hc.annotations.iter().flatten() {
        annotations.insert(k.clone(), v.clone());
    }
    spec.set_annotations(Some(annotations));
    Ok(spec)
}

/// Docker's resource fields → OCI `linux.resources`.
pub fn resources(r: &berth_api::container::Resources) -> Result<oci_spec::runtime::LinuxResources> {
    let mut mem = LinuxMemoryBuilder::default();
    if r.memory > 0 {
        mem = mem.limit(r.memory);
        // Docker: swap defaults to twice the memory when unset.
        let swap = match r.memory_swap {
            0 => r.memory * 2,
            s => s,
        };
        mem = mem.swap(swap);
    }
    if r.memory_reservation > 0 {
        mem = mem.reservation(r.memory_reservation);
    }
    if let Some(s) = r.memory_swappiness.filter(|s| *s >= 0) {
        mem = mem.swappiness(s as u64);
    }
    if let Some(d) = r.oom_kill_disable {
        mem = mem.disable_oom_killer(d);
    }
    let mut cpu = LinuxCpuBuilder::default();
    if r.nano_cpus > 0 {
        cpu = cpu
            .period(100_000u64)
            .quota(r.nano_cpus * 100_000 / 1_000_000_000);
    } else {
        if r.cpu_period > 0 {
            cpu = cpu.period(r.cpu_period as u64);
        }
        if r.cpu_quota != 0 {
            cpu = cpu.quota(r.cpu_quota);
        }
    }
    if r.cpu_shares > 0 {
        cpu = cpu.shares(r.cpu_shares as u64);
    }
    if !r.cpuset_cpus.is_empty() {
        cpu = cpu.cpus(r.cpuset_cpus.clone());
    }
    if !r.cpuset_mems.is_empty() {
        cpu = cpu.mems(r.cpuset_mems.clone());
    }
    let mut res = LinuxResourcesBuilder::default()
        .memory(mem.build().map_err(oci_err)?)
        .cpu(cpu.build().map_err(oci_err)?);
    if let Some(limit) = r.pids_limit.filter(|l| *l != 0) {
        res = res.pids(
            LinuxPidsBuilder::default()
                .limit(if limit < 0 { -1 } else { limit })
                .build()
                .map_err(oci_err)?,
        );
    }
    let block_io = block_io(r)?;
    if let Some(b) = block_io {
        res = res.block_io(b);
    }
    let mut built = res.build().map_err(oci_err)?;
    if let Some(defaults) = berth_runtime::defaults::default_spec()
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
    {
        built.set_devices(defaults.devices().clone());
    }
    Ok(built)
}

/// `(major, minor)` of the block device at `path` (`--device-read-bps /dev/sda:1mb`).
fn block_device_numbers(path: &str) -> Result<(i64, i64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            _ => e.to_string(),
        };
        DaemonError::Other(format!("stat {path}: {why}"))
    })?;
    if !meta.file_type().is_block_device() {
        return Err(ApiError::invalid(format!("{path} is not a block device")).into());
    }
    let rdev = meta.rdev();
    Ok((
        nix::sys::stat::major(rdev) as i64,
        nix::sys::stat::minor(rdev) as i64,
    ))
}

/// `--blkio-weight`, `--blkio-weight-device` and the `--device-{read,write}-{bps,iops}`
/// limits as OCI `blockIO`; devices are named by path in the API and by number in OCI.
fn block_io(
    r: &berth_api::container::Resources,
) -> Result<Option<oci_spec::runtime::LinuxBlockIo>> {
    use berth_api::container::ThrottleDevice;
    use oci_spec::runtime::{LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder};
    let throttle = |v: &Option<Vec<ThrottleDevice>>| -> Result<Option<Vec<_>>> {
        let mut out = Vec::new();
        for d in v.iter().flatten().filter(|d| !d.path.is_empty()) {
            let (major, minor) = block_device_numbers(&d.path)?;
            out.push(
                LinuxThrottleDeviceBuilder::default()
                    .major(major)
                    .minor(minor)
                    .rate(d.rate)
                    .build()
                    .map_err(oci_err)?,
            );
        }
        Ok((!out.is_empty()).then_some(out))
    };
    let mut weights = Vec::new();
    for d in r.blkio_weight_device.iter().flatten() {
        if d.path.is_empty() {
            continue;
        }
        let (major, minor) = block_device_numbers(&d.path)?;
        weights.push(
            LinuxWeightDeviceBuilder::default()
                .major(major)
                .minor(minor)
                .weight(d.weight)
                .build()
                .map_err(oci_err)?,
        );
    }
    let mut b = oci_spec::runtime::LinuxBlockIo::default();
    if r.blkio_weight > 0 {
        b.set_weight(Some(r.blkio_weight));
    }
    if !weights.is_empty() {
        b.set_weight_device(Some(weights));
    }
    b.set_throttle_read_bps_device(throttle(&r.blkio_device_read_bps)?);
    b.set_throttle_write_bps_device(throttle(&r.blkio_device_write_bps)?);
    b.set_throttle_read_iops_device(throttle(&r.blkio_device_read_iops)?);
    b.set_throttle_write_iops_device(throttle(&r.blkio_device_write_iops)?);
    Ok((b != oci_spec::runtime::LinuxBlockIo::default()).then_some(b))
}

/// The hostname a container gets: its own, or the first 12 characters of its ID.
pub fn default_hostname(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Writes /etc/hosts, /etc/hostname and /etc/resolv.conf for a container (their
/// contents come from the network code: `networks::etc_files`).
pub fn write_etc_files(
    rec: &ContainerRecord,
    paths: &ContainerPaths,
    files: &crate::networks::etc_files::EtcFiles,
) -> Result<()> {
    let hostname = if rec.host_config.network_mode == "host" {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    } else {
        rec.config.hostname.clone()
    };
    let write = |p: std::path::PathBuf, s: &str| {
        berth_perms::write_file(&p, s.as_bytes(), berth_perms::Mode::READABLE_FILE)
            .map_err(|e| DaemonError::io(format!("write {}", p.display()), e))
    };
    write(paths.hosts(), &files.hosts)?;
    write(paths.hostname(), &format!("{hostname}\n"))?;
    write(paths.resolv_conf(), &files.resolv_conf)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_users_from_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nweb:x:1000:1000::/home/web:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:web\nweb:x:1000:\naudio:x:29:\n",
        )
        .unwrap();
        let root = resolve_user(dir.path(), "", &[]).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let web = resolve_user(dir.path(), "web", &[]).unwrap();
        assert_eq!(
            (web.uid, web.gid, web.additional_gids.clone()),
            (1000, 1000, vec![10])
        );
        let num = resolve_user(dir.path(), "1234:audio", &["wheel".into()]).unwrap();
        assert_eq!(
            (num.uid, num.gid, num.additional_gids),
            (1234, 29, vec![10])
        );
        assert!(resolve_user(dir.path(), "ghost", &[]).is_err());
        assert!(resolve_user(dir.path(), "web:ghosts", &[]).is_err());
    }
}
