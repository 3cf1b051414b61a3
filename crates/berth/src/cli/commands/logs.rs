//! `berth logs`: inspect for the TTY flag, then stream and demultiplex the log.

use super::super::{CliResult, Ctx, Fail};
use super::container_opts::go_duration;
use super::{arity, now_unix, parse, Arity};
use berth_client::LogsOptions;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "logs",
    bin_name = "berth logs",
    override_usage = "berth logs [OPTIONS] CONTAINER",
    about = "Fetch the logs of a container"
)]
struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    until: Option<String>,
    names: Vec<String>,
}

/// docker's `timetypes.GetTimestamp`: a relative duration ("10m") becomes now minus it,
/// RFC 3339 times become unix seconds, plain numbers pass through.
pub fn timestamp_arg(v: &str, now: i64) -> Result<String, String> {
    if v.chars().all(|c| c.is_ascii_digit() || c == '.') && !v.is_empty() {
        return Ok(v.to_string());
    }
    if let Ok(ns) = go_duration(v) {
        return Ok((now - ns / 1_000_000_000).to_string());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(0)
            .to_string());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc().timestamp().to_string());
    }
    Err(format!("invalid value for \"since\"/\"until\": \"{v}\""))
}

pub async fn logs(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: LogsArgs = parse(args)?;
    arity::<LogsArgs>(&a.names, Arity::Exact(1))?;
    let name = &a.names[0];
    let c = ctx.client.inspect_container(name).await?;
    let now = now_unix();
    let conv = |v: &Option<String>| {
        v.as_deref()
            .map(|s| timestamp_arg(s, now))
            .transpose()
            .map_err(|e| Fail::new(e, 1))
    };
    let opts = LogsOptions {
        follow: a.follow,
        stdout: true,
        stderr: true,
        since: conv(&a.since)?,
        until: conv(&a.until)?,
        timestamps: a.timestamps,
        tail: Some(a.tail.clone()),
    };
    let mut s = ctx.client.logs(name, &opts).await?;
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    s.demux_to(c.config.tty, &mut out, &mut err)
        .await
        .map_err(|e| Fail::new(e.to_string(), 1))?;
    let _ = a.details;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_arg("10m", 1000), Ok("400".into()));
        assert_eq!(timestamp_arg("1700000000", 0), Ok("1700000000".into()));
        assert_eq!(
            timestamp_arg("2013-01-02T13:23:37Z", 0),
            Ok("1357133017.000000000".into())
        );
        assert!(timestamp_arg("yesterday", 0).is_err());
    }
}
