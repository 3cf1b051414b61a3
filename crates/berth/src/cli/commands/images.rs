//! Image listing and naming: `images`, `rmi`, `tag`, `history`, `image prune`.

use super::super::format::{human, print_rows, template, Format};
use super::super::{CliResult, Ctx, Fail};
use super::lifecycle::confirm;
use super::run::split_tag;
use super::{arity, each_name_with, now_unix, parse, Arity};
use berth_api::image::ImageSummary;
use berth_client::ListImagesOptions;
use clap::Parser;
use serde_json::{json, Map, Value};

#[derive(Parser)]
#[command(
    name = "images",
    bin_name = "berth images",
    override_usage = "berth images [OPTIONS] [REPOSITORY[:TAG]]",
    about = "List images"
)]
struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    names: Vec<String>,
}

fn images_header() -> Value {
    json!({"Repository":"REPOSITORY","Tag":"TAG","ID":"IMAGE ID","Digest":"DIGEST","CreatedSince":"CREATED",
        "CreatedAt":"CREATED AT","Size":"SIZE","Containers":"CONTAINERS","SharedSize":"SHARED SIZE","UniqueSize":"UNIQUE SIZE","VirtualSize":"SIZE"})
}

/// The rows docker prints for one image: one per tag, or `<none>:<none>`.
pub fn image_rows(i: &ImageSummary, trunc: bool, now: i64) -> Vec<Value> {
    let id = if trunc {
        human::short_id(&i.id)
    } else {
        i.id.clone()
    };
    let digest_of = |repo: &str| -> String {
        i.repo_digests
            .iter()
            .find(|d| d.split('@').next() == Some(repo))
            .and_then(|d| d.split('@').nth(1))
            .unwrap_or("<none>")
            .to_string()
    };
    let mut pairs: Vec<(String, String, String)> = i
        .repo_tags
        .iter()
        .filter(|t| t.as_str() != "<none>:<none>")
        .map(|t| {
            let (r, tag) = split_tag(t);
            let d = digest_of(&r);
            (r, tag.unwrap_or_else(|| "<none>".into()), d)
        })
        .collect();
    if pairs.is_empty() {
        if let Some(d) = i
            .repo_digests
            .iter()
            .find(|d| d.as_str() != "<none>@<none>")
        {
            let (r, dg) = d.split_once('@').unwrap_or((d, "<none>"));
            pairs.push((r.to_string(), "<none>".into(), dg.to_string()));
        } else {
            pairs.push(("<none>".into(), "<none>".into(), "<none>".into()));
        }
    }
    pairs
        .into_iter()
        .map(|(repo, tag, digest)| {
            let mut m = Map::new();
            m.insert(
                "Containers".into(),
                json!(if i.containers < 0 {
                    "N/A".to_string()
                } else {
                    i.containers.to_string()
                }),
            );
            m.insert("CreatedAt".into(), json!(super::ps::go_time(i.created)));
            m.insert("CreatedSince".into(), json!(human::since(i.created, now)));
            m.insert("Digest".into(), json!(digest));
            m.insert("ID".into(), json!(id));
            m.insert("Repository".into(), json!(repo));
            m.insert(
                "SharedSize".into(),
                json!(if i.shared_size < 0 {
                    "N/A".to_string()
                } else {
                    human::size_prec(i.shared_size as f64, 3)
                }),
            );
            m.insert("Size".into(), json!(human::size_prec(i.size as f64, 3)));
            m.insert("Tag".into(), json!(tag));
            m.insert(
                "UniqueSize".into(),
                json!(if i.shared_size < 0 {
                    "N/A".to_string()
                } else {
                    human::size_prec((i.size - i.shared_size) as f64, 3)
                }),
            );
            m.insert(
                "VirtualSize".into(),
                json!(human::size_prec(i.size as f64, 3)),
            );
            let labels: Map<String, Value> = i
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            template::add_method(&mut m, "Label", labels);
            Value::Object(m)
        })
        .collect()
}

pub async fn images(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: ImagesArgs = parse(args)?;
    if a.names.len() > 1 {
        arity::<ImagesArgs>(&a.names, Arity::Exact(1))?;
    }
    let mut filters = super::filters(&a.filter)?;
    if let Some(n) = a.names.first() {
        filters
            .0
            .entry("reference".into())
            .or_default()
            .push(n.clone());
    }
    let list = ctx
        .client
        .list_images(&ListImagesOptions {
            all: a.all,
            digests: a.digests,
            filters,
        })
        .await?;
    let now = now_unix();
    let trunc = !a.no_trunc;
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for i in &list {
            let id = if trunc {
                human::short_id(&i.id)
            } else {
                i.id.clone()
            };
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let fmt = Format::parse(a.format.as_deref(), default).map_err(|e| Fail::new(e, 1))?;
    let rows: Vec<Value> = list
        .iter()
        .flat_map(|i| image_rows(i, trunc, now))
        .collect();
    print!(
        "{}",
        fmt.render(&rows, &images_header())
            .map_err(|e| Fail::new(e, 1))?
    );
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "rmi",
    bin_name = "berth rmi",
    override_usage = "berth rmi [OPTIONS] IMAGE [IMAGE...]",
    about = "Remove one or more images"
)]
struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    no_prune: bool,
    images: Vec<String>,
}

