//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use crate::daemon::Daemon;
use crate::server::http::{self, HandlerResult, Req, Resp};
use berth_api::filters::Filters;
use berth_api::system::{Component, Platform, Version};
use berth_api::ApiError;
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use serde_json::json;
use std::sync::Arc;

pub fn ping(head: bool) -> Resp {
    let body = if head {
        http::empty()
    } else {
        http::full("OK")
    };
    let mut resp = http::response(StatusCode::OK, Some("text/plain; charset=utf-8"), body);
    let h = resp.headers_mut();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    resp
}

/// `RegistryConfig` as dockerd reports it: insecure CIDRs (loopback always), one index
/// entry per registry named in the configuration, the mirrors with a trailing `/`.
fn registry_info(config: &berth_registry::RegistryConfig) -> serde_json::Value {
    let mut cidrs = vec!["::1/128".to_string(), "127.0.0.0/8".to_string()];
    let mut indexes = serde_json::Map::new();
    let mirrors: Vec<String> = config.mirrors.iter().map(|m| format!("{m}/")).collect();
    indexes.insert(
        "docker.io".into(),
        serde_json::json!({"Name": "docker.io", "Mirrors": mirrors, "Secure": true, "Official": true}),
    );
    for entry in &config.insecure {
        if entry.contains('/') {
            if !cidrs.contains(entry) {
                cidrs.push(entry.clone());
            }
        } else {
            indexes.insert(
                entry.clone(),
                serde_json::json!({"Name": entry, "Mirrors": [], "Secure": false, "Official": false}),
            );
        }
    }
    serde_json::json!({
        "AllowNondistributableArtifactsCIDRs": null,
        "AllowNondistributableArtifactsHostnames": null,
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": indexes,
        "Mirrors": mirrors,
    })
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().to_string())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn version() -> Version {
    let v = berth_api::version::ENGINE_COMPAT_VERSION.to_string();
    Version {
        platform: Platform {
            name: format!("berth {}", berth_api::version::BERTH_VERSION),
        },
        components: vec![
            Component {
                name: "Engine".into(),
                version: v.clone(),
                details: json!({
                    "ApiVersion": berth_api::API_VERSION,
                    "MinAPIVersion": berth_api::MIN_API_VERSION,
                    "Arch": arch(),
                    "Os": "linux",
                    "KernelVersion": kernel_version(),
                    "GitCommit": "",
                    "GoVersion": "rust",
                    "Experimental": "false",
                    "BuildTime": "",
                }),
            },
            Component {
                name: "berth".into(),
                version: berth_api::version::BERTH_VERSION.into(),
                details: json!({}),
            },
        ],
        version: v,
        api_version: berth_api::API_VERSION.into(),
        min_a_p_i_version: berth_api::MIN_API_VERSION.into(),
        git_commit: String::new(),
        go_version: "rust".into(),
        os: "linux".into(),
        arch: arch().into(),
        kernel_version: kernel_version(),
        build_time: String::new(),
    }
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

/// Host memory in bytes, from /proc/meminfo.
pub fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse::<u64>().ok())
                })
        })
        .unwrap_or(0)
        * 1024
}

pub fn info(daemon: &Arc<Daemon>) -> serde_json::Value {
    let all = daemon.containers.all();
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for c in &all {
        let r = c.rec();
        if r.state.paused {
            paused += 1;
        } else if r.state.running {
            running += 1;
        } else {
            stopped += 1;
        }
    }
    let cgroup_version = match berth_runtime::cgroups::detect() {
        berth_runtime::cgroups::CgroupVersion::V1 => "1",
        berth_runtime::cgroups::CgroupVersion::V2 => "2",
    };
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    json!({
        "ID": hostname.clone(),
        "Containers": all.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": daemon.images.count(),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file", "none"]},
        "MemoryLimit": true,
        "SwapLimit": true,
        "KernelMemory": false,
        "KernelMemoryTCP": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": true,
        "BridgeNfIptables": false,
        "BridgeNfIp6tables": false,
        "Debug": daemon.config.log_level == "debug",
        "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
        "OomKillDisable": cgroup_version == "1",
        "NGoroutines": 0,
        "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_info(&daemon.config.registry),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total(),
        "GenericResources": null,
        "DockerRootDir": daemon.config.data_root.display().to_string(),
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": berth_api::version::ENGINE_COMPAT_VERSION,
        "CDISpecDirs": [],
        "Runtimes": daemon.runtimes.info(),
        "DefaultRuntime": daemon.runtimes.default_name(),
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        // berth is its own runtime and `--init`; there is no containerd.
        "InitBinary": "berth",
        "ContainerdCommit": {"ID": "none (berth has no containerd)"},
        "RuncCommit": {"ID": format!("berth {}", berth_api::version::BERTH_VERSION)},
        "InitCommit": {"ID": format!("berth {}", berth_api::version::BERTH_VERSION)},
        "SecurityOptions": crate::userns::security_options(daemon.config.remap.is_some()),
        "Warnings": null,
    })
}

