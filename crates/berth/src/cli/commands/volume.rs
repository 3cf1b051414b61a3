//! `berth volume create|ls|inspect|rm|prune`, as docker's `cli/command/volume` commands
//! (same flags, requests, output and exit codes), plus berth's own `volume export` /
//! `volume import`, built from Engine API calls only: a never-started helper container
//! with the volume at /v, and the container archive endpoints.

use super::super::format::{print_rows, template, template::Template};
use super::super::{client_error_text, format::human, CliResult, Ctx, Fail};
use super::lifecycle::confirm;
use super::port::natural_cmp;
use super::{arity, parse, Arity};
use berth_api::volume::{Volume, VolumeCreateRequest};
use berth_client::body_from_reader;
use clap::Parser;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;

pub const VOLUME_HELP: &str = "
Usage:  berth volume COMMAND

Manage volumes

Commands:
  create      Create a volume
  export      Write a volume's content to a tar archive (STDOUT by default)
  import      Fill a volume from a tar archive (STDIN by default)
  inspect     Display detailed information on one or more volumes
  ls          List volumes
  prune       Remove unused local volumes
  rm          Remove one or more volumes

Run 'berth volume COMMAND --help' for more information on a command.
";

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
    bin_name = "berth volume create",
    override_usage = "berth volume create [OPTIONS] [VOLUME]",
    about = "Create a volume"
)]
struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long)]
    opt: Vec<String>,
    /// Specify volume name
    #[arg(long, hide = true)]
    name: Option<String>,
    names: Vec<String>,
}

pub async fn create(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: CreateArgs = parse(args)?;
    if a.names.len() > 1 {
        return Err(Fail::new(
            "\"berth volume create\" requires at most 1 argument.\nSee 'berth volume create --help'.\n\nUsage:  berth volume create [OPTIONS] [VOLUME]\n\nCreate a volume",
            1,
        ));
    }
    let name = match (&a.name, a.names.first()) {
        (Some(_), Some(_)) => {
            return Err(Fail::new(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
                1,
            ))
        }
        (Some(n), None) | (None, Some(n)) => n.clone(),
        (None, None) => String::new(),
    };
    let req = VolumeCreateRequest {
        name,
        driver: a.driver.clone(),
        driver_opts: Some(kv_map(&a.opt)),
        labels: Some(kv_map(&a.label)),
    };
    let v = ctx.client.create_volume(&req).await?;
    println!("{}", v.name);
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "ls",
    bin_name = "berth volume ls",
    override_usage = "berth volume ls [OPTIONS]",
    about = "List volumes"
)]
struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    quiet: bool,
    rest: Vec<String>,
}

const LS_DEFAULT: &str = "table {{.Driver}}\t{{.Name}}";

fn ls_header() -> Value {
    json!({"Name":"VOLUME NAME","Driver":"DRIVER","Scope":"SCOPE","Mountpoint":"MOUNTPOINT",
        "Labels":"LABELS","Label":"LABEL","Links":"LINKS","Size":"SIZE","CreatedAt":"CREATED AT",
        "Group":"GROUP","Availability":"AVAILABILITY","Status":"STATUS"})
}

/// The template context of one volume (docker's `volumeContext`).
fn volume_row(v: &Volume) -> Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
    let mut m = Map::new();
    m.insert("Name".into(), json!(v.name));
    m.insert("Driver".into(), json!(v.driver));
    m.insert("Scope".into(), json!(v.scope));
    m.insert("Mountpoint".into(), json!(v.mountpoint));
    m.insert("Labels".into(), json!(labels.join(",")));
    m.insert("CreatedAt".into(), json!(v.created_at));
    m.insert("Links".into(), json!("N/A"));
    m.insert("Size".into(), json!("N/A"));
    m.insert("Group".into(), json!("N/A"));
    m.insert("Availability".into(), json!("N/A"));
    m.insert("Status".into(), json!("N/A"));
    let table: Map<String, Value> = v
        .labels
        .iter()
        .map(|(k, x)| (k.clone(), json!(x)))
        .collect();
    template::add_method(&mut m, "Label", table);
    Value::Object(m)
}

pub async fn ls(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: LsArgs = parse(args)?;
    arity::<LsArgs>(&a.rest, Arity::None)?;
    let filters = super::filters(&a.filter)?;
    let mut list = ctx
        .client
        .list_volumes(&filters)
        .await?
        .volumes
        .unwrap_or_default();
    list.sort_by(|x, y| natural_cmp(&x.name, &y.name));
    let rows: Vec<Value> = list.iter().map(volume_row).collect();
    let fmt = match a.format.as_deref() {
        None | Some("") | Some("table") if a.quiet => Some("{{.Name}}".to_string()),
        f => f.map(str::to_string),
    };
    print_rows(fmt.as_deref(), LS_DEFAULT, &rows, &ls_header())?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "inspect",
    bin_name = "berth volume inspect",
    override_usage = "berth volume inspect [OPTIONS] VOLUME [VOLUME...]",
    about = "Display detailed information on one or more volumes"
)]
struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    format: Option<String>,
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
        match ctx.client.inspect_volume_raw(n).await {
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
    bin_name = "berth volume rm",
    override_usage = "berth volume rm [OPTIONS] VOLUME [VOLUME...]",
    about = "Remove one or more volumes"
)]
struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    force: bool,
    names: Vec<String>,
}

pub async fn rm(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: RmArgs = parse(args)?;
    arity::<RmArgs>(&a.names, Arity::Min(1))?;
    let mut errors = Vec::new();
    for name in &a.names {
        match ctx.client.remove_volume(name, a.force).await {
            Ok(()) => println!("{name}"),
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => errors.push(client_error_text(&e)),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Fail::new(errors.join("\n"), 1))
    }
}

