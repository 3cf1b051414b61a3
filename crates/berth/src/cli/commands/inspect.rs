//! `berth inspect` (container → image → network → volume fallback on 404, as docker) and the typed
//! `container inspect` / `image inspect`: JSON arrays with docker's 4-space indent,
//! or one `--format` line per object.

use super::super::format::{indent_json, template::Template};
use super::super::{client_error_text, CliResult, Ctx, Fail};
use super::{arity, parse, Arity};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "inspect",
    bin_name = "berth inspect",
    override_usage = "berth inspect [OPTIONS] NAME|ID [NAME|ID...]",
    about = "Return low-level information on berth objects"
)]
struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type")]
    kind: Option<String>,
    names: Vec<String>,
}

pub async fn inspect(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: InspectArgs = parse(args)?;
    arity::<InspectArgs>(&a.names, Arity::Min(1))?;
    let kind = a.kind.clone().unwrap_or_default();
    if !matches!(
        kind.as_str(),
        "" | "container" | "image" | "network" | "volume"
    ) {
        return Err(Fail::new(
            format!("\"{kind}\" is not a valid value for --type"),
            1,
        ));
    }
    run(ctx, &a, &kind).await
}

/// `container inspect` / `image inspect`: same output, one object type.
pub async fn inspect_typed(ctx: &Ctx, args: &[String], kind: &str) -> CliResult {
    let a: InspectArgs = parse(args)?;
    arity::<InspectArgs>(&a.names, Arity::Min(1))?;
    run(ctx, &a, kind).await
}

async fn fetch(
    ctx: &Ctx,
    kind: &str,
    name: &str,
    size: bool,
) -> Result<Option<berth_client::Bytes>, berth_client::Error> {
    let path = match kind {
        "container" => format!(
            "/containers/{}/json{}",
            berth_client::seg(name),
            if size { "?size=1" } else { "" }
        ),
        "network" => format!("/networks/{}", berth_client::seg(name)),
        "volume" => format!("/volumes/{}", berth_client::seg(name)),
        _ => format!("/images/{}/json", berth_client::seg(name)),
    };
    match ctx.client.get_raw(&path).await {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn run(ctx: &Ctx, a: &InspectArgs, kind: &str) -> CliResult {
    let tmpl = match &a.format {
        Some(f) if !f.is_empty() && f != "json" => {
            Some(Template::parse(f).map_err(|e| Fail::new(e, 1))?)
        }
        _ => None,
    };
    let kinds: Vec<&str> = if kind.is_empty() {
        vec!["container", "image", "network", "volume"]
    } else {
        vec![kind]
    };
    let mut raws: Vec<berth_client::Bytes> = Vec::new();
    let mut errors = Vec::new();
    for name in &a.names {
        let mut found = None;
        for k in &kinds {
            match fetch(ctx, k, name, a.size).await {
                Ok(Some(b)) => {
                    found = Some(b);
                    break;
                }
                Ok(None) => {}
                Err(e) if e.is_connect() => return Err(e.into()),
                Err(e) => {
                    errors.push(client_error_text(&e));
                    found = None;
                    break;
                }
            }
        }
        match found {
            Some(b) => raws.push(b),
            None => errors.push(match kind {
                "container" => format!("Error: No such container: {name}"),
                "image" => format!("Error: No such image: {name}"),
                "network" => format!("Error: No such network: {name}"),
                "volume" => format!("Error: No such volume: {name}"),
                _ => format!("Error: No such object: {name}"),
            }),
        }
    }
    print_inspected(&raws, tmpl.as_ref())?;
    if errors.is_empty() {
        Ok(0)
    } else {
        for e in &errors {
            eprintln!("{e}");
        }
        Ok(1)
    }
}

/// Prints inspected objects as docker does: one `--format` line each, or one JSON array
/// with docker's 4-space indent.
pub(super) fn print_inspected(
    raws: &[berth_client::Bytes],
    tmpl: Option<&Template>,
) -> Result<(), Fail> {
    match tmpl {
        Some(t) => {
            for r in raws {
                let v: serde_json::Value =
                    serde_json::from_slice(r).map_err(|e| Fail::new(e.to_string(), 1))?;
                println!("{}", t.execute(&v, false).map_err(|e| Fail::new(e, 1))?);
            }
        }
        None => {
            let parts: Vec<String> = raws
                .iter()
                .map(|r| String::from_utf8_lossy(r).trim().to_string())
                .collect();
            println!("{}", indent_json(&format!("[{}]", parts.join(","))));
        }
    }
    Ok(())
}
