//! `berth network create|ls|inspect|rm|prune|connect|disconnect`, as docker's
//! `cli/command/network` commands: same flags, request bodies, output and exit codes.

use super::super::format::{print_rows, template, template::Template};
use super::super::{client_error_text, CliResult, Ctx, Fail};
use super::lifecycle::confirm;
use super::port::natural_cmp;
use super::{arity, parse, Arity};
use berth_client::networks::{
    ConfigReference, EndpointConfig, EndpointIpamConfig, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkSummary,
};
use clap::Parser;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

pub const NETWORK_HELP: &str = "
Usage:  berth network COMMAND

Manage networks

Commands:
  connect     Connect a container to a network
  create      Create a network
  disconnect  Disconnect a container from a network
  inspect     Display detailed information on one or more networks
  ls          List networks
  prune       Remove all unused networks
  rm          Remove one or more networks

Run 'berth network COMMAND --help' for more information on a command.
";

/// pflag's `--label` check (`opts.ValidateLabel`).
fn label_value(s: &str) -> Result<String, String> {
    let k = s.split('=').next().unwrap_or("").trim();
    if k.is_empty() {
        return Err(format!("invalid label '{s}': empty name"));
    }
    Ok(s.to_string())
}

/// pflag's `IPVar`/`IPSliceVar` check.
fn ip_value(s: &str) -> Result<String, String> {
    s.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("invalid string being converted to IP address: {s}"))
}

/// `opts.ValidateLink`: `name` or `name:alias`.
fn link_value(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("empty string specified for links".into());
    }
    if s.split(':').count() > 2 {
        return Err(format!("bad format for links: {s}"));
    }
    Ok(s.to_string())
}

/// `key=value` list → map (`opts.MapOpts`, `ConvertKVStringsToMap`): a bare key maps to "".
fn kv_map(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

#[derive(Parser)]
#[command(
    name = "create",
    bin_name = "berth network create",
    override_usage = "berth network create [OPTIONS] NETWORK",
    about = "Create a network"
)]
struct CreateArgs {
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address")]
    aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from")]
    config_from: Option<String>,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    config_only: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_delimiter = ',')]
    gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long)]
    ingress: bool,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_delimiter = ',')]
    ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    ipam_opt: Vec<String>,
    /// Enable or disable IPv4 address assignment
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    ipv4: Option<bool>,
    /// Enable or disable IPv6 address assignment
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long, value_parser = label_value)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long)]
    opt: Vec<String>,
    /// Control the network's scope
    #[arg(long)]
    scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_delimiter = ',')]
    subnet: Vec<String>,
    names: Vec<String>,
}

/// A parsed CIDR: Go's `net.ParseCIDR` (the masked network and the prefix length).
fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let bad = || format!("invalid CIDR address: {s}");
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if len > max
        || !s
            .split_once('/')
            .is_some_and(|(_, l)| l.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(bad());
    }
    Ok((mask(ip, len), len))
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// docker's `subnetMatches`: does `subnet` contain the address (or the CIDR's address) `data`?
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let (net, len) = parse_cidr(subnet).map_err(|e| format!("invalid subnet: {e}"))?;
    let ip = if data.contains('/') {
        let (ip, _) = data.split_once('/').unwrap_or((data, ""));
        parse_cidr(data)?;
        ip.parse::<IpAddr>().ok()
    } else {
        data.parse::<IpAddr>().ok()
    };
    Ok(match ip {
        Some(ip) if ip.is_ipv4() == net.is_ipv4() => mask(ip, len) == net,
        _ => false,
    })
}

