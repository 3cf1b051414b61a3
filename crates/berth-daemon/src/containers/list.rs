//! `GET /containers/json` with Docker's filters.

use super::{Container, ContainerRecord};
use crate::daemon::Daemon;
use berth_api::container::ContainerSummary;
use berth_api::filters::{label_matches, Filters};
use berth_api::ApiError;
use std::sync::Arc;

const FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// Docker's human duration: "Less than a second", "3 seconds", "About a minute", "2 hours"…
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if s / 60 == 1 {
        "About a minute".into()
    } else if s < 3600 {
        format!("{} minutes", s / 60)
    } else if (s as f64 / 3600.0).round() == 1.0 {
        "About an hour".into()
    } else if s < 48 * 3600 {
        format!("{} hours", (s as f64 / 3600.0).round() as i64)
    } else if s < 7 * 24 * 3600 * 2 {
        format!("{} days", s / 86400)
    } else if s < 30 * 24 * 3600 * 3 {
        format!("{} weeks", s / (7 * 86400))
    } else if s < 365 * 24 * 3600 * 2 {
        format!("{} months", s / (30 * 86400))
    } else {
        format!("{} years", s / (365 * 86400))
    }
}

fn since(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
        .unwrap_or(0)
}

/// The `Status` column text: `Up 3 seconds`, `Exited (0) 5 seconds ago`, `Created`, …
pub fn status_text(rec: &ContainerRecord) -> String {
    let s = &rec.state;
    if s.restarting {
        return format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(since(&s.finished_at))
        );
    }
    if s.running {
        let up = human_duration(since(&s.started_at));
        return if s.paused {
            format!("Up {up} (Paused)")
        } else {
            match health_status(rec) {
                "starting" => format!("Up {up} (health: starting)"),
                "none" => format!("Up {up}"),
                h => format!("Up {up} ({h})"),
            }
        };
    }
    if s.status == "removing" {
        return "Removal In Progress".into();
    }
    if s.dead {
        return "Dead".into();
    }
    if !rec.has_been_started || s.finished_at == super::ZERO_TIME {
        return "Created".into();
    }
    format!(
        "Exited ({}) {} ago",
        s.exit_code,
        human_duration(since(&s.finished_at))
    )
}

/// `starting`, `healthy`, `unhealthy`, or `none` without a healthcheck.
fn health_status(rec: &ContainerRecord) -> &str {
    rec.state
        .health
        .as_ref()
        .map(|h| h.status.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("none")
}

/// `publish`/`expose` filter values: `80`, `80/udp`, `8000-8010/tcp` (no `:`), as
/// `(port, proto)` pairs; moby's `portOp`.
fn port_filter(key: &str, values: &[String]) -> Result<Vec<(u16, String)>, ApiError> {
    let mut out = Vec::new();
    for value in values {
        if value.contains(':') {
            return Err(ApiError::invalid(format!(
                "filter for '{key}' should not contain ':': {value}"
            )));
        }
        let (port, proto) = value.split_once('/').unwrap_or((value, "tcp"));
        let bad = || {
            ApiError::invalid(format!(
                "error while looking up for {key} {value}: invalid port range: {port}"
            ))
        };
        let (start, end) = match port.split_once('-') {
            Some((a, b)) => (
                a.parse::<u16>().map_err(|_| bad())?,
                b.parse::<u16>().map_err(|_| bad())?,
            ),
            None => {
                let p = port.parse::<u16>().map_err(|_| bad())?;
                (p, p)
            }
        };
        if end < start {
            return Err(bad());
        }
        let proto = if proto.is_empty() { "tcp" } else { proto };
        out.extend((start..=end).map(|p| (p, proto.to_lowercase())));
    }
    Ok(out)
}

fn state_name(rec: &ContainerRecord) -> String {
    let s = &rec.state;
    if s.paused {
        "paused".into()
    } else if s.restarting {
        "restarting".into()
    } else if s.running {
        "running".into()
    } else if s.status == "removing" {
        "removing".into()
    } else if s.dead {
        "dead".into()
    } else if rec.has_been_started {
        "exited".into()
    } else {
        "created".into()
    }
}

fn created_unix(rec: &ContainerRecord) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&rec.created)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