pub async fn rmi(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: RmiArgs = parse(args)?;
    arity::<RmiArgs>(&a.images, Arity::Min(1))?;
    each_name_with(
        &a.images,
        |n| ctx.client.remove_image(n, a.force, a.no_prune),
        |_, items| {
            for i in items {
                if let Some(u) = i.untagged {
                    println!("Untagged: {u}");
                }
                if let Some(d) = i.deleted {
                    println!("Deleted: {d}");
                }
            }
        },
    )
    .await
}

#[derive(Parser)]
#[command(
    name = "tag",
    bin_name = "berth tag",
    override_usage = "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    about = "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"
)]
struct TagArgs {
    args: Vec<String>,
}

pub async fn tag(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: TagArgs = parse(args)?;
    arity::<TagArgs>(&a.args, Arity::Exact(2))?;
    let (repo, tag) = split_tag(&a.args[1]);
    ctx.client
        .tag_image(&a.args[0], &repo, Some(tag.as_deref().unwrap_or("latest")))
        .await?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "history",
    bin_name = "berth history",
    override_usage = "berth history [OPTIONS] IMAGE",
    about = "Show the history of an image"
)]
struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true")]
    human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    names: Vec<String>,
}

pub async fn history(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: HistoryArgs = parse(args)?;
    arity::<HistoryArgs>(&a.names, Arity::Exact(1))?;
    let h = ctx.client.image_history(&a.names[0]).await?;
    let now = now_unix();
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = h
        .iter()
        .map(|i| {
            let id = if i.id == "<missing>" || i.id.is_empty() {
                "<missing>".to_string()
            } else if trunc {
                human::short_id(&i.id)
            } else {
                i.id.clone()
            };
            let by = i.created_by.replace('\t', " ");
            let by = if trunc { human::ellipsis(&by, 45) } else { by };
            let created_at = chrono::DateTime::from_timestamp(i.created, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default();
            json!({
                "ID": id,
                "CreatedSince": if a.human { human::since(i.created, now) } else { created_at.clone() },
                "CreatedAt": created_at,
                "CreatedBy": by,
                "Size": if a.human { human::size_prec(i.size as f64, 3) } else { i.size.to_string() },
                "Comment": i.comment,
                "Tags": i.tags.join(", "),
            })
        })
        .collect();
    let fmt_text = if a.quiet {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let header = json!({"ID":"IMAGE","CreatedSince":"CREATED","CreatedAt":"CREATED AT","CreatedBy":"CREATED BY","Size":"SIZE","Comment":"COMMENT","Tags":"TAGS"});
    print_rows(
        fmt_text,
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        &rows,
        &header,
    )?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "prune",
    bin_name = "berth image prune",
    override_usage = "berth image prune [OPTIONS]",
    about = "Remove unused images"
)]
struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
    rest: Vec<String>,
}

/// Prints docker's prune report; returns the reclaimed bytes.
pub async fn prune_images(ctx: &Ctx, all: bool, filter: &[String]) -> Result<u64, Fail> {
    let mut f = super::filters(filter)?;
    f.0.insert(
        "dangling".into(),
        vec![if all { "false" } else { "true" }.into()],
    );
    let r = ctx.client.prune_images(&f).await?;
    let items = r.images_deleted.unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for i in items {
            if let Some(u) = i.untagged {
                println!("untagged: {u}");
            }
            if let Some(d) = i.deleted {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    Ok(r.space_reclaimed)
}

pub async fn prune(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: PruneArgs = parse(args)?;
    arity::<PruneArgs>(&a.rest, Arity::None)?;
    let q = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(q) {
        return Ok(0);
    }
    let n = prune_images(ctx, a.all, &a.filter).await?;
    println!("Total reclaimed space: {}", human::size(n as f64));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_table() {
        let i: ImageSummary = serde_json::from_value(json!({
            "Id": "sha256:0123456789abcdef0123", "ParentId": "", "RepoTags": ["busybox:latest", "bb:1"], "RepoDigests": [],
            "Created": 0, "Size": 4261000, "SharedSize": -1, "Labels": {}, "Containers": -1
        }))
        .unwrap();
        let rows = image_rows(&i, true, 7200);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["Repository"], "busybox");
        assert_eq!(rows[0]["Tag"], "latest");
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["Size"], "4.26MB");
        assert_eq!(rows[0]["CreatedSince"], "2 hours ago");
        let fmt = Format::parse(
            None,
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
        )
        .unwrap();
        let out = fmt.render(&rows[..1], &images_header()).unwrap();
        assert_eq!(out, "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\nbusybox      latest    0123456789ab   2 hours ago   4.26MB\n");
        let none: ImageSummary = serde_json::from_value(json!({"Id":"sha256:ab","ParentId":"","RepoTags":[],"RepoDigests":[],"Created":0,"Size":0,"SharedSize":0,"Labels":{},"Containers":0})).unwrap();
        assert_eq!(image_rows(&none, true, 0)[0]["Repository"], "<none>");
    }
}
