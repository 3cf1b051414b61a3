//! `berth events`: the daemon's event stream, printed as docker prints it.

use super::super::format::template::{go_json, Template};
use super::super::{CliResult, Ctx, Fail};
use super::logs::timestamp_arg;
use super::{arity, now_unix, parse, Arity};
use berth_api::event::Event;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "events",
    bin_name = "berth events",
    override_usage = "berth events [OPTIONS]",
    about = "Get real time events from the server"
)]
struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    rest: Vec<String>,
}

/// docker's default event line: `<time> <type> <action> <id> (k=v, ...)`.
pub fn event_line(e: &Event) -> String {
    use chrono::{Local, TimeZone};
    let nanos = if e.time_nano != 0 {
        e.time_nano
    } else {
        e.time * 1_000_000_000
    };
    let t = Local.timestamp_nanos(nanos);
    // Go's "2006-01-02T15:04:05.000000000Z07:00": a zero offset prints as "Z"
    let zone = t.format("%:z").to_string();
    let zone = if zone == "+00:00" {
        "Z".to_string()
    } else {
        zone
    };
    let mut line = format!(
        "{}{zone} {} {} {}",
        t.format("%Y-%m-%dT%H:%M:%S%.9f"),
        e.kind,
        e.action,
        e.actor.id
    );
    if !e.actor.attributes.is_empty() {
        let attrs: Vec<String> = e
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}

pub async fn events(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: EventsArgs = parse(args)?;
    arity::<EventsArgs>(&a.rest, Arity::None)?;
    let now = now_unix();
    let conv = |v: &Option<String>| {
        v.as_deref()
            .map(|s| timestamp_arg(s, now))
            .transpose()
            .map_err(|e| Fail::new(e, 1))
    };
    let filters = super::filters(&a.filter)?;
    let tmpl = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}").map_err(|e| Fail::new(e, 1))?),
        Some(f) => Some(Template::parse(f).map_err(|e| Fail::new(e, 1))?),
    };
    let mut s = ctx
        .client
        .events(conv(&a.since)?, conv(&a.until)?, &filters)
        .await?;
    loop {
        let line = s
            .next_line()
            .await
            .map_err(|e| Fail::new(e.to_string(), 1))?;
        let Some(line) = line else { break };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(&line).map_err(|e| Fail::new(e.to_string(), 1))?;
        match &tmpl {
            Some(t) => println!("{}", t.execute(&v, false).map_err(|e| Fail::new(e, 1))?),
            None => match serde_json::from_value::<Event>(v.clone()) {
                Ok(e) => println!("{}", event_line(&e)),
                Err(_) => println!("{}", go_json(&v)),
            },
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    Ok(0)
}