pub fn summary(daemon: &Daemon, rec: &ContainerRecord) -> ContainerSummary {
    let mut command = rec.path.clone();
    for a in &rec.args {
        command.push(' ');
        command.push_str(a);
    }
    let image = if rec.config.image.starts_with("sha256:") {
        rec.image_id.clone()
    } else {
        daemon
            .images
            .display_name_for(&rec.config.image, &rec.image_id)
    };
    ContainerSummary {
        id: rec.id.clone(),
        names: vec![format!("/{}", rec.name)],
        image,
        image_id: rec.image_id.clone(),
        command,
        created: created_unix(rec),
        ports: if rec.state.running {
            crate::networks::ports::summary(&rec.ports)
        } else {
            vec![]
        },
        size_rw: None,
        size_root_fs: None,
        labels: rec.config.labels.clone().unwrap_or_default(),
        state: state_name(rec),
        status: status_text(rec),
        host_config: serde_json::json!({ "NetworkMode": rec.host_config.network_mode }),
        network_settings: serde_json::json!({ "Networks": super::inspect::network_settings(rec)["Networks"] }),
        mounts: rec.mounts.clone(),
    }
}

/// Filter values checked once per request (moby's `foldFilter`).
struct Prepared {
    publish: Vec<(u16, String)>,
    expose: Vec<(u16, String)>,
    /// `created` of the `before` / `since` containers.
    before: Option<String>,
    since: Option<String>,
    /// `name` and `id` expressions, compiled once per request.
    name: berth_api::filters::Matcher,
    id: berth_api::filters::Matcher,
}

fn find_created(all: &[Arc<Container>], value: &str) -> Result<String, ApiError> {
    let bare = value.trim_start_matches('/');
    all.iter()
        .find(|c| c.id == value)
        .or_else(|| all.iter().find(|c| c.rec().name == bare))
        .or_else(|| {
            let hits: Vec<_> = all.iter().filter(|c| c.id.starts_with(value)).collect();
            (hits.len() == 1).then(|| hits[0])
        })
        .map(|c| c.rec().created.clone())
        .ok_or_else(|| ApiError::not_found(format!("No such container: {value}")))
}

fn prepare(f: &Filters, all: &[Arc<Container>]) -> Result<Prepared, ApiError> {
    for v in f.get("exited") {
        if v.parse::<i64>().is_err() {
            return Err(ApiError::invalid(format!(
                "invalid filter 'exited={v}': strconv.Atoi: parsing \"{v}\": invalid syntax"
            )));
        }
    }
    for v in f.get("health") {
        if !["none", "starting", "healthy", "unhealthy"].contains(&v.as_str()) {
            return Err(ApiError::invalid(format!(
                "invalid filter 'health={v}': invalid value for health ({v}): must be one of none, starting, healthy, unhealthy"
            )));
        }
    }
    for v in f.get("is-task") {
        if !matches!(v.to_lowercase().as_str(), "true" | "false" | "1" | "0") {
            return Err(ApiError::invalid(format!(
                "strconv.ParseBool: parsing \"{v}\": invalid syntax"
            )));
        }
    }
    let one = |key: &str| -> Result<Option<String>, ApiError> {
        f.get(key).last().map(|v| find_created(all, v)).transpose()
    };
    Ok(Prepared {
        publish: port_filter("publish", f.get("publish"))?,
        expose: port_filter("expose", f.get("expose"))?,
        before: one("before")?,
        since: one("since")?,
        name: f.matcher("name"),
        id: f.matcher("id"),
    })
}