/// docker's `createIPAMConfig`: groups subnets with their ranges, gateways and
/// auxiliary addresses (keeping the order subnets were given in).
fn ipam_config(
    driver: &str,
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &[String],
    opts: &[String],
) -> Result<Ipam, String> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    let mut data: Vec<IpamConfig> = Vec::new();
    for s in subnets {
        for k in &data {
            if subnet_matches(s, &k.subnet)? || subnet_matches(&k.subnet, s)? {
                return Err("multiple overlapping subnet configuration is not supported".into());
            }
        }
        data.push(IpamConfig {
            subnet: s.clone(),
            ..Default::default()
        });
    }
    for r in ranges {
        let mut matched = false;
        for d in data.iter_mut() {
            parse_cidr(r)?;
            if !subnet_matches(&d.subnet, r)? {
                continue;
            }
            if !d.ip_range.is_empty() {
                return Err(format!(
                    "cannot configure multiple ranges ({r}, {}) on the same subnet ({})",
                    d.ip_range, d.subnet
                ));
            }
            d.ip_range = r.clone();
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in gateways {
        let mut matched = false;
        for d in data.iter_mut() {
            if !subnet_matches(&d.subnet, g)? {
                continue;
            }
            if !d.gateway.is_empty() {
                return Err(format!(
                    "cannot configure multiple gateways ({g}, {}) for the same subnet ({})",
                    d.gateway, d.subnet
                ));
            }
            d.gateway = g.clone();
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    for (name, addr) in kv_map(aux) {
        if addr.is_empty() {
            continue;
        }
        let mut matched = false;
        for d in data.iter_mut() {
            if !subnet_matches(&d.subnet, &addr)? {
                continue;
            }
            d.aux_addresses.insert(name.clone(), addr.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {addr}"));
        }
    }
    Ok(Ipam {
        driver: driver.to_string(),
        config: data,
        options: kv_map(opts),
    })
}

fn create_request(a: &CreateArgs) -> Result<NetworkCreateRequest, String> {
    let ipam = ipam_config(
        &a.ipam_driver,
        &a.subnet,
        &a.ip_range,
        &a.gateway,
        &a.aux_address,
        &a.ipam_opt,
    )?;
    Ok(NetworkCreateRequest {
        name: a.names[0].clone(),
        driver: a.driver.clone(),
        scope: a.scope.clone().unwrap_or_default(),
        enable_ipv4: a.ipv4,
        enable_ipv6: a.ipv6,
        ipam: Some(ipam),
        internal: a.internal,
        attachable: a.attachable,
        ingress: a.ingress,
        config_only: a.config_only,
        config_from: a
            .config_from
            .clone()
            .filter(|s| !s.is_empty())
            .map(|network| ConfigReference { network }),
        options: kv_map(&a.opt),
        labels: kv_map(&a.label),
    })
}

pub async fn create(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: CreateArgs = parse(args)?;
    arity::<CreateArgs>(&a.names, Arity::Exact(1))?;
    let req = create_request(&a).map_err(|e| Fail::new(e, 1))?;
    let r = ctx.client.create_network(&req).await?;
    println!("{}", r.id);
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "ls",
    bin_name = "berth network ls",
    override_usage = "berth network ls [OPTIONS]",
    about = "List networks"
)]
struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    rest: Vec<String>,
}

const LS_DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

fn ls_header() -> Value {
    json!({"ID":"NETWORK ID","Name":"NAME","Driver":"DRIVER","Scope":"SCOPE","IPv4":"IPV4","IPv6":"IPV6",
        "Internal":"INTERNAL","Labels":"LABELS","Label":"LABEL","CreatedAt":"CREATED AT"})
}

/// Go's `time.Time.String()` of an RFC 3339 time as the daemon sends it.
pub fn go_time_string(rfc3339: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    };
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let ns = t.timestamp_subsec_nanos();
    if ns > 0 {
        let frac = format!("{ns:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.format("%z").to_string();
    let zone = if t.offset().local_minus_utc() == 0 {
        "UTC".to_string()
    } else {
        off.clone()
    };
    format!("{s} {off} {zone}")
}

/// The template context of one network (docker's `networkContext`).
pub fn network_row(n: &NetworkSummary, trunc: bool) -> Value {
    let id = if trunc {
        n.id.chars().take(12).collect()
    } else {
        n.id.clone()
    };
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut m = Map::new();
    m.insert("CreatedAt".into(), json!(go_time_string(&n.created)));
    m.insert("Driver".into(), json!(n.driver));
    m.insert("ID".into(), json!(id));
    m.insert("IPv4".into(), json!(n.enable_ipv4.to_string()));
    m.insert("IPv6".into(), json!(n.enable_ipv6.to_string()));
    m.insert("Internal".into(), json!(n.internal.to_string()));
    m.insert("Labels".into(), json!(labels.join(",")));
    m.insert("Name".into(), json!(n.name));
    m.insert("Scope".into(), json!(n.scope));
    let table: Map<String, Value> = n
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    template::add_method(&mut m, "Label", table);
    Value::Object(m)
}

/// The `--format` used: docker's quiet format replaces only the default table.
fn ls_format(format: Option<&str>, quiet: bool) -> Option<String> {
    match format {
        None | Some("") | Some("table") if quiet => Some("{{.ID}}".to_string()),
        f => f.map(str::to_string),
    }
}

pub async fn ls(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: LsArgs = parse(args)?;
    arity::<LsArgs>(&a.rest, Arity::None)?;
    let filters = super::filters(&a.filter)?;
    let mut list = ctx.client.list_networks(&filters).await?;
    list.sort_by(|x, y| natural_cmp(&x.name, &y.name));
    let rows: Vec<Value> = list.iter().map(|n| network_row(n, !a.no_trunc)).collect();
    let fmt = ls_format(a.format.as_deref(), a.quiet);
    print_rows(fmt.as_deref(), LS_DEFAULT, &rows, &ls_header())?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "inspect",
    bin_name = "berth network inspect",
    override_usage = "berth network inspect [OPTIONS] NETWORK [NETWORK...]",
    about = "Display detailed information on one or more networks"
)]
struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    verbose: bool,
    names: Vec<String>,
}

pub async fn inspect(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: InspectArgs = parse(args)?;
    arity::<InspectArgs>(&a.names, Arity::Min(1))?;
    let tmpl = match &a.format {
        Some(f) if !f.is_empty() && f != "json" => {
            Some(Template::parse(f).map_err(|e| Fail::new(e, 64))?)
        }
        _ => None,
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match ctx.client.inspect_network_raw(n, a.verbose).await {
            Ok(b) => raws.push(b),
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => errors.push(client_error_text(&e)),
        }
    }
    super::inspect::print_inspected(&raws, tmpl.as_ref())?;
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Fail::new(errors.join("\n"), 1))
    }
}