pub async fn events(daemon: &Arc<Daemon>, req: &Req) -> HandlerResult {
    let f = Filters::parse(req.q("filters").unwrap_or(""))?;
    f.validate(&[
        "config",
        "container",
        "daemon",
        "event",
        "image",
        "label",
        "network",
        "node",
        "plugin",
        "scope",
        "secret",
        "service",
        "type",
        "volume",
    ])?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let since = crate::containers::logs::parse_time_nanos(req.q("since").unwrap_or(""))?;
    let until = crate::containers::logs::parse_time_nanos(req.q("until").unwrap_or(""))?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(ApiError::invalid("`since` time must be before `until` time").into());
        }
    }
    let mut rx = daemon.events.subscribe();
    let history = since
        .map(|s| daemon.events.history_since(s))
        .unwrap_or_default();
    let (tx, body_rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let line = |ev: &berth_api::event::Event| {
            let mut v = serde_json::to_vec(ev).unwrap_or_default();
            v.push(b'\n');
            Bytes::from(v)
        };
        let mut last = 0;
        for ev in history.iter().filter(|e| crate::events::matches(e, &f)) {
            if until.map(|u| ev.time_nano > u).unwrap_or(false) {
                return;
            }
            last = ev.time_nano;
            if tx.send(line(ev)).await.is_err() {
                return;
            }
        }
        if until.map(|u| u <= now).unwrap_or(false) {
            return;
        }
        let deadline = until.map(|u| std::time::Duration::from_nanos((u - now).max(0) as u64));
        let stream = async {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if ev.time_nano <= last && last != 0 {
                            continue;
                        }
                        if crate::events::matches(&ev, &f) && tx.send(line(&ev)).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        };
        match deadline {
            Some(d) => {
                let _ = tokio::time::timeout(d, stream).await;
            }
            None => stream.await,
        }
    });
    Ok(http::streaming("application/json", body_rx))
}

pub async fn df(daemon: &Arc<Daemon>, req: &Req) -> HandlerResult {
    // `type=container|image|volume|build-cache` (API ≥ 1.42) limits the answer.
    let types: Vec<String> = req.q_all("type");
    for t in &types {
        if !["container", "image", "volume", "build-cache"].contains(&t.as_str()) {
            return Err(ApiError::invalid(format!("unknown object type: {t}")).into());
        }
    }
    let want = move |t: &str| types.is_empty() || types.iter().any(|x| x == t);
    let d = daemon.clone();
    let value = tokio::task::spawn_blocking(move || {
        let mut out = serde_json::Map::new();
        if want("image") {
            let mut images = d
                .images
                .summaries(&d, &Filters::default(), true)
                .unwrap_or_default();
            d.images.count_on_disk(&mut images);
            d.images.fill_shared_sizes(&mut images, true);
            out.insert("LayersSize".into(), json!(d.images.layers_size()));
            out.insert("Images".into(), json!(images));
        }
        if want("container") {
            let containers: Vec<_> = d
                .containers
                .all()
                .iter()
                .map(|c| {
                    let rec = c.snapshot();
                    let mut s = crate::containers::list::summary(&d, &rec);
                    crate::containers::list::fill_sizes(&d, &mut s);
                    s
                })
                .collect();
            out.insert("Containers".into(), json!(containers));
        }
        if want("volume") {
            out.insert(
                "Volumes".into(),
                json!(crate::volumes::handlers::disk_usage(&d)),
            );
        }
        if want("build-cache") {
            out.insert("BuildCache".into(), json!([]));
        }
        serde_json::Value::Object(out)
    })
    .await
    .map_err(|e| crate::DaemonError::Other(e.to_string()))?;
    Ok(http::json(StatusCode::OK, &value))
}
