//! `GET /containers/{id}/top`: `ps` on the host, filtered to the container's pids.

use super::Container;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use berth_api::container::TopResponse;
use berth_api::ApiError;
use std::sync::Arc;

/// Parses `ps` output and keeps rows whose PID column is in `pids`.
pub fn filter_ps(output: &str, pids: &[i32]) -> Result<TopResponse, ApiError> {
    let mut lines = output.lines();
    let header = lines
        .next()
        .ok_or_else(|| ApiError::system("ps printed nothing"))?;
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::invalid("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(TopResponse { titles, processes })
}

pub async fn top(daemon: &Arc<Daemon>, c: &Arc<Container>, ps_args: &str) -> Result<TopResponse> {
    let rec = c.snapshot();
    if !rec.state.running {
        return Err(ApiError::conflict(format!("container {} is not running", rec.id)).into());
    }
    let cgroup = daemon.cgroup_path(&rec);
    let args: Vec<String> = if ps_args.trim().is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.split_whitespace().map(str::to_string).collect()
    };
    let out = tokio::process::Command::new("ps")
        .args(&args)
        .output()
        .await
        .map_err(|e| DaemonError::io("run ps", e))?;
    if !out.status.success() {
        // The first line of ps's complaint says why (moby shows only that line).
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("ps failed");
        return Err(ApiError::system(format!("ps: {}", why.trim())).into());
    }
    let mut pids = berth_runtime::cgroups::pids(&cgroup);
    if pids.is_empty() && rec.state.pid > 0 {
        pids.push(rec.state.pid as i32);
    }
    Ok(filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_container_pids() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 42 1 0 10:00 ? 00:00:00 sleep 100 now\n";
        let t = filter_ps(out, &[42]).unwrap();
        assert_eq!(t.processes.len(), 1);
        assert_eq!(t.processes[0].last().unwrap(), "sleep 100 now");
        assert!(filter_ps("A B\n", &[1]).is_err());
    }
}