fn matches(daemon: &Daemon, rec: &ContainerRecord, f: &Filters, p: &Prepared) -> bool {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let v = f.get(key);
        v.is_empty() || v.iter().any(|x| pred(x))
    };
    let labels = rec.config.labels.clone().unwrap_or_default();
    let state = state_name(rec);
    let ports = if rec.state.running {
        crate::networks::ports::summary(&rec.ports)
    } else {
        vec![]
    };
    let port_ok = (p.publish.is_empty() && p.expose.is_empty())
        || ports.iter().any(|port| {
            let proto = port.kind.to_lowercase();
            let public = Some(port.public_port as u64).filter(|p| *p != 0);
            let private = Some(port.private_port as u64);
            p.publish
                .iter()
                .any(|(n, pr)| public == Some(*n as u64) && *pr == proto)
                || p.expose
                    .iter()
                    .any(|(n, pr)| private == Some(*n as u64) && *pr == proto)
        });
    // Label filters are ANDed together; others are ORed within a key. `name` and `id` are
    // regular expressions, as in moby.
    f.get("label").iter().all(|l| label_matches(l, &labels))
        && p.id.matches(&rec.id)
        && (p.name.matches(&rec.name) || p.name.matches(&format!("/{}", rec.name)))
        && port_ok
        && any("status", &|v| v == state)
        && any("exited", &|v| {
            state == "exited" && v.parse::<i64>().ok() == Some(rec.state.exit_code)
        })
        && any("ancestor", &|v| {
            daemon
                .images
                .is_ancestor(v, &rec.image_id, &rec.config.image)
        })
        && any("network", &|v| {
            v == rec.host_config.network_mode
                || rec.networks.iter().any(|(name, ep)| {
                    v == name || (!ep.network_id.is_empty() && ep.network_id.starts_with(v))
                })
        })
        && p.before.as_ref().is_none_or(|t| rec.created < *t)
        && p.since.as_ref().is_none_or(|t| rec.created > *t)
        && any("health", &|v| v == health_status(rec))
        && any("volume", &|v| {
            rec.mounts
                .iter()
                .any(|m| m.name == v || m.destination == v || m.source == v)
        })
        && any("is-task", &|v| v == "false")
}

/// `SizeRw` (the container's own changes) and `SizeRootFs` (those plus its image), which
/// `ps -s`, `GET /containers/json?size=1` and `system df` report. Walks the upper dir, so
/// call it off the async threads.
pub fn fill_sizes(daemon: &Daemon, s: &mut ContainerSummary) {
    let rw = super::prune::dir_size(&daemon.container_paths(&s.id).upper()) as i64;
    s.size_rw = Some(rw);
    s.size_root_fs = Some(rw + daemon.images.image_size(&s.image_id));
}

pub fn list(
    daemon: &Daemon,
    all: bool,
    limit: Option<i64>,
    latest: bool,
    f: &Filters,
) -> Result<Vec<ContainerSummary>, ApiError> {
    f.validate(FILTERS)?;
    for s in f.get("status") {
        if ![
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ]
        .contains(&s.as_str())
        {
            return Err(ApiError::invalid(format!(
                "invalid filter 'status={s}': invalid value for state ({s}): must be one of created, running, paused, restarting, removing, exited, dead"
            )));
        }
    }
    let containers = daemon.containers.all();
    let mut recs: Vec<ContainerRecord> = containers.iter().map(|c| c.snapshot()).collect();
    recs.sort_by(|a, b| b.created.cmp(&a.created));
    let prepared = prepare(f, &containers)?;
    // Only `status` implies `all` (moby); `exited=N` without `-a` shows nothing.
    let show_all =
        all || limit.map(|l| l > 0).unwrap_or(false) || latest || !f.get("status").is_empty();
    let mut out: Vec<ContainerSummary> = recs
        .iter()
        .filter(|r| show_all || r.state.running)
        .filter(|r| matches(daemon, r, f, &prepared))
        .map(|r| summary(daemon, r))
        .collect();
    let limit = if latest { Some(1) } else { limit };
    if let Some(n) = limit.filter(|n| *n > 0) {
        out.truncate(n as usize);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(3), "3 seconds");
        assert_eq!(human_duration(65), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3700), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }
}
