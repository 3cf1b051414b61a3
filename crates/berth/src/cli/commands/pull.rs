//! `berth pull` and `berth push`: images from and to a registry, through the daemon
//! (`POST /images/create`, `POST /images/{name}/push`).

use super::super::{client_error_text, CliResult, Ctx, Fail};
use super::progress::{print_progress, View};
use super::run::split_tag;
use super::{arity, parse, Arity};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "pull",
    bin_name = "berth pull",
    override_usage = "berth pull [OPTIONS] NAME[:TAG|@DIGEST]",
    about = "Download an image from a registry"
)]
struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Skip image verification (ignored, as by docker without content trust)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    disable_content_trust: bool,
    args: Vec<String>,
}

/// The reference a `pull`/`push` argument names; without a tag or digest it gets `latest`
/// when `default_tag` (saying so unless `quiet`, as docker does).
fn named(name: &str, default_tag: bool, quiet: bool) -> Result<berth_image::Reference, Fail> {
    let parsed = berth_image::Reference::parse_without_default_tag(name)
        .map_err(|e| Fail::new(format!("invalid reference format: {e}"), 1))?;
    if !default_tag || parsed.tag().is_some() || parsed.digest().is_some() {
        return Ok(parsed);
    }
    if !quiet {
        println!("Using default tag: latest");
    }
    parsed
        .with_tag("latest")
        .map_err(|e| Fail::new(e.to_string(), 1))
}

pub async fn pull(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: PullArgs = parse(args)?;
    arity::<PullArgs>(&a.args, Arity::Exact(1))?;
    let _ = a.disable_content_trust;
    let full = named(&a.args[0], !a.all_tags, a.quiet)?;
    if a.all_tags && (full.tag().is_some() || full.digest().is_some()) {
        return Err(Fail::new("tag can't be used with --all-tags/-a", 1));
    }
    let (repo, tag) = split_tag(&full.familiar());
    let auth = super::super::credentials::auth_header_for_image(&full.familiar_name());
    let stream = ctx
        .client
        .pull_image(
            &repo,
            tag.as_deref(),
            a.platform.as_deref(),
            auth.as_deref(),
        )
        .await
        .map_err(|e| Fail::new(client_error_text(&e), 1))?;
    let mut out = std::io::stdout();
    print_progress(stream, &mut out, a.quiet, View::stdout())
        .await
        .map_err(|f| Fail::new(f.msg, 1))?;
    println!("{full}");
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "push",
    bin_name = "berth push",
    override_usage = "berth push [OPTIONS] NAME[:TAG]",
    about = "Upload an image to a registry"
)]
struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Skip image signing (ignored, as by docker without content trust)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    disable_content_trust: bool,
    args: Vec<String>,
}

pub async fn push(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: PushArgs = parse(args)?;
    arity::<PushArgs>(&a.args, Arity::Exact(1))?;
    let _ = a.disable_content_trust;
    let full = named(&a.args[0], !a.all_tags, a.quiet)?;
    if a.all_tags && full.tag().is_some() {
        return Err(Fail::new("tag can't be used with --all-tags/-a", 1));
    }
    let auth = super::super::credentials::auth_header_for_image(&full.to_string());
    let stream = ctx
        .client
        .push_image(&full.familiar_name(), full.tag(), auth.as_deref())
        .await
        .map_err(|e| Fail::new(client_error_text(&e), 1))?;
    let mut out = std::io::stdout();
    print_progress(stream, &mut out, a.quiet, View::stdout())
        .await
        .map_err(|f| Fail::new(f.msg, 1))?;
    if a.quiet {
        println!("{}", full.familiar());
    }
    Ok(0)
}
