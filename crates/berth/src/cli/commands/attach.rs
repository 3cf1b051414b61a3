//! `berth attach`: hijack the container's streams, exit with its exit code.

use super::super::{term, CliResult, Ctx, Fail};
use super::streams::{self, Ended, ResizeTarget};
use super::{arity, parse, Arity};
use berth_client::AttachOptions;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "attach",
    bin_name = "berth attach",
    override_usage = "berth attach [OPTIONS] CONTAINER",
    about = "Attach local standard input, output, and error streams to a running container"
)]
struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true")]
    sig_proxy: bool,
    names: Vec<String>,
}

pub async fn attach(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: AttachArgs = parse(args)?;
    arity::<AttachArgs>(&a.names, Arity::Exact(1))?;
    let name = &a.names[0];
    let c = ctx.client.inspect_container(name).await?;
    if !c.state.running {
        return Err(Fail::new(
            "You cannot attach to a stopped container, start it first",
            1,
        ));
    }
    if c.state.paused {
        return Err(Fail::new(
            "You cannot attach to a paused container, unpause it first",
            1,
        ));
    }
    let keys = term::parse_detach_keys(
        a.detach_keys
            .as_deref()
            .unwrap_or(term::DEFAULT_DETACH_KEYS),
    )
    .map_err(|e| Fail::new(e, 1))?;
    let tty = c.config.tty;
    let stdin = !a.no_stdin && c.config.open_stdin;
    if tty && stdin && !term::stdin_is_tty() {
        return Err(Fail::new("the input device is not a TTY", 1));
    }
    let wait = ctx.client.wait_begin(name, None).await?;
    let h = ctx
        .client
        .attach(
            name,
            &AttachOptions {
                stdin,
                stdout: true,
                stderr: true,
                logs: false,
                detach_keys: a.detach_keys.clone(),
            },
        )
        .await?;
    let _raw = if tty && stdin && term::stdin_is_tty() {
        use std::os::fd::AsFd;
        term::RawGuard::enable(std::io::stdin().as_fd()).ok()
    } else {
        None
    };
    if tty && term::stdout_is_tty() {
        streams::monitor_tty_size(&ctx.client, ResizeTarget::Container(c.id.clone())).await;
    }
    if a.sig_proxy && !tty {
        streams::proxy_signals(&ctx.client, &c.id);
    }
    if streams::pump(h, tty, stdin, Some(keys)).await? == Ended::Detached {
        return Ok(0);
    }
    drop(_raw);
    Ok(wait.finish().await?.status_code as i32)
}
