//! Archives in and out: `save`, `load`, `import`, `export`.

use super::super::{envfile, CliResult, Ctx, Fail};
use super::progress::{print_progress, View};
use super::run::split_tag;
use super::{arity, parse, Arity};
use berth_client::body_from_reader;
use clap::Parser;
use std::io::IsTerminal;

const REFUSE: &str = "cowardly refusing to save to a terminal. Use the -o flag or redirect";

#[derive(Parser)]
#[command(
    name = "save",
    bin_name = "berth save",
    override_usage = "berth save [OPTIONS] IMAGE [IMAGE...]",
    about = "Save one or more images to a tar archive (streamed to STDOUT by default)"
)]
struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    output: Option<String>,
    /// Save only the given platform(s)
    #[arg(long)]
    platform: Vec<String>,
    images: Vec<String>,
}

/// Streams an archive to `-o FILE` or to stdout, refusing a terminal like docker.
async fn write_archive(mut s: berth_client::BodyStream, output: Option<&str>) -> Result<(), Fail> {
    match output {
        Some(path) => {
            let mut f = std::fs::File::create(path).map_err(|e| {
                Fail::new(format!("failed to save image: invalid output path: {e}"), 1)
            })?;
            s.copy_to(&mut f)
                .await
                .map_err(|e| Fail::new(e.to_string(), 1))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            s.copy_to(&mut out)
                .await
                .map_err(|e| Fail::new(e.to_string(), 1))?;
        }
    }
    Ok(())
}

pub async fn save(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: SaveArgs = parse(args)?;
    arity::<SaveArgs>(&a.images, Arity::Min(1))?;
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Fail::new(REFUSE, 1));
    }
    let s = ctx.client.save_images(&a.images).await?;
    write_archive(s, a.output.as_deref()).await?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "export",
    bin_name = "berth export",
    override_usage = "berth export [OPTIONS] CONTAINER",
    about = "Export a container's filesystem as a tar archive"
)]
struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    output: Option<String>,
    names: Vec<String>,
}

pub async fn export(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: ExportArgs = parse(args)?;
    arity::<ExportArgs>(&a.names, Arity::Exact(1))?;
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Fail::new(REFUSE, 1));
    }
    let s = ctx.client.export_container(&a.names[0]).await?;
    write_archive(s, a.output.as_deref()).await?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "load",
    bin_name = "berth load",
    override_usage = "berth load [OPTIONS]",
    about = "Load an image from a tar archive or STDIN"
)]
struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Load only the given platform(s)
    #[arg(long)]
    platform: Vec<String>,
    rest: Vec<String>,
}

pub async fn load(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: LoadArgs = parse(args)?;
    arity::<LoadArgs>(&a.rest, Arity::None)?;
    let body = match &a.input {
        Some(p) => body_from_reader(
            tokio::fs::File::open(p)
                .await
                .map_err(|e| Fail::new(format!("open {p}: {}", envfile::io_text(&e)), 1))?,
        ),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Fail::new(
                    "requested load from stdin, but stdin is empty",
                    1,
                ));
            }
            body_from_reader(tokio::io::stdin())
        }
    };
    let s = ctx.client.load_images(body, a.quiet).await?;
    let mut out = std::io::stdout();
    // `Loaded image: x` lines are printed even with -q, as docker does
    print_progress(s, &mut out, false, View::stdout()).await?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "import",
    bin_name = "berth import",
    override_usage = "berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    about = "Import the contents from a tarball to create a filesystem image"
)]
struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    #[arg(allow_hyphen_values = true)]
    args: Vec<String>,
}

pub async fn import(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: ImportArgs = parse(args)?;
    arity::<ImportArgs>(&a.args, Arity::Min(1))?;
    if a.args.len() > 2 {
        return Err(Fail::new("berth: 'berth import' requires at least 1 and at most 2 arguments\n\nUsage:  berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]\n\nSee 'berth import --help' for more information", 1));
    }
    let src = &a.args[0];
    let body = if src == "-" {
        body_from_reader(tokio::io::stdin())
    } else if src.starts_with("http://") || src.starts_with("https://") {
        return Err(Fail::new("importing from a URL is not supported yet", 1));
    } else {
        body_from_reader(
            tokio::fs::File::open(src)
                .await
                .map_err(|e| Fail::new(format!("open {src}: {}", envfile::io_text(&e)), 1))?,
        )
    };
    let (repo, tag) = match a.args.get(1) {
        Some(r) => {
            let (r, t) = split_tag(r);
            (Some(r), t)
        }
        None => (None, None),
    };
    let s = ctx
        .client
        .import_image(
            body,
            repo.as_deref(),
            tag.as_deref(),
            a.message.as_deref(),
            &a.change,
            a.platform.as_deref(),
        )
        .await?;
    let mut out = std::io::stdout();
    print_progress(s, &mut out, false, View::stdout()).await?;
    Ok(0)
}
