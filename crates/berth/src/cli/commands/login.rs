//! `berth login` and `berth logout`: credentials checked by the daemon (`POST /auth`) and
//! kept where the docker CLI keeps them (see `cli::credentials`).

use super::super::credentials::{server_key, ConfigFile, Entry, DOCKER_HUB_KEY};
use super::super::{client_error_text, term, CliResult, Ctx, Fail};
use super::{arity, parse, Arity};
use clap::Parser;
use std::io::{BufRead, Write};

#[derive(Parser)]
#[command(
    name = "login",
    bin_name = "berth login",
    override_usage = "berth login [OPTIONS] [SERVER]",
    about = "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified."
)]
struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    args: Vec<String>,
}

/// Reads one line from the terminal, without echo when `hidden`.
fn prompt(label: &str, hidden: bool) -> Result<String, Fail> {
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let stdin = std::io::stdin();
    // The terminal's settings, restored after a hidden read.
    let saved = if hidden {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        tcgetattr(std::io::stdin()).ok().inspect(|t| {
            let mut quiet = t.clone();
            quiet.local_flags.remove(LocalFlags::ECHO);
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &quiet);
        })
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &t);
        eprintln!();
    }
    read.map_err(|e| Fail::new(e.to_string(), 1))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// The registry a `login`/`logout` argument names (Docker Hub without one), its key in the
/// credential store, and the store.
fn registry_and_store(args: &[String]) -> Result<(String, String, ConfigFile), Fail> {
    let server = args
        .first()
        .cloned()
        .unwrap_or_else(|| DOCKER_HUB_KEY.to_string());
    let key = server_key(&server);
    let cfg = ConfigFile::load().map_err(|e| Fail::new(e, 1))?;
    Ok((server, key, cfg))
}

pub async fn login(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: LoginArgs = parse(args)?;
    arity::<LoginArgs>(&a.args, Arity::Max(1))?;
    let (server, key, mut cfg) = registry_and_store(&a.args)?;
    if a.password.is_some() && a.password_stdin {
        return Err(Fail::new(
            "--password and --password-stdin are mutually exclusive",
            1,
        ));
    }
    if a.password_stdin && a.username.is_none() {
        return Err(Fail::new(
            "Must provide --username with --password-stdin",
            1,
        ));
    }
    let tty = term::stdin_is_tty();
    let username = match a.username.clone() {
        Some(u) => u,
        None if tty => {
            let known = cfg.get(&key).map(|e| e.username).unwrap_or_default();
            let label = if known.is_empty() {
                "Username: ".to_string()
            } else {
                format!("Username ({known}): ")
            };
            let u = prompt(&label, false)?;
            if u.is_empty() {
                known
            } else {
                u
            }
        }
        None => {
            return Err(Fail::new(
                "Error: Cannot perform an interactive login from a non TTY device",
                1,
            ))
        }
    };
    if username.is_empty() {
        return Err(Fail::new("Error: Non-null Username Required", 1));
    }
    let password = if let Some(p) = a.password.clone() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if a.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut s)
            .map_err(|e| Fail::new(e.to_string(), 1))?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if tty {
        prompt("Password: ", true)?
    } else {
        return Err(Fail::new(
            "Error: Cannot perform an interactive login from a non TTY device",
            1,
        ));
    };
    if password.is_empty() {
        return Err(Fail::new("Error: Password Required", 1));
    }
    let token = ctx
        .client
        .login(&username, &password, &server)
        .await
        .map_err(|e| Fail::new(client_error_text(&e), 1))?;
    let entry = Entry {
        username,
        password: if token.is_some() {
            String::new()
        } else {
            password
        },
        identity_token: token.unwrap_or_default(),
    };
    cfg.store(&key, &entry).map_err(|e| Fail::new(e, 1))?;
    if !cfg.uses_helper(&key) {
        eprintln!(
            "\nWARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n",
            cfg.path.display()
        );
    }
    println!("Login Succeeded");
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "logout",
    bin_name = "berth logout",
    override_usage = "berth logout [SERVER]",
    about = "Log out from a registry.\nIf no server is specified, the default is defined by the daemon."
)]
struct LogoutArgs {
    args: Vec<String>,
}

pub async fn logout(_ctx: &Ctx, args: &[String]) -> CliResult {
    let a: LogoutArgs = parse(args)?;
    arity::<LogoutArgs>(&a.args, Arity::Max(1))?;
    let (_, key, mut cfg) = registry_and_store(&a.args)?;
    if cfg.get(&key).is_none() {
        println!("Not logged in to {key}");
        return Ok(0);
    }
    println!("Removing login credentials for {key}");
    cfg.erase(&key).map_err(|e| Fail::new(e, 1))?;
    Ok(0)
}
