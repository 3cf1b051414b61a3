//! `berth stats`: resource usage from `/containers/{id}/stats`, once (`--no-stream`)
//! or redrawn every second, with docker's columns and computations.

use super::super::format::{human, Format};
use super::super::{CliResult, Ctx, Fail};
use super::parse;
use berth_client::ListContainersOptions;
use clap::Parser;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Parser)]
#[command(
    name = "stats",
    bin_name = "berth stats",
    override_usage = "berth stats [OPTIONS] [CONTAINER...]",
    about = "Display a live stream of container(s) resource usage statistics"
)]
struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    names: Vec<String>,
}

const DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn header() -> Value {
    json!({"ID":"CONTAINER ID","Container":"CONTAINER","Name":"NAME","CPUPerc":"CPU %","MemUsage":"MEM USAGE / LIMIT",
        "MemPerc":"MEM %","NetIO":"NET I/O","BlockIO":"BLOCK I/O","PIDs":"PIDS"})
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return 0.0,
        }
    }
    cur.as_f64().unwrap_or(0.0)
}

/// One row from a stats JSON object, computed as docker's CLI does.
pub fn stats_row(s: &Value, container: &str, trunc: bool) -> Value {
    let cpu_delta = num(s, &["cpu_stats", "cpu_usage", "total_usage"])
        - num(s, &["precpu_stats", "cpu_usage", "total_usage"]);
    let sys_delta =
        num(s, &["cpu_stats", "system_cpu_usage"]) - num(s, &["precpu_stats", "system_cpu_usage"]);
    let mut online = num(s, &["cpu_stats", "online_cpus"]);
    if online == 0.0 {
        online = s
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let usage = num(s, &["memory_stats", "usage"]);
    let stats = s.pointer("/memory_stats/stats");
    let cache = stats
        .and_then(|st| {
            st.get("total_inactive_file")
                .or_else(|| st.get("inactive_file"))
        })
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mem = if cache < usage { usage - cache } else { usage };
    let limit = num(s, &["memory_stats", "limit"]);
    let mem_perc = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(n) = s.get("networks").and_then(Value::as_object) {
        for v in n.values() {
            rx += num(v, &["rx_bytes"]);
            tx += num(v, &["tx_bytes"]);
        }
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    if let Some(a) = s
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
    {
        for e in a {
            match e
                .get("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("read") => rd += num(e, &["value"]),
                Some("write") => wr += num(e, &["value"]),
                _ => {}
            }
        }
    }
    let id = s.get("id").and_then(Value::as_str).unwrap_or(container);
    let name = s
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_start_matches('/');
    let h3 = |x: f64| human::size_prec(x, 3);
    json!({
        "Container": container,
        "ID": if trunc { human::short_id(id) } else { id.to_string() },
        "Name": if name.is_empty() { "--".to_string() } else { name.to_string() },
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", human::bytes_size(mem), human::bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", h3(rx), h3(tx)),
        "BlockIO": format!("{} / {}", h3(rd), h3(wr)),
        "PIDs": format!("{}", num(s, &["pids_stats", "current"]) as i64),
    })
}

pub async fn stats(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: StatsArgs = parse(args)?;
    let fmt = Format::parse(a.format.as_deref(), DEFAULT).map_err(|e| Fail::new(e, 1))?;
    let names: Vec<String> = if a.names.is_empty() {
        let list = ctx
            .client
            .list_containers(&ListContainersOptions {
                all: a.all,
                ..Default::default()
            })
            .await?;
        list.into_iter().map(|c| c.id).collect()
    } else {
        a.names.clone()
    };
    let trunc = !a.no_trunc;
    if a.no_stream {
        let mut rows = Vec::new();
        let mut failed = false;
        for n in &names {
            let r = async {
                let mut s = ctx.client.stats(n, false).await?;
                s.next_json::<Value>().await
            }
            .await;
            match r {
                Ok(Some(v)) => rows.push(stats_row(&v, n, trunc)),
                Ok(None) => {}
                Err(e) if e.is_connect() => return Err(e.into()),
                Err(e) => {
                    eprintln!("{}", super::super::client_error_text(&e));
                    failed = true;
                }
            }
        }
        print!(
            "{}",
            fmt.render(&rows, &header()).map_err(|e| Fail::new(e, 1))?
        );
        return Ok(if failed { 1 } else { 0 });
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Option<Value>)>();
    for n in &names {
        let client = ctx.client.clone();
        let tx = tx.clone();
        let n = n.clone();
        tokio::spawn(async move {
            if let Ok(mut s) = client.stats(&n, true).await {
                while let Ok(Some(v)) = s.next_json::<Value>().await {
                    if tx.send((n.clone(), Some(v))).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send((n, None));
        });
    }
    drop(tx);
    let mut latest: BTreeMap<String, Value> = BTreeMap::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some((n, Some(v))) => { latest.insert(n.clone(), stats_row(&v, &n, trunc)); }
                Some((n, None)) => { latest.remove(&n); }
                None => return Ok(0),
            },
            _ = tick.tick() => {
                let rows: Vec<Value> = names.iter().filter_map(|n| latest.get(n).cloned()).collect();
                let out = fmt.render(&rows, &header()).map_err(|e| Fail::new(e, 1))?;
                // clear the screen and move home, as docker's live view does
                print!("\x1b[2J\x1b[H{out}");
                use std::io::Write;
                let _ = std::io::stdout().flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_like_docker() {
        let s = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 200}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 2097152, "limit": 8388608, "stats": {"inactive_file": 1048576}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 4096}, {"op": "write", "value": 0}]},
            "pids_stats": {"current": 3}
        });
        let r = stats_row(&s, "web", true);
        assert_eq!(r["CPUPerc"], "20.00%");
        assert_eq!(r["MemUsage"], "1MiB / 8MiB");
        assert_eq!(r["MemPerc"], "12.50%");
        assert_eq!(r["NetIO"], "1.5kB / 0B");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["ID"], "0123456789ab");
    }
}
