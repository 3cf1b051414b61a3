//! `berth ps`: docker's container table, `--format` contexts and filters.

use super::super::format::{human, template, Format};
use super::super::{CliResult, Ctx, Fail};
use super::{arity, now_unix, parse, Arity};
use berth_api::container::ContainerSummary;
use berth_client::ListContainersOptions;
use clap::Parser;
use serde_json::{json, Map, Value};

#[derive(Parser)]
#[command(
    name = "ps",
    bin_name = "berth ps",
    override_usage = "berth ps [OPTIONS]",
    about = "List containers"
)]
struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
    rest: Vec<String>,
}

const DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Docker's header row for the ps fields.
fn header() -> Value {
    json!({"ID":"CONTAINER ID","Image":"IMAGE","Command":"COMMAND","CreatedAt":"CREATED AT","RunningFor":"CREATED",
        "Status":"STATUS","Ports":"PORTS","Names":"NAMES","Labels":"LABELS","Label":"LABEL","Mounts":"MOUNTS",
        "Size":"SIZE","Networks":"NETWORKS","LocalVolumes":"LOCAL VOLUMES","State":"STATE","Platform":"PLATFORM"})
}

/// docker's `DisplayablePorts`: ports sorted (private port, IP, public port, type),
/// runs of consecutive ports folded into ranges (`8000-8002/tcp`,
/// `0.0.0.0:80-81->80-81/tcp` when published on the same numbers), and mappings to
/// a different host port listed last (`0.0.0.0:8080->80/tcp`).
pub fn ports_text(ports: &[berth_api::container::Port]) -> String {
    struct P {
        ip: String,
        private: u16,
        public: u16,
        kind: String,
    }
    let mut ps: Vec<P> = ports
        .iter()
        .map(|p| P {
            ip: p.ip.clone(),
            private: p.private_port,
            public: p.public_port,
            kind: p.kind.clone(),
        })
        .collect();
    ps.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.kind).cmp(&(b.private, &b.ip, b.public, &b.kind))
    });
    let join = |host: &str, port: &str| {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    };
    let form = |key: &str, first: u16, last: u16| {
        let (ip, kind) = match key.split_once('/') {
            Some((ip, kind)) => (ip, kind),
            None => ("", key),
        };
        let mut g = first.to_string();
        if first != last {
            g = format!("{g}-{last}");
        }
        if !ip.is_empty() {
            g = format!("{}->{g}", join(ip, &g));
        }
        format!("{g}/{kind}")
    };
    let mut groups: std::collections::HashMap<String, (u16, u16)> = Default::default();
    let mut keys: Vec<String> = Vec::new();
    let mut result: Vec<String> = Vec::new();
    let mut mappings: Vec<String> = Vec::new();
    for p in &ps {
        let cur = p.private;
        let mut key = p.kind.clone();
        if !p.ip.is_empty() {
            if p.public != cur {
                mappings.push(format!(
                    "{}->{}/{}",
                    join(&p.ip, &p.public.to_string()),
                    p.private,
                    p.kind
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.kind);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (cur, cur));
                keys.push(key);
            }
            Some(g) if g.1.wrapping_add(1) == cur => g.1 = cur,
            Some(g) => {
                result.push(form(&key, g.0, g.1));
                *g = (cur, cur);
            }
        }
    }
    for k in &keys {
        let (first, last) = groups[k];
        result.push(form(k, first, last));
    }
    result.extend(mappings);
    result.join(", ")
}

/// Go's `time.Time.String()`-like local time, as docker's `CreatedAt` prints it.
pub fn go_time(ts: i64) -> String {
    use chrono::{Local, TimeZone};
    match Local.timestamp_opt(ts, 0).single() {
        Some(t) => {
            let off = t.format("%z").to_string();
            let zone = if off == "+0000" {
                "UTC".to_string()
            } else {
                off.clone()
            };
            format!("{} {off} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
        }
        None => ts.to_string(),
    }
}

/// The template context of one row (docker's `ContainerContext`).
pub fn row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let mut names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    if trunc {
        names.retain(|n| !n.contains('/'));
    }
    let image = if trunc && c.image.starts_with("sha256:") {
        human::short_id(&c.image)
    } else {
        c.image.clone()
    };
    let command = if trunc {
        human::ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let n = if m.name.is_empty() {
                m.source.clone()
            } else {
                m.name.clone()
            };
            if trunc {
                human::ellipsis(&n, 15)
            } else {
                n
            }
        })
        .collect();
    let networks: Vec<String> = c
        .network_settings
        .get("Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let size = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(root)) if root > 0 => format!(
            "{} (virtual {})",
            human::size_prec(rw as f64, 3),
            human::size_prec(root as f64, 3)
        ),
        (Some(rw), _) => human::size_prec(rw as f64, 3),
        _ => "0B".to_string(),
    };
    let local_volumes = c.mounts.iter().filter(|m| m.driver == "local").count();
    let mut m = Map::new();
    m.insert("Command".into(), json!(human::go_quote(&command)));
    m.insert("CreatedAt".into(), json!(go_time(c.created)));
    m.insert(
        "ID".into(),
        json!(if trunc {
            human::short_id(&c.id)
        } else {
            c.id.clone()
        }),
    );
    m.insert("Image".into(), json!(image));
    m.insert("Labels".into(), json!(labels.join(",")));
    m.insert("LocalVolumes".into(), json!(local_volumes.to_string()));
    m.insert("Mounts".into(), json!(mounts.join(",")));
    m.insert("Names".into(), json!(names.join(",")));
    m.insert("Networks".into(), json!(networks.join(",")));
    m.insert("Platform".into(), Value::Null);
    m.insert("Ports".into(), json!(ports_text(&c.ports)));
    m.insert("RunningFor".into(), json!(human::since(c.created, now)));
    m.insert("Size".into(), json!(size));
    m.insert("State".into(), json!(c.state));
    m.insert("Status".into(), json!(c.status));
    let table: Map<String, Value> = c
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    template::add_method(&mut m, "Label", table);
    Value::Object(m)
}