#[derive(Parser)]
#[command(
    name = "rm",
    bin_name = "berth network rm",
    override_usage = "berth network rm NETWORK [NETWORK...]",
    about = "Remove one or more networks"
)]
struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    force: bool,
    names: Vec<String>,
}

const INGRESS_WARNING: &str = "WARNING! Before removing the routing-mesh network, make sure all the nodes in your swarm run the same docker engine version. Otherwise, removal may not be effective and functionality of newly create ingress networks will be impaired.";

pub async fn rm(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: RmArgs = parse(args)?;
    arity::<RmArgs>(&a.names, Arity::Min(1))?;
    let mut status = 0;
    for name in &a.names {
        if let Ok(n) = ctx.client.inspect_network(name).await {
            if n.ingress && !confirm(INGRESS_WARNING) {
                continue;
            }
        }
        match ctx.client.remove_network(name).await {
            Ok(()) => println!("{name}"),
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) if a.force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{}", client_error_text(&e));
                status = 1;
            }
        }
    }
    Ok(status)
}

#[derive(Parser)]
#[command(
    name = "prune",
    bin_name = "berth network prune",
    override_usage = "berth network prune [OPTIONS]",
    about = "Remove all unused networks"
)]
struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
    rest: Vec<String>,
}

/// docker's prune report: `Deleted Networks:` and the names, then a blank line.
pub fn prune_text(deleted: &[String]) -> String {
    if deleted.is_empty() {
        return String::new();
    }
    let mut s = String::from("Deleted Networks:\n");
    for d in deleted {
        s.push_str(d);
        s.push('\n');
    }
    s.push('\n');
    s
}

pub async fn prune(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: PruneArgs = parse(args)?;
    arity::<PruneArgs>(&a.rest, Arity::None)?;
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(0);
    }
    let f = super::filters(&a.filter)?;
    let r = ctx.client.prune_networks(&f).await?;
    print!("{}", prune_text(&r.networks_deleted));
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "connect",
    bin_name = "berth network connect",
    override_usage = "berth network connect [OPTIONS] NETWORK CONTAINER",
    about = "Connect a container to a network"
)]
struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_delimiter = ',')]
    alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_delimiter = ',')]
    driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway. Accepts positive and negative values.
    #[arg(long = "gw-priority", default_value_t = 0, allow_hyphen_values = true)]
    gw_priority: i64,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_parser = ip_value)]
    ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long, value_parser = ip_value)]
    ip6: Option<String>,
    /// Add link to another container
    #[arg(long, value_parser = link_value)]
    link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_delimiter = ',', value_parser = ip_value)]
    link_local_ip: Vec<String>,
    args: Vec<String>,
}

