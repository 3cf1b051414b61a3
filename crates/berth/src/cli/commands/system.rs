//! `version`, `info`, `system df`, `system prune`.

use super::super::format::{human, print_rows, table, template::Template};
use super::super::{client_error_text, CliResult, Ctx, Fail};
use super::lifecycle::confirm;
use super::{arity, now_unix, parse, Arity};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "version",
    bin_name = "berth version",
    override_usage = "berth version [OPTIONS]",
    about = "Show the berth version information"
)]
struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    format: Option<String>,
    rest: Vec<String>,
}

fn client_block(ctx: &Ctx) -> Value {
    json!({
        "Platform": {"Name": "berth"},
        "Version": berth_api::version::BERTH_VERSION,
        "ApiVersion": ctx.client.api_version(),
        "APIVersion": ctx.client.api_version(),
        "DefaultAPIVersion": berth_api::API_VERSION,
        "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
        "GoVersion": "n/a (rust)",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

/// Go's GOARCH names, which docker prints.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub async fn version(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: VersionArgs = parse(args)?;
    arity::<VersionArgs>(&a.rest, Arity::None)?;
    let client = client_block(ctx);
    let server = ctx.client.version().await;
    if let Some(f) = &a.format {
        let t =
            Template::parse(f).map_err(|e| Fail::new(format!("Template parsing error: {e}"), 1))?;
        let sv = server
            .as_ref()
            .ok()
            .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        // docker's templates see Go field names (`APIVersion`), the wire has `ApiVersion`.
        let mut sv = sv;
        if let Some(obj) = sv.as_object_mut() {
            if let Some(v) = obj.get("ApiVersion").cloned() {
                obj.insert("APIVersion".into(), v);
            }
        }
        let out = t
            .execute(&json!({"Client": client, "Server": sv}), false)
            .map_err(|e| Fail::new(e, 1))?;
        println!("{out}");
        return match server {
            Ok(_) => Ok(0),
            Err(e) => Err(Fail::new(client_error_text(&e), 1)),
        };
    }
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut text = String::from("Client:\n");
    text.push_str(&format!(
        " Version:\t{}\n API version:\t{}\n Git commit:\t{}\n OS/Arch:\t{}/{}\n Context:\t{}\n",
        s(&client, "Version"),
        s(&client, "ApiVersion"),
        s(&client, "GitCommit"),
        s(&client, "Os"),
        s(&client, "Arch"),
        s(&client, "Context")
    ));
    print!("{}", table::align_with(&text, 0, 1).replace(":\t", ": "));
    match server {
        Ok(v) => {
            let mut t = format!("\nServer: {}\n", v.platform.name);
            for c in &v.components {
                t.push_str(&format!(" {}:\n", c.name));
                t.push_str(&format!("  Version:\t{}\n", c.version));
                if c.name == "Engine" {
                    t.push_str(&format!(
                        "  API version:\t{} (minimum version {})\n",
                        v.api_version, v.min_a_p_i_version
                    ));
                }
                if let Some(d) = c.details.as_object() {
                    for (k, val) in d {
                        if c.name == "Engine"
                            && matches!(k.as_str(), "ApiVersion" | "MinAPIVersion")
                        {
                            continue;
                        }
                        let label = match k.as_str() {
                            "GitCommit" => "Git commit".to_string(),
                            "GoVersion" => "Go version".to_string(),
                            "BuildTime" => "Built".to_string(),
                            "KernelVersion" => "Kernel version".to_string(),
                            other => other.to_string(),
                        };
                        let val = val
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| val.to_string());
                        t.push_str(&format!("  {label}:\t{val}\n"));
                    }
                }
                if c.name == "Engine" {
                    t.push_str(&format!("  OS/Arch:\t{}/{}\n", v.os, v.arch));
                }
            }
            // align values per block the way docker's template+tabwriter does
            let aligned = table::align_with(&t, 0, 1);
            print!("{}", aligned.replace(":\t", ": "));
            Ok(0)
        }
        Err(e) => Err(Fail::new(client_error_text(&e), 1)),
    }
}

#[derive(Parser)]
#[command(
    name = "info",
    bin_name = "berth info",
    override_usage = "berth info [OPTIONS]",
    about = "Display system-wide information"
)]
struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    format: Option<String>,
    rest: Vec<String>,
}

