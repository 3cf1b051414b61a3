//! `berth search`: docker's `search`, through `GET /images/search` (the daemon asks the
//! index the term names).

use super::super::format::{human, print_rows};
use super::super::{client_error_text, CliResult, Ctx, Fail};
use super::{arity, parse, Arity};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "search",
    bin_name = "berth search",
    override_usage = "berth search [OPTIONS] TERM",
    about = "Search Docker Hub for images"
)]
struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 0)]
    limit: u32,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    args: Vec<String>,
}

const DEFAULT_FORMAT: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

/// docker's search formatter context for one hit.
fn row(hit: &Value, trunc: bool) -> Value {
    let text = |k: &str| hit.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let flag = |k: &str| {
        if hit.get(k).and_then(Value::as_bool).unwrap_or(false) {
            "[OK]"
        } else {
            ""
        }
    };
    let mut description = text("description").replace(['\n', '\r'], " ");
    if trunc {
        description = human::ellipsis(&description, 45);
    }
    json!({
        "Name": text("name"),
        "Description": description,
        "StarCount": hit.get("star_count").and_then(Value::as_u64).unwrap_or(0).to_string(),
        "IsOfficial": flag("is_official"),
        "IsAutomated": flag("is_automated"),
    })
}

pub async fn search(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: SearchArgs = parse(args)?;
    arity::<SearchArgs>(&a.args, Arity::Exact(1))?;
    let filters = super::filters(&a.filter)?;
    if filters.contains("is-automated") {
        eprintln!("WARNING: the \"is-automated\" filter is deprecated, and searching for \"is-automated=true\" will not yield any results in future.");
    }
    let term = &a.args[0];
    let auth = super::super::credentials::auth_header_for_image(term);
    let hits = ctx
        .client
        .search_images(term, Some(a.limit), &filters, auth.as_deref())
        .await
        .map_err(|e| Fail::new(client_error_text(&e), 1))?;
    let rows: Vec<Value> = hits.iter().map(|h| row(h, !a.no_trunc)).collect();
    let header = json!({"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"});
    print_rows(a.format.as_deref(), DEFAULT_FORMAT, &rows, &header)?;
    Ok(0)
}