fn connect_request(a: &ConnectArgs) -> Result<NetworkConnectRequest, String> {
    let mut driver_opts = BTreeMap::new();
    for o in &a.driver_opt {
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        let k = k.trim();
        if !o.contains('=') || k.is_empty() {
            return Err("invalid key/value pair format in driver options".into());
        }
        driver_opts.insert(k.to_string(), v.trim().to_string());
    }
    Ok(NetworkConnectRequest {
        container: a.args[1].clone(),
        endpoint_config: EndpointConfig {
            ipam_config: EndpointIpamConfig {
                ipv4_address: a.ip.clone().unwrap_or_default(),
                ipv6_address: a.ip6.clone().unwrap_or_default(),
                link_local_ips: a.link_local_ip.clone(),
            },
            links: a.link.clone(),
            aliases: a.alias.clone(),
            driver_opts,
            gw_priority: a.gw_priority,
        },
    })
}

pub async fn connect(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: ConnectArgs = parse(args)?;
    arity::<ConnectArgs>(&a.args, Arity::Exact(2))?;
    let req = connect_request(&a).map_err(|e| Fail::new(e, 1))?;
    ctx.client.connect_network(&a.args[0], &req).await?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "disconnect",
    bin_name = "berth network disconnect",
    override_usage = "berth network disconnect [OPTIONS] NETWORK CONTAINER",
    about = "Disconnect a container from a network"
)]
struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    force: bool,
    args: Vec<String>,
}

