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

/// `until` (and friends) the way moby's `timetypes.GetTimestamp` reads them: a Go
/// duration before now (`10m30s`, `1.5h`), an RFC 3339 time with or without zone or
/// seconds (`2026-11-28T13:56`, `2026-11-28`; no zone means UTC here), or unix seconds
/// with optional fraction (`1795874180.5`). Returns unix seconds.
pub fn parse_until(s: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "failed to parse value as time or duration: \"{s}\""
        ))
    };
    if let Some(d) = go_duration_secs(s) {
        return Ok(chrono::Utc::now().timestamp() - d as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    for layout in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, layout) {
            return Ok(t.and_utc().timestamp());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .ok_or_else(bad)?
            .and_utc()
            .timestamp());
    }
    let (secs, _frac) = s.split_once('.').unwrap_or((s, ""));
    if !secs.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return secs.parse::<i64>().map_err(|_| bad());
    }
    Err(bad())
}

/// A Go duration in seconds; `None` when `s` is not one.
fn go_duration_secs(s: &str) -> Option<f64> {
    berth_api::duration::parse_go_duration(s)
        .ok()
        .map(|ns| ns as f64 / 1e9)
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

#[cfg(test)]
mod until_tests {
    use super::parse_until;

    #[test]
    fn until_reads_like_moby() {
        let now = chrono::Utc::now().timestamp();
        assert_eq!(parse_until("1795874180").unwrap(), 1795874180);
        assert_eq!(parse_until("1795874180.5").unwrap(), 1795874180);
        assert_eq!(parse_until("2026-11-28").unwrap(), 1795824000);
        assert_eq!(parse_until("2026-11-28T13:56").unwrap(), 1795874160);
        assert_eq!(parse_until("2026-11-28T13:56:30").unwrap(), 1795874190);
        assert_eq!(parse_until("2026-11-28T13:56:30Z").unwrap(), 1795874190);
        let d = parse_until("10m30s").unwrap();
        assert!((now - 631..=now - 629).contains(&d), "{d}");
        assert!(parse_until("bogus")
            .unwrap_err()
            .message
            .contains("failed to parse value as time or duration"));
    }
}
