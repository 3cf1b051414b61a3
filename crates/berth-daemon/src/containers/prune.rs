//! `POST /containers/prune`.

use crate::daemon::Daemon;
use crate::error::Result;
use berth_api::container::ContainerPruneResponse;
use berth_api::filters::{label_matches, Filters};
use berth_api::ApiError;
use std::sync::Arc;

pub async fn prune(daemon: &Arc<Daemon>, f: &Filters) -> Result<ContainerPruneResponse> {
    f.validate(&["label", "label!", "until"])?;
    let until = match f.get("until").first() {
        Some(u) => Some(parse_until(u)?),
        None => None,
    };
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in daemon.containers.all() {
        let rec = c.snapshot();
        if rec.state.running || rec.state.restarting || rec.state.paused {
            continue;
        }
        let labels = rec.config.labels.clone().unwrap_or_default();
        if !f.get("label").iter().all(|l| label_matches(l, &labels)) {
            continue;
        }
        if f.get("label!").iter().any(|l| label_matches(l, &labels)) {
            continue;
        }
        if let Some(u) = until {
            let created = chrono::DateTime::parse_from_rfc3339(&rec.created)
                .map(|t| t.timestamp())
                .unwrap_or(0);
            if created >= u {
                continue;
            }
        }
        let upper = daemon.container_paths(&rec.id).upper();
        let size = tokio::task::spawn_blocking(move || dir_size(&upper))
            .await
            .unwrap_or(0);
        if super::remove::remove(daemon, &c, false, false)
            .await
            .is_ok()
        {
            reclaimed += size;
            deleted.push(rec.id.clone());
        }
    }
    daemon.events.publish(
        "container",
        "prune",
        "",
        [("reclaimed".to_string(), reclaimed.to_string())].into(),
    );
    Ok(ContainerPruneResponse {
        containers_deleted: Some(deleted),
        space_reclaimed: reclaimed,
    })
}

/// `until` as unix seconds, RFC 3339, or a Go duration like `24h` / `10m`.
pub fn parse_until(s: &str) -> Result<i64, ApiError> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().map_err(|_| {
        ApiError::invalid(format!(
            "failed to parse value as time or duration: \"{s}\""
        ))
    })?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(ApiError::invalid(format!(
                "failed to parse value as time or duration: \"{s}\""
            )))
        }
    };
    Ok(chrono::Utc::now().timestamp() - secs as i64)
}

/// Bytes used by a directory tree (not following links).
pub fn dir_size(path: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}