pub async fn disconnect(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: DisconnectArgs = parse(args)?;
    arity::<DisconnectArgs>(&a.args, Arity::Exact(2))?;
    ctx.client
        .disconnect_network(&a.args[0], &a.args[1], a.force)
        .await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::super::super::format::Format;
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        std::iter::once("x")
            .chain(s.split_whitespace())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn create_body() {
        let a = CreateArgs::try_parse_from(argv(
            "--subnet 10.5.0.0/16 --gateway 10.5.0.1 --ip-range 10.5.1.0/24 --internal --label a=b --label c -o com.docker.network.bridge.name=br5 --ipv6 n1",
        ))
        .unwrap();
        let r = create_request(&a).unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"Name":"n1","Driver":"bridge","EnableIPv6":true,
                "IPAM":{"Driver":"default","Config":[{"Subnet":"10.5.0.0/16","IPRange":"10.5.1.0/24","Gateway":"10.5.0.1"}],"Options":{}},
                "Internal":true,"Attachable":false,"Ingress":false,"ConfigOnly":false,
                "Options":{"com.docker.network.bridge.name":"br5"},"Labels":{"a":"b","c":""}})
        );
        let a =
            CreateArgs::try_parse_from(argv("-d macvlan --attachable --ipv6=false n2")).unwrap();
        let v = serde_json::to_value(create_request(&a).unwrap()).unwrap();
        assert_eq!(v["Driver"], "macvlan");
        assert_eq!(v["EnableIPv6"], false);
        assert!(v.get("EnableIPv4").is_none());
        assert_eq!(
            v["IPAM"],
            json!({"Driver":"default","Config":[],"Options":{}})
        );
        assert!(CreateArgs::try_parse_from(argv("--label =x n")).is_err());
    }

    #[test]
    fn ipam_errors() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ipam_config("default", &[], &[], &s(&["10.0.0.1"]), &[], &[]).unwrap_err(),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            ipam_config(
                "default",
                &s(&["10.0.0.0/8", "10.1.0.0/16"]),
                &[],
                &[],
                &[],
                &[]
            )
            .unwrap_err(),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            ipam_config(
                "default",
                &s(&["10.0.0.0/24"]),
                &[],
                &s(&["10.0.1.1"]),
                &[],
                &[]
            )
            .unwrap_err(),
            "no matching subnet for gateway 10.0.1.1"
        );
        assert_eq!(
            ipam_config("default", &s(&["10.0.0.0/8", "bogus"]), &[], &[], &[], &[]).unwrap_err(),
            "invalid subnet: invalid CIDR address: bogus"
        );
        let ok = ipam_config(
            "default",
            &s(&["10.0.0.0/24", "fd00::/64"]),
            &[],
            &s(&["fd00::1"]),
            &s(&["host=10.0.0.5"]),
            &[],
        )
        .unwrap();
        assert_eq!(ok.config[1].gateway, "fd00::1");
        assert_eq!(ok.config[0].aux_addresses["host"], "10.0.0.5");
    }

    #[test]
    fn connect_body() {
        let a = ConnectArgs::try_parse_from(argv(
            "--alias db,cache --alias x --ip 172.20.0.9 --link web:w net1 c1",
        ))
        .unwrap();
        let r = connect_request(&a).unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"Container":"c1","EndpointConfig":{"IPAMConfig":{"IPv4Address":"172.20.0.9"},
                "Links":["web:w"],"Aliases":["db","cache","x"],"DriverOpts":{},"GwPriority":0}})
        );
        assert!(ConnectArgs::try_parse_from(argv("--ip nope n c")).is_err());
        let a = ConnectArgs::try_parse_from(argv("--driver-opt novalue n c")).unwrap();
        assert_eq!(
            connect_request(&a).unwrap_err(),
            "invalid key/value pair format in driver options"
        );
    }

    fn net(v: Value) -> NetworkSummary {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ls_table_and_formats() {
        let nets = [
            net(
                json!({"Name":"bridge","Id":"7f3a9c2b1d4e5f60718293a4b5c6d7e8f9","Created":"2024-05-06T07:08:09.123400Z","Scope":"local","Driver":"bridge","Labels":{}}),
            ),
            net(
                json!({"Name":"mynet","Id":"0123456789abcdef","Created":"2024-05-06T07:08:09Z","Scope":"local","Driver":"bridge","EnableIPv6":true,"Internal":true,"Labels":{"z":"1","a":"2"}}),
            ),
        ];
        let rows: Vec<Value> = nets.iter().map(|n| network_row(n, true)).collect();
        let f = Format::parse(None, LS_DEFAULT).unwrap();
        assert_eq!(
            f.render(&rows, &ls_header()).unwrap(),
            "NETWORK ID     NAME      DRIVER    SCOPE\n7f3a9c2b1d4e   bridge    bridge    local\n0123456789ab   mynet     bridge    local\n"
        );
        let f = Format::parse(
            Some(r#"{{.Name}} {{.IPv6}} {{.Internal}} {{.Labels}} {{.Label "a"}} {{.CreatedAt}}"#),
            LS_DEFAULT,
        )
        .unwrap();
        assert_eq!(
            f.render(&rows, &ls_header()).unwrap(),
            "bridge false false   2024-05-06 07:08:09.1234 +0000 UTC\nmynet true true a=2,z=1 2 2024-05-06 07:08:09 +0000 UTC\n"
        );
        let f = Format::parse(Some("json"), LS_DEFAULT).unwrap();
        let line = f.render(&rows[..1], &ls_header()).unwrap();
        assert!(line.starts_with("{\"CreatedAt\":\"2024-05-06 07:08:09.1234 +0000 UTC\",\"Driver\":\"bridge\",\"ID\":\"7f3a9c2b1d4e\""), "{line}");
        assert_eq!(
            network_row(&nets[0], false)["ID"],
            "7f3a9c2b1d4e5f60718293a4b5c6d7e8f9"
        );
        assert_eq!(ls_format(None, true).as_deref(), Some("{{.ID}}"));
        assert_eq!(ls_format(Some("table"), true).as_deref(), Some("{{.ID}}"));
        assert_eq!(
            ls_format(Some("{{.Name}}"), true).as_deref(),
            Some("{{.Name}}")
        );
        assert_eq!(ls_format(None, false), None);
    }

    #[test]
    fn times_and_prune() {
        assert_eq!(
            go_time_string("2024-05-06T09:08:09.5+02:00"),
            "2024-05-06 09:08:09.5 +0200 +0200"
        );
        assert_eq!(prune_text(&[]), "");
        assert_eq!(
            prune_text(&["a".into(), "b".into()]),
            "Deleted Networks:\na\nb\n\n"
        );
    }
}
