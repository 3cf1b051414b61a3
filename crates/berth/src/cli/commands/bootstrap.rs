//! `berth image bootstrap busybox`: builds a busybox rootfs tarball from the host's
//! static busybox and imports it through the API, giving tests and offline machines
//! a base image without a registry.

use super::super::{CliResult, Ctx, Fail};
use super::progress::{print_progress, View};
use super::run::split_tag;
use super::{arity, parse, Arity};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "bootstrap",
    bin_name = "berth image bootstrap",
    override_usage = "berth image bootstrap busybox [OPTIONS]",
    about = "Build a busybox base image offline from a static busybox binary"
)]
struct BootstrapArgs {
    /// Image name to give the result
    #[arg(long, default_value = "busybox:latest")]
    name: String,
    /// Path of the static busybox binary to use
    #[arg(long, default_value = "/bin/busybox")]
    busybox: String,
    kind: Vec<String>,
}

pub async fn bootstrap(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: BootstrapArgs = parse(args)?;
    arity::<BootstrapArgs>(&a.kind, Arity::Exact(1))?;
    if a.kind[0] != "busybox" {
        return Err(Fail::new(
            format!(
                "unknown bootstrap image {:?}: only \"busybox\" is supported",
                a.kind[0]
            ),
            1,
        ));
    }
    let mut tar = Vec::new();
    berth_image::bootstrap::busybox_rootfs_tar(std::path::Path::new(&a.busybox), &mut tar)
        .map_err(|e| {
            Fail::new(
                format!("building busybox rootfs from {}: {e}", a.busybox),
                1,
            )
        })?;
    let (repo, tag) = split_tag(&a.name);
    let changes = vec![r#"CMD ["sh"]"#.to_string()];
    let s = ctx
        .client
        .import_image(
            berth_client::full(tar),
            Some(&repo),
            Some(tag.as_deref().unwrap_or("latest")),
            None,
            &changes,
            None,
        )
        .await?;
    let mut sink = Vec::new();
    let id = print_progress(s, &mut sink, false, View::Plain).await?;
    if let Some(id) = id {
        println!("{id}");
    }
    Ok(0)
}