#[derive(Parser)]
#[command(
    name = "prune",
    bin_name = "berth volume prune",
    override_usage = "berth volume prune [OPTIONS]",
    about = "Remove unused local volumes"
)]
struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
    rest: Vec<String>,
}

pub async fn prune(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: PruneArgs = parse(args)?;
    arity::<PruneArgs>(&a.rest, Arity::None)?;
    let mut f = super::filters(&a.filter)?;
    if a.all {
        if f.contains("all") {
            return Err(Fail::new(
                "conflicting options: cannot specify both --all and --filter all=1",
                1,
            ));
        }
        f.add_cli("all=true").map_err(|e| Fail::new(e, 1))?;
    }
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let r = ctx.client.prune_volumes(&f).await?;
    let deleted = r.volumes_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for d in &deleted {
            println!("{d}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human::size(r.space_reclaimed as f64)
    );
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "export",
    bin_name = "berth volume export",
    override_usage = "berth volume export [OPTIONS] VOLUME",
    about = "Write a volume's content to a tar archive (STDOUT by default)"
)]
struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    output: Option<String>,
    names: Vec<String>,
}

#[derive(Parser)]
#[command(
    name = "import",
    bin_name = "berth volume import",
    override_usage = "berth volume import [OPTIONS] VOLUME",
    about = "Fill a volume from a tar archive (STDIN by default); the volume is created when missing"
)]
struct ImportArgs {
    /// Read from a tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    input: Option<String>,
    names: Vec<String>,
}

/// Where the helper container sees the volume.
const HELPER_PATH: &str = "/v";

/// Creates a never-started container of any local image with `volume` at /v (no copy of
/// the image's content); returns its ID.
async fn helper_container(ctx: &Ctx, volume: &str) -> Result<String, Fail> {
    let images = ctx
        .client
        .list_images(&berth_client::ListImagesOptions::default())
        .await?;
    let Some(image) = images.first() else {
        return Err(Fail::new(
            "berth volume: no image available locally; the volume is read through a helper container made from any local image (e.g. `berth image bootstrap busybox`)",
            1,
        ));
    };
    let body: berth_api::container::CreateRequest = serde_json::from_value(json!({
        "Image": image.id,
        "Cmd": ["true"],
        "Entrypoint": [""],
        "Labels": {"org.berth.volume-helper": volume},
        "HostConfig": {
            "NetworkMode": "none",
            "Mounts": [{"Type": "volume", "Source": volume, "Target": HELPER_PATH,
                        "VolumeOptions": {"NoCopy": true}}]
        }
    }))
    .map_err(|e| Fail::new(e.to_string(), 1))?;
    Ok(ctx.client.create_container(None, None, &body).await?.id)
}

fn archive_unsupported(e: &berth_client::Error) -> bool {
    e.is_not_found() && client_error_text(e).contains("page not found")
}

pub async fn export(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: ExportArgs = parse(args)?;
    arity::<ExportArgs>(&a.names, Arity::Exact(1))?;
    let name = &a.names[0];
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Fail::new(
            "cowardly refusing to write a volume archive to a terminal. Use the -o flag or redirect",
            1,
        ));
    }
    ctx.client.inspect_volume(name).await?;
    let id = helper_container(ctx, name).await?;
    let r = async {
        let mut s = ctx
            .client
            .volume_export_archive(&id, &format!("{HELPER_PATH}/."))
            .await
            .map_err(|e| {
                if archive_unsupported(&e) {
                    Fail::new("berth volume export: the daemon has no container archive endpoint (GET /containers/{id}/archive)", 1)
                } else {
                    Fail::from(e)
                }
            })?;
        match &a.output {
            Some(p) => {
                let mut f = std::fs::File::create(p)
                    .map_err(|e| Fail::new(format!("open {p}: {e}"), 1))?;
                s.copy_to(&mut f).await.map_err(|e| Fail::new(e.to_string(), 1))?;
            }
            None => {
                let mut out = std::io::stdout().lock();
                s.copy_to(&mut out).await.map_err(|e| Fail::new(e.to_string(), 1))?;
            }
        }
        Ok::<(), Fail>(())
    }
    .await;
    let _ = ctx.client.remove_container(&id, true, false, false).await;
    r.map(|()| 0)
}

pub async fn import(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: ImportArgs = parse(args)?;
    arity::<ImportArgs>(&a.names, Arity::Exact(1))?;
    let name = &a.names[0];
    let body = match &a.input {
        Some(p) => body_from_reader(
            tokio::fs::File::open(p)
                .await
                .map_err(|e| Fail::new(format!("open {p}: {e}"), 1))?,
        ),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Fail::new(
                    "requested import from stdin, but stdin is a terminal",
                    1,
                ));
            }
            body_from_reader(tokio::io::stdin())
        }
    };
    if let Err(e) = ctx.client.inspect_volume(name).await {
        if !e.is_not_found() {
            return Err(e.into());
        }
        ctx.client
            .create_volume(&VolumeCreateRequest {
                name: name.clone(),
                driver: "local".into(),
                ..Default::default()
            })
            .await?;
    }
    let id = helper_container(ctx, name).await?;
    let r = ctx
        .client
        .volume_import_archive(&id, HELPER_PATH, body)
        .await
        .map_err(|e| {
            if archive_unsupported(&e) {
                Fail::new("berth volume import: the daemon has no container archive endpoint (PUT /containers/{id}/archive)", 1)
            } else {
                Fail::from(e)
            }
        });
    let _ = ctx.client.remove_container(&id, true, false, false).await;
    r.map(|()| 0)
}
