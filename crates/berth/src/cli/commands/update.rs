//! `berth update`: sends only the limits given on the command line.

use super::super::{units, CliResult, Ctx, Fail};
use super::container_opts::parse_restart;
use super::{arity, each_name, parse, Arity};
use clap::Parser;
use serde_json::{json, Map, Value};

fn mem(s: &str) -> Result<i64, String> {
    units::ram_in_bytes(s)
}
fn mem_swap(s: &str) -> Result<i64, String> {
    units::mem_swap(s)
}
fn cpus(s: &str) -> Result<i64, String> {
    units::nano_cpus(s)
}

#[derive(Parser)]
#[command(
    name = "update",
    bin_name = "berth update",
    override_usage = "berth update [OPTIONS] CONTAINER [CONTAINER...]",
    about = "Update configuration of one or more containers"
)]
struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_parser = cpus)]
    cpus: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_parser = mem)]
    memory: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_parser = mem)]
    memory_reservation: Option<i64>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_parser = mem_swap, allow_hyphen_values = true)]
    memory_swap: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    containers: Vec<String>,
}

pub async fn update(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: UpdateArgs = parse(args)?;
    arity::<UpdateArgs>(&a.containers, Arity::Min(1))?;
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("BlkioWeight", a.blkio_weight.map(|x| json!(x)));
    put("CpuPeriod", a.cpu_period.map(|x| json!(x)));
    put("CpuQuota", a.cpu_quota.map(|x| json!(x)));
    put("CpuShares", a.cpu_shares.map(|x| json!(x)));
    put("NanoCpus", a.cpus.map(|x| json!(x)));
    put("CpusetCpus", a.cpuset_cpus.clone().map(|x| json!(x)));
    put("CpusetMems", a.cpuset_mems.clone().map(|x| json!(x)));
    put("Memory", a.memory.map(|x| json!(x)));
    put("MemoryReservation", a.memory_reservation.map(|x| json!(x)));
    put("MemorySwap", a.memory_swap.map(|x| json!(x)));
    put("PidsLimit", a.pids_limit.map(|x| json!(x)));
    if let Some(r) = &a.restart {
        let p = parse_restart(r).map_err(|e| Fail::new(e, 125))?;
        put(
            "RestartPolicy",
            Some(json!({"Name": p.name, "MaximumRetryCount": p.maximum_retry_count})),
        );
    }
    if m.is_empty() {
        return Err(Fail::new(
            "you must provide one or more flags when using this command",
            1,
        ));
    }
    let body = Value::Object(m);
    each_name(&a.containers, |n| {
        let body = body.clone();
        async move {
            let r = ctx.client.update_container(n, &body).await?;
            for w in r.warnings {
                eprintln!("WARNING: {w}");
            }
            Ok(())
        }
    })
    .await
}
