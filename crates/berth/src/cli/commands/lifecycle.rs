//! The small lifecycle verbs: start, stop, kill, restart, rm, pause, unpause, wait,
//! rename and container prune. Verbs over several names print each name that worked
//! and each error, then exit 1 if any failed — as docker does.

use super::super::{client_error_text, format::human, term, CliResult, Ctx, Fail};
use super::streams::{self, Ended, ResizeTarget};
use super::{arity, each_name, each_name_with, parse, Arity};
use berth_client::AttachOptions;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "start",
    bin_name = "berth start",
    override_usage = "berth start [OPTIONS] CONTAINER [CONTAINER...]",
    about = "Start one or more stopped containers"
)]
struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    containers: Vec<String>,
}

pub async fn start(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: StartArgs = parse(args)?;
    arity::<StartArgs>(&a.containers, Arity::Min(1))?;
    if !(a.attach || a.interactive) {
        return each_name(&a.containers, |n| ctx.client.start_container(n, None)).await;
    }
    if a.containers.len() > 1 {
        return Err(Fail::new(
            "you cannot start and attach multiple containers at once",
            1,
        ));
    }
    let id = &a.containers[0];
    let c = ctx.client.inspect_container(id).await?;
    let tty = c.config.tty;
    let stdin = a.interactive && c.config.open_stdin;
    let h = ctx
        .client
        .attach(
            id,
            &AttachOptions {
                stdin,
                stdout: true,
                stderr: true,
                logs: false,
                detach_keys: a.detach_keys.clone(),
            },
        )
        .await?;
    let wait = ctx.client.wait_begin(id, Some("next-exit")).await?;
    let _raw = if tty && stdin && term::stdin_is_tty() {
        use std::os::fd::AsFd;
        term::RawGuard::enable(std::io::stdin().as_fd()).ok()
    } else {
        None
    };
    ctx.client.start_container(id, None).await?;
    if tty && term::stdout_is_tty() {
        streams::monitor_tty_size(&ctx.client, ResizeTarget::Container(c.id.clone())).await;
    }
    if !tty {
        streams::proxy_signals(&ctx.client, id);
    }
    let keys = term::parse_detach_keys(
        a.detach_keys
            .as_deref()
            .unwrap_or(term::DEFAULT_DETACH_KEYS),
    )
    .map_err(|e| Fail::new(e, 1))?;
    if streams::pump(h, tty, stdin, tty.then_some(keys)).await? == Ended::Detached {
        return Ok(0);
    }
    drop(_raw);
    Ok(wait.finish().await?.status_code as i32)
}

#[derive(Parser)]
#[command(
    name = "stop",
    bin_name = "berth stop",
    override_usage = "berth stop [OPTIONS] CONTAINER [CONTAINER...]",
    about = "Stop one or more running containers"
)]
struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        alias = "time",
        allow_hyphen_values = true
    )]
    timeout: Option<i64>,
    containers: Vec<String>,
}

pub async fn stop(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: StopArgs = parse(args)?;
    arity::<StopArgs>(&a.containers, Arity::Min(1))?;
    each_name(&a.containers, |n| {
        ctx.client.stop_container(n, a.timeout, a.signal.as_deref())
    })
    .await
}

#[derive(Parser)]
#[command(
    name = "restart",
    bin_name = "berth restart",
    override_usage = "berth restart [OPTIONS] CONTAINER [CONTAINER...]",
    about = "Restart one or more containers"
)]
struct RestartArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        alias = "time",
        allow_hyphen_values = true
    )]
    timeout: Option<i64>,
    containers: Vec<String>,
}

pub async fn restart(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: RestartArgs = parse(args)?;
    arity::<RestartArgs>(&a.containers, Arity::Min(1))?;
    each_name(&a.containers, |n| {
        ctx.client
            .restart_container(n, a.timeout, a.signal.as_deref())
    })
    .await
}

#[derive(Parser)]
#[command(
    name = "kill",
    bin_name = "berth kill",
    override_usage = "berth kill [OPTIONS] CONTAINER [CONTAINER...]",
    about = "Kill one or more running containers"
)]
struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    signal: Option<String>,
    containers: Vec<String>,
}