pub async fn ps(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: PsArgs = parse(args)?;
    arity::<PsArgs>(&a.rest, Arity::None)?;
    let filters = super::filters(&a.filter)?;
    let fmt_text = if a.quiet {
        Some("{{.ID}}".to_string())
    } else {
        a.format.clone()
    };
    // Like docker: a template that can show the size (`.Size`, or all of `{{json .}}`)
    // asks the daemon to compute it.
    let size = a.size
        || fmt_text
            .as_deref()
            .is_some_and(|f| f.contains(".Size") || f.replace(' ', "").contains("{{json.}}"));
    let limit = if a.latest {
        Some(1)
    } else if a.last > 0 {
        Some(a.last)
    } else {
        None
    };
    let opts = ListContainersOptions {
        all: a.all || limit.is_some(),
        limit,
        size,
        filters,
    };
    let list = ctx.client.list_containers(&opts).await?;
    let default = if a.size {
        format!("{DEFAULT}\t{{{{.Size}}}}")
    } else {
        DEFAULT.to_string()
    };
    let fmt = Format::parse(fmt_text.as_deref(), &default).map_err(|e| Fail::new(e, 1))?;
    let now = now_unix();
    let rows: Vec<Value> = list.iter().map(|c| row(c, !a.no_trunc, now)).collect();
    let out = fmt.render(&rows, &header()).map_err(|e| Fail::new(e, 1))?;
    print!("{out}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_row() {
        let c: ContainerSummary = serde_json::from_value(json!({
            "Id": "0123456789abcdef0123456789abcdef", "Names": ["/web"], "Image": "busybox", "ImageID": "sha256:aa",
            "Command": "sh -c 'echo hello world; sleep 100'", "Created": 1000, "Ports": [{"PrivatePort":80,"PublicPort":8080,"IP":"0.0.0.0","Type":"tcp"},{"PrivatePort":443,"Type":"tcp"}],
            "Labels": {"a":"b"}, "State": "running", "Status": "Up 3 seconds", "HostConfig": {}, "NetworkSettings": {"Networks":{"bridge":{}}}, "Mounts": []
        })).unwrap();
        let r = row(&c, true, 1005);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Command"], "\"sh -c 'echo hello w…\"");
        assert_eq!(r["RunningFor"], "5 seconds ago");
        assert_eq!(r["Ports"], "443/tcp, 0.0.0.0:8080->80/tcp");
        assert_eq!(r["Networks"], "bridge");
        let f = Format::parse(None, DEFAULT).unwrap();
        let out = f.render(std::slice::from_ref(&r), &header()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS                           NAMES");
        assert_eq!(lines[1], "0123456789ab   busybox   \"sh -c 'echo hello w…\"   5 seconds ago   Up 3 seconds   443/tcp, 0.0.0.0:8080->80/tcp   web");
        let f = Format::parse(Some(r#"{{.Names}} {{.Label "a"}}"#), DEFAULT).unwrap();
        assert_eq!(f.render(&[r], &header()).unwrap(), "web b\n");
    }

    #[test]
    fn ports_like_docker() {
        let p = |ip: &str, private: u16, public: u16, t: &str| berth_api::container::Port {
            ip: ip.to_string(),
            private_port: private,
            public_port: if ip.is_empty() { 0 } else { public },
            kind: t.to_string(),
        };
        assert_eq!(ports_text(&[]), "");
        assert_eq!(
            ports_text(&[p("0.0.0.0", 80, 8080, "tcp"), p("::", 80, 8080, "tcp")]),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(
            ports_text(&[
                p("", 8002, 0, "tcp"),
                p("", 8000, 0, "tcp"),
                p("", 8001, 0, "tcp"),
                p("", 9000, 0, "tcp"),
                p("", 53, 0, "udp")
            ]),
            "8000-8002/tcp, 53/udp, 9000/tcp"
        );
        assert_eq!(
            ports_text(&[
                p("0.0.0.0", 80, 80, "tcp"),
                p("0.0.0.0", 81, 81, "tcp"),
                p("", 443, 0, "tcp"),
                p("0.0.0.0", 3000, 9000, "tcp")
            ]),
            "0.0.0.0:80-81->80-81/tcp, 443/tcp, 0.0.0.0:9000->3000/tcp"
        );
        assert_eq!(
            ports_text(&[p("0.0.0.0", 3306, 3306, "tcp"), p("", 33060, 0, "tcp")]),
            "0.0.0.0:3306->3306/tcp, 33060/tcp"
        );
    }
}
