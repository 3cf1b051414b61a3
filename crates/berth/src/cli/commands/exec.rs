//! `berth exec`: create an exec, start it hijacked (or detached), exit with the
//! exec's own exit code from `GET /exec/{id}/json`.

use super::super::{envfile, term, CliResult, Ctx, Fail};
use super::container_opts::split_at_image;
use super::parse;
use super::streams::{self, Ended, ResizeTarget};
use berth_api::exec::{ExecConfig, ExecStartConfig};
use clap::{CommandFactory, Parser};

#[derive(Parser)]
#[command(
    name = "exec",
    bin_name = "berth exec",
    override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    about = "Execute a command in a running container"
)]
struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    workdir: Option<String>,
}

pub async fn exec(ctx: &Ctx, args: &[String]) -> CliResult {
    let idx = split_at_image(&ExecArgs::command(), args);
    let mut flags = args[..idx].to_vec();
    if flags.last().map(String::as_str) == Some("--") {
        flags.pop();
    }
    let a: ExecArgs = parse(&flags)?;
    let pos = &args[idx..];
    if pos.len() < 2 {
        return Err(Fail::new("berth: 'berth exec' requires at least 2 arguments\n\nUsage:  berth exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\nSee 'berth exec --help' for more information", 1));
    }
    let (container, cmd) = (&pos[0], &pos[1..]);
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(envfile::read_env_file(f).map_err(|e| Fail::new(e, 1))?);
    }
    env.extend(a.env.iter().filter_map(|e| envfile::expand_env(e)));
    let keys = term::parse_detach_keys(
        a.detach_keys
            .as_deref()
            .unwrap_or(term::DEFAULT_DETACH_KEYS),
    )
    .map_err(|e| Fail::new(e, 1))?;
    if a.tty && a.interactive && !a.detach && !term::stdin_is_tty() {
        return Err(Fail::new("the input device is not a TTY", 1));
    }
    let cfg = ExecConfig {
        attach_stdin: a.interactive && !a.detach,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        console_size: if a.tty {
            term::size().map(|(h, w)| vec![h as u32, w as u32])
        } else {
            None
        },
        detach_keys: a.detach_keys.clone().unwrap_or_default(),
        tty: a.tty,
        env: (!env.is_empty()).then_some(env),
        cmd: Some(cmd.to_vec()),
        privileged: a.privileged,
        user: a.user.clone().unwrap_or_default(),
        working_dir: a.workdir.clone().unwrap_or_default(),
    };
    let id = ctx.client.create_exec(container, &cfg).await?.id;
    let start = ExecStartConfig {
        detach: a.detach,
        tty: a.tty,
        console_size: cfg.console_size.clone(),
    };
    let h = ctx.client.start_exec(&id, &start).await?;
    let Some(h) = h else {
        return Ok(0);
    };
    let _raw = if a.tty && a.interactive && term::stdin_is_tty() {
        use std::os::fd::AsFd;
        term::RawGuard::enable(std::io::stdin().as_fd()).ok()
    } else {
        None
    };
    if a.tty && term::stdout_is_tty() {
        streams::monitor_tty_size(&ctx.client, ResizeTarget::Exec(id.clone())).await;
    }
    let ended = streams::pump(h, a.tty, a.interactive, a.tty.then_some(keys)).await?;
    drop(_raw);
    if ended == Ended::Detached {
        return Ok(0);
    }
    // The exit code is recorded a moment after the stream closes; poll briefly.
    for _ in 0..50 {
        let i = ctx.client.inspect_exec(&id).await?;
        if !i.running {
            return Ok(i.exit_code.unwrap_or(0) as i32);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(ctx.client.inspect_exec(&id).await?.exit_code.unwrap_or(0) as i32)
}
