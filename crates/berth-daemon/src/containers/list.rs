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
            format!("Up {up}")
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

fn matches(daemon: &Daemon, rec: &ContainerRecord, f: &Filters, all: &[Arc<Container>]) -> bool {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let v = f.get(key);
        v.is_empty() || v.iter().any(|x| pred(x))
    };
    let labels = rec.config.labels.clone().unwrap_or_default();
    let state = state_name(rec);
    let created = |key: &str| -> Option<String> {
        all.iter()
            .find(|c| c.id.starts_with(key) || c.rec().name == key.trim_start_matches('/'))
            .map(|c| c.rec().created.clone())
    };
    // Label filters are ANDed together; others are ORed within a key.
    f.get("label").iter().all(|l| label_matches(l, &labels))
        && any("id", &|v| rec.id.starts_with(v))
        && any("name", &|v| rec.name.contains(v.trim_start_matches('/')))
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
        && any("before", &|v| {
            created(v).map(|t| rec.created < t).unwrap_or(false)
        })
        && any("since", &|v| {
            created(v).map(|t| rec.created > t).unwrap_or(false)
        })
        && any("health", &|v| v == "none")
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
            return Err(ApiError::invalid(format!("invalid filter 'status={s}'")));
        }
    }
    let containers = daemon.containers.all();
    let mut recs: Vec<ContainerRecord> = containers.iter().map(|c| c.snapshot()).collect();
    recs.sort_by(|a, b| b.created.cmp(&a.created));
    let show_all = all
        || limit.map(|l| l > 0).unwrap_or(false)
        || latest
        || !f.get("status").is_empty()
        || !f.get("exited").is_empty();
    let mut out: Vec<ContainerSummary> = recs
        .iter()
        .filter(|r| show_all || r.state.running)
        .filter(|r| matches(daemon, r, f, &containers))
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