pub async fn info(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: InfoArgs = parse(args)?;
    arity::<InfoArgs>(&a.rest, Arity::None)?;
    let info = ctx.client.info().await;
    if let Some(f) = &a.format {
        let t =
            Template::parse(f).map_err(|e| Fail::new(format!("Template parsing error: {e}"), 1))?;
        let v = info?;
        println!("{}", t.execute(&v, false).map_err(|e| Fail::new(e, 1))?);
        return Ok(0);
    }
    println!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n",
        berth_api::version::BERTH_VERSION
    );
    let v = info?;
    let g = |k: &str| -> String {
        match v.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    };
    let mut o = String::from("Server:\n");
    o.push_str(&format!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n",
        g("Containers"),
        g("ContainersRunning"),
        g("ContainersPaused"),
        g("ContainersStopped")
    ));
    o.push_str(&format!(" Images: {}\n", g("Images")));
    for (label, key) in [
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Logging Driver", "LoggingDriver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
        ("Default Runtime", "DefaultRuntime"),
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
    ] {
        if v.get(key).is_some() {
            o.push_str(&format!(" {label}: {}\n", g(key)));
        }
    }
    if v.get("NCPU").is_some() {
        o.push_str(&format!(" CPUs: {}\n", g("NCPU")));
    }
    if let Some(m) = v.get("MemTotal").and_then(Value::as_f64) {
        o.push_str(&format!(" Total Memory: {}\n", human::bytes_size(m)));
    }
    for (label, key) in [
        ("Name", "Name"),
        ("ID", "ID"),
        ("Berth Root Dir", "DockerRootDir"),
    ] {
        if v.get(key).is_some() {
            o.push_str(&format!(" {label}: {}\n", g(key)));
        }
    }
    o.push_str(&format!(
        " Debug Mode: {}\n",
        v.get("Debug").and_then(Value::as_bool).unwrap_or(false)
    ));
    if let Some(l) = v
        .get("Labels")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    {
        o.push_str(" Labels:\n");
        for x in l {
            o.push_str(&format!("  {}\n", x.as_str().unwrap_or("")));
        }
    }
    o.push_str(&format!(
        " Experimental: {}\n",
        v.get("ExperimentalBuild")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    ));
    o.push_str(&format!(
        " Live Restore Enabled: {}\n",
        v.get("LiveRestoreEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    ));
    print!("{o}");
    if let Some(w) = v.get("Warnings").and_then(Value::as_array) {
        for x in w {
            eprintln!("{}", x.as_str().unwrap_or(""));
        }
    }
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "df",
    bin_name = "berth system df",
    override_usage = "berth system df [OPTIONS]",
    about = "Show berth disk usage"
)]
struct DfArgs {
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    verbose: bool,
    rest: Vec<String>,
}

fn reclaim(r: f64, total: f64) -> String {
    if total > 0.0 {
        format!(
            "{} ({}%)",
            human::size_prec(r, 3),
            (r / total * 100.0) as i64
        )
    } else {
        human::size_prec(r, 3)
    }
}

pub async fn df(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: DfArgs = parse(args)?;
    arity::<DfArgs>(&a.rest, Arity::None)?;
    let du = ctx.client.disk_usage().await?;
    let now = now_unix();
    if a.verbose {
        println!("Images space usage:\n");
        let mut t = String::from(
            "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n",
        );
        for i in &du.images {
            for r in super::images::image_rows(i, true, now) {
                let g = |k: &str| r[k].as_str().unwrap_or("").to_string();
                t.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    g("Repository"),
                    g("Tag"),
                    g("ID"),
                    g("CreatedSince"),
                    g("Size"),
                    g("SharedSize"),
                    g("UniqueSize"),
                    i.containers
                ));
            }
        }
        print!("{}", table::align(&t));
        println!("\nContainers space usage:\n");
        let mut t = String::from(
            "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n",
        );
        for c in &du.containers {
            let r = super::ps::row(c, true, now);
            let g = |k: &str| r[k].as_str().unwrap_or("").to_string();
            t.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                g("ID"),
                g("Image"),
                g("Command"),
                g("LocalVolumes"),
                human::size_prec(c.size_rw.unwrap_or(0) as f64, 3),
                g("RunningFor"),
                g("Status"),
                g("Names")
            ));
        }
        print!("{}", table::align(&t));
        println!("\nLocal Volumes space usage:\n");
        print!("{}", table::align("VOLUME NAME\tLINKS\tSIZE\n"));
        println!("\nBuild cache usage: 0B\n");
        return Ok(0);
    }
    let img_total: f64 = du
        .images
        .iter()
        .map(|i| i.size as f64)
        .sum::<f64>()
        .max(du.layers_size as f64);
    let img_active = du.images.iter().filter(|i| i.containers > 0).count();
    let img_reclaim: f64 = du
        .images
        .iter()
        .filter(|i| i.containers <= 0)
        .map(|i| i.size as f64)
        .sum();
    let c_total: f64 = du
        .containers
        .iter()
        .map(|c| c.size_rw.unwrap_or(0) as f64)
        .sum();
    let c_active = du
        .containers
        .iter()
        .filter(|c| c.state == "running" || c.state == "paused" || c.state == "restarting")
        .count();
    let c_reclaim: f64 = du
        .containers
        .iter()
        .filter(|c| c.state != "running" && c.state != "paused")
        .map(|c| c.size_rw.unwrap_or(0) as f64)
        .sum();
    let v_total: f64 = du
        .volumes
        .iter()
        .filter_map(|v| v.pointer("/UsageData/Size").and_then(Value::as_f64))
        .filter(|s| *s > 0.0)
        .sum();
    let rows = vec![
        json!({"Type":"Images","TotalCount":du.images.len().to_string(),"Active":img_active.to_string(),"Size":human::size_prec(img_total,3),"Reclaimable":reclaim(img_reclaim,img_total)}),
        json!({"Type":"Containers","TotalCount":du.containers.len().to_string(),"Active":c_active.to_string(),"Size":human::size_prec(c_total,3),"Reclaimable":reclaim(c_reclaim,c_total)}),
        json!({"Type":"Local Volumes","TotalCount":du.volumes.len().to_string(),"Active":"0","Size":human::size_prec(v_total,3),"Reclaimable":reclaim(v_total,v_total)}),
        json!({"Type":"Build Cache","TotalCount":du.build_cache.len().to_string(),"Active":"0","Size":"0B","Reclaimable":"0B"}),
    ];
    let header = json!({"Type":"TYPE","TotalCount":"TOTAL","Active":"ACTIVE","Size":"SIZE","Reclaimable":"RECLAIMABLE"});
    print_rows(
        a.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        &rows,
        &header,
    )?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "prune",
    bin_name = "berth system prune",
    override_usage = "berth system prune [OPTIONS]",
    about = "Remove unused data"
)]
struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
    rest: Vec<String>,
}

pub async fn prune(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: SystemPruneArgs = parse(args)?;
    arity::<SystemPruneArgs>(&a.rest, Arity::None)?;
    let images = if a.all {
        "  - all images without at least one container associated to them"
    } else {
        "  - all dangling images"
    };
    let q = format!("WARNING! This will remove:\n  - all stopped containers\n{images}\n");
    if !a.force && !confirm(&q) {
        return Ok(0);
    }
    let f = super::filters(&a.filter)?;
    let c = ctx.client.prune_containers(&f).await?;
    let deleted = c.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for d in &deleted {
            println!("{d}");
        }
        println!();
    }
    let n = super::images::prune_images(ctx, a.all, &a.filter).await?;
    println!(
        "Total reclaimed space: {}",
        human::size((n + c.space_reclaimed) as f64)
    );
    Ok(0)
}