pub async fn kill(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: KillArgs = parse(args)?;
    arity::<KillArgs>(&a.containers, Arity::Min(1))?;
    each_name(&a.containers, |n| {
        ctx.client.kill_container(n, a.signal.as_deref())
    })
    .await
}

#[derive(Parser)]
#[command(
    name = "rm",
    bin_name = "berth rm",
    override_usage = "berth rm [OPTIONS] CONTAINER [CONTAINER...]",
    about = "Remove one or more containers"
)]
struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    volumes: bool,
    containers: Vec<String>,
}

pub async fn rm(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: RmArgs = parse(args)?;
    arity::<RmArgs>(&a.containers, Arity::Min(1))?;
    let mut failed = false;
    for n in &a.containers {
        let name = n.trim_matches('/');
        match ctx
            .client
            .remove_container(name, a.force, a.volumes, a.link)
            .await
        {
            Ok(()) => println!("{n}"),
            Err(e) if e.is_connect() => return Err(e.into()),
            // `rm -f` of a missing container is not an error in docker
            Err(e) if a.force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{}", client_error_text(&e));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

#[derive(Parser)]
#[command(
    name = "pause",
    bin_name = "berth pause",
    override_usage = "berth pause CONTAINER [CONTAINER...]",
    about = "Pause all processes within one or more containers"
)]
struct PauseArgs {
    containers: Vec<String>,
}

pub async fn pause(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: PauseArgs = parse(args)?;
    arity::<PauseArgs>(&a.containers, Arity::Min(1))?;
    each_name(&a.containers, |n| ctx.client.pause_container(n)).await
}

#[derive(Parser)]
#[command(
    name = "unpause",
    bin_name = "berth unpause",
    override_usage = "berth unpause CONTAINER [CONTAINER...]",
    about = "Unpause all processes within one or more containers"
)]
struct UnpauseArgs {
    containers: Vec<String>,
}

pub async fn unpause(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: UnpauseArgs = parse(args)?;
    arity::<UnpauseArgs>(&a.containers, Arity::Min(1))?;
    each_name(&a.containers, |n| ctx.client.unpause_container(n)).await
}

#[derive(Parser)]
#[command(
    name = "wait",
    bin_name = "berth wait",
    override_usage = "berth wait CONTAINER [CONTAINER...]",
    about = "Block until one or more containers stop, then print their exit codes"
)]
struct WaitArgs {
    containers: Vec<String>,
}

pub async fn wait(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: WaitArgs = parse(args)?;
    arity::<WaitArgs>(&a.containers, Arity::Min(1))?;
    each_name_with(
        &a.containers,
        |n| ctx.client.wait_container(n, None),
        |_, w| println!("{}", w.status_code),
    )
    .await
}

#[derive(Parser)]
#[command(
    name = "rename",
    bin_name = "berth rename",
    override_usage = "berth rename CONTAINER NEW_NAME",
    about = "Rename a container"
)]
struct RenameArgs {
    args: Vec<String>,
}

pub async fn rename(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: RenameArgs = parse(args)?;
    arity::<RenameArgs>(&a.args, Arity::Exact(2))?;
    let new = a.args[1].trim_start_matches('/');
    if new.is_empty() {
        return Err(Fail::new(
            "Error: Neither old nor new names may be empty",
            1,
        ));
    }
    ctx.client
        .rename_container(&a.args[0], new)
        .await
        .map_err(|e| {
            Fail::new(
                format!(
                    "{}\nError: failed to rename container named {}",
                    client_error_text(&e),
                    a.args[0]
                ),
                1,
            )
        })?;
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "prune",
    bin_name = "berth container prune",
    override_usage = "berth container prune [OPTIONS]",
    about = "Remove all stopped containers"
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

/// Asks docker's y/N question on the terminal; anything but y/yes is no.
pub fn confirm(question: &str) -> bool {
    use std::io::Write;
    print!("{question}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

pub async fn prune(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: PruneArgs = parse(args)?;
    arity::<PruneArgs>(&a.rest, Arity::None)?;
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let f = super::filters(&a.filter)?;
    let r = ctx.client.prune_containers(&f).await?;
    let deleted = r.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:");
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
