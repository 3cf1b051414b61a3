//! `cp`, `commit`, `diff`. `cp` does its path logic on the client, as docker's CLI does
//! (cli/command/container/cp.go with pkg/archive's CopyInfo rules): which directory the
//! daemon extracts into, and how entries are renamed so that `cp a b` makes `b`.

use super::super::{CliResult, Ctx, Fail};
use super::{arity, parse, Arity};
use berth_client::PathStat;
use clap::Parser;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "cp",
    bin_name = "berth cp",
    override_usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    about = "Copy files/folders between a container and the local filesystem"
)]
struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached
    #[arg(short = 'q', long)]
    quiet: bool,
    #[arg(allow_hyphen_values = true)]
    args: Vec<String>,
}

fn fail(msg: impl Into<String>) -> Fail {
    Fail::new(msg, 1)
}

/// Go's `filepath.Clean`.
fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let j = out.join("/");
    match (abs, j.is_empty()) {
        (true, _) => format!("/{j}"),
        (false, true) => ".".into(),
        (false, false) => j,
    }
}

/// Go's `filepath.Base`.
fn base(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Go's `filepath.Dir`.
fn dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(&p[..=i]),
        None => ".".into(),
    }
}

fn specifies_current_dir(p: &str) -> bool {
    base(p) == "."
}

fn has_trailing_sep(p: &str) -> bool {
    p.ends_with('/')
}

/// pkg/archive `SplitPathDirEntry`.
fn split_dir_entry(p: &str) -> (String, String) {
    let mut c = clean(p);
    if specifies_current_dir(p) {
        c.push_str("/.");
    }
    (dir(&c), base(&c))
}

/// `PreserveTrailingDotOrSeparator`.
fn preserve_trailing(cleaned: String, original: &str) -> String {
    let mut c = cleaned;
    if specifies_current_dir(original) && !specifies_current_dir(&c) {
        if !c.ends_with('/') {
            c.push('/');
        }
        c.push('.');
    }
    if has_trailing_sep(original) && !has_trailing_sep(&c) {
        c.push('/');
    }
    c
}

fn resolve_local(p: &str) -> Result<String, Fail> {
    let abs = if p.starts_with('/') {
        clean(p)
    } else {
        let cwd = std::env::current_dir().map_err(|e| fail(e.to_string()))?;
        clean(&format!("{}/{p}", cwd.display()))
    };
    Ok(preserve_trailing(abs, p))
}

/// `GetRebaseName`.
fn rebase_name(path: &str, resolved: &str) -> (String, Option<String>) {
    let mut r = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&r) {
        r.push_str("/.");
    }
    if has_trailing_sep(path) && !has_trailing_sep(&r) {
        r.push('/');
    }
    let rebase = (base(path) != base(&r)).then(|| base(path));
    (r, rebase)
}

/// `splitCpArg`.
fn split_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

struct Dest {
    path: String,
    exists: bool,
    is_dir: bool,
}

/// Decides where to extract and how to rename (`PrepareArchiveCopy`): returns the
/// directory to extract into and `Some(new base)` when entries must be renamed.
fn prepare(src_is_dir: bool, dst: &Dest) -> Result<(String, Option<String>), Fail> {
    let (dst_dir, dst_base) = split_dir_entry(&dst.path);
    if dst.exists && dst.is_dir {
        return Ok((dst.path.clone(), None));
    }
    if dst.exists && src_is_dir {
        return Err(fail("cannot copy directory"));
    }
    if !dst.exists
        && !src_is_dir
        && (has_trailing_sep(&dst.path) || specifies_current_dir(&dst.path))
    {
        return Err(fail("no such directory"));
    }
    Ok((dst_dir, Some(dst_base)))
}

/// `CopyInfoDestinationPath` on the host.
fn host_destination(path: &str) -> Result<Dest, Fail> {
    let mut p = path.to_string();
    for _ in 0..10 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let t = std::fs::read_link(&p).map_err(|e| fail(e.to_string()))?;
                let t = t.to_string_lossy().to_string();
                p = if t.starts_with('/') {
                    t
                } else {
                    clean(&format!("{}/{t}", split_dir_entry(&p).0))
                };
            }
            Ok(m) => {
                return Ok(Dest {
                    path: p,
                    exists: true,
                    is_dir: m.is_dir(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = split_dir_entry(&p).0;
                return match std::fs::metadata(&parent) {
                    Ok(m) if m.is_dir() => Ok(Dest {
                        path: p,
                        exists: false,
                        is_dir: false,
                    }),
                    Ok(_) => Err(fail("not a directory")),
                    Err(e) => Err(fail(format!("stat {parent}: {}", io_text(&e)))),
                };
            }
            Err(e) => return Err(fail(format!("lstat {p}: {}", io_text(&e)))),
        }
    }
    Err(fail(format!("too many symlinks in {path}")))
}

fn io_text(e: &std::io::Error) -> String {
    super::super::envfile::io_text(e)
}

fn size_text(n: u64) -> String {
    super::super::format::human::size_prec(n as f64, 3)
}

/// Counts what passes through.
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: std::io::Write> std::io::Write for Counting<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub async fn cp(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: CpArgs = parse(args)?;
    arity::<CpArgs>(&a.args, Arity::Exact(2))?;
    let (src, dst) = (&a.args[0], &a.args[1]);
    if src.is_empty() {
        return Err(fail("source can not be empty"));
    }
    if dst.is_empty() {
        return Err(fail("destination can not be empty"));
    }
    // Progress output only goes to a terminal, as docker's.
    let quiet = a.quiet || !std::io::stderr().is_terminal();
    match (split_arg(src), split_arg(dst)) {
        ((Some(_), _), (Some(_), _)) => Err(fail("copying between containers is not supported")),
        ((Some(c), sp), (None, dp)) => from_container(ctx, &a, quiet, c, sp, dp).await,
        ((None, sp), (Some(c), dp)) => to_container(ctx, &a, quiet, c, sp, dp).await,
        _ => Err(fail("must specify at least one container source")),
    }
}

async fn from_container(
    ctx: &Ctx,
    a: &CpArgs,
    quiet: bool,
    container: &str,
    src: &str,
    dst: &str,
) -> CliResult {
    let dst_path = if dst == "-" {
        "-".to_string()
    } else {
        resolve_local(dst)?
    };
    if dst_path != "-" {
        let d = dir(&clean(&dst_path));
        if !Path::new(&d).exists() {
            return Err(fail(format!(
                "invalid output path: directory {d:?} does not exist"
            )));
        }
    }
    let mut src_path = src.to_string();
    let mut rebase: Option<String> = None;
    if a.follow_link {
        if let Ok(st) = ctx.client.stat_container_path(container, &src_path).await {
            if st.is_symlink() {
                let mut lt = st.link_target.clone();
                if !lt.starts_with('/') {
                    lt = clean(&format!("{}/{lt}", dir(&src_path)));
                }
                let (p, r) = rebase_name(&src_path, &lt);
                src_path = p;
                rebase = r;
            }
        }
    }
    let (st, mut stream) = ctx.client.get_archive(container, &src_path).await?;
    if dst_path == "-" {
        let mut out = std::io::stdout().lock();
        stream.copy_to(&mut out).await?;
        return Ok(0);
    }
    let dest = host_destination(&dst_path)?;
    let (extract_dir, new_base) = prepare(st.is_dir(), &dest)?;
    let (_, src_base) = split_dir_entry(&src_path);
    let new = new_base.or(rebase);
    let rebase = new.map(|n| (src_base.into_bytes(), n.into_bytes()));
    let dir_fd = rustix::fs::open(
        Path::new(&extract_dir),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| fail(format!("open {extract_dir}: {e}")))?;
    let (reader, writer) = std::io::pipe()?;
    // A 1 MiB pipe instead of 64 KiB: far fewer hand-offs between this thread and the
    // extracting one (best effort; the size is capped by /proc/sys/fs/pipe-max-size).
    let _ = nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&writer),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20),
    );
    // Files land owned by whoever runs cp, as with docker (no lchown on the host).
    let owner = Some((
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    ));
    let worker = std::thread::spawn(move || {
        let opts = berth_image::unpack::ExtractOptions {
            owner,
            no_overwrite_dir_non_dir: true,
            map: None,
            rebase,
        };
        let r = berth_image::unpack::extract_into(std::io::BufReader::new(reader), dir_fd, opts);
        r.map(|_| ())
    });
    let mut w = Counting {
        inner: std::io::BufWriter::with_capacity(256 * 1024, writer),
        n: 0,
    };
    let copied = stream.copy_to(&mut w).await;
    let n = w.n;
    drop(w);
    let extracted = worker
        .join()
        .map_err(|_| fail("extraction thread panicked"))?;
    extracted.map_err(|e| fail(e.to_string()))?;
    copied?;
    if !quiet {
        eprintln!("Successfully copied {} to {dst_path}", size_text(n));
    }
    Ok(0)
}

/// `CopyInfoSourcePath`: the path to archive, whether it is a directory, the rename.
fn host_source(path: &str, follow: bool) -> Result<(String, bool, Option<String>), Fail> {
    let (resolved, rebase) = if follow {
        let r = std::fs::canonicalize(path)
            .map_err(|e| fail(format!("lstat {path}: {}", io_text(&e))))?;
        rebase_name(path, &r.to_string_lossy())
    } else {
        let (d, b) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        let rd = std::fs::canonicalize(if d.is_empty() { "." } else { d })
            .map_err(|e| fail(format!("lstat {path}: {}", io_text(&e))))?;
        let rd = rd.to_string_lossy().to_string();
        let r = if rd == "/" {
            format!("/{b}")
        } else {
            format!("{rd}/{b}")
        };
        let rebase = (has_trailing_sep(path) && base(path) != base(&r)).then(|| base(path));
        (r, rebase)
    };
    let m = std::fs::symlink_metadata(clean(&resolved))
        .map_err(|e| fail(format!("lstat {}: {}", clean(&resolved), io_text(&e))))?;
    Ok((resolved, m.is_dir(), rebase))
}

async fn to_container(
    ctx: &Ctx,
    a: &CpArgs,
    quiet: bool,
    container: &str,
    src: &str,
    dst: &str,
) -> CliResult {
    let mut dest = Dest {
        path: dst.to_string(),
        exists: false,
        is_dir: false,
    };
    let mut st: Option<PathStat> = ctx.client.stat_container_path(container, dst).await.ok();
    if let Some(s) = st.as_ref().filter(|s| s.is_symlink()) {
        let mut lt = s.link_target.clone();
        if !lt.starts_with('/') {
            lt = clean(&format!("{}/{lt}", split_dir_entry(dst).0));
        }
        dest.path = lt.clone();
        st = ctx.client.stat_container_path(container, &lt).await.ok();
    }
    if let Some(s) = &st {
        let why = if s.is_device() {
            Some("got a device")
        } else if s.is_irregular() {
            Some("got an irregular file")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(fail(format!(
                "destination \"{container}:{dst}\" must be a directory or a regular file: {why}"
            )));
        }
        dest.exists = true;
        dest.is_dir = s.is_dir();
    }
    let (target, body, counter) = if src == "-" {
        if !dest.is_dir {
            return Err(fail(format!(
                "destination \"{container}:{dst}\" must be a directory"
            )));
        }
        (
            dest.path.clone(),
            berth_client::body_from_reader(tokio::io::stdin()),
            None,
        )
    } else {
        let src_path = resolve_local(src)?;
        let (resolved, is_dir, src_rebase) = host_source(&src_path, a.follow_link)?;
        let (extract_dir, new_base) = prepare(is_dir, &dest)?;
        let (_, src_base) = split_dir_entry(&resolved);
        let contents = src_base == ".";
        let name = new_base.or(src_rebase).unwrap_or(src_base);
        let host_path = PathBuf::from(clean(&resolved));
        let (reader, writer) = std::io::pipe()?;
        let _ = nix::fcntl::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&writer),
            nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20),
        );
        let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c2 = count.clone();
        let worker = std::thread::spawn(move || {
            let mut w = Counting {
                inner: std::io::BufWriter::with_capacity(256 * 1024, writer),
                n: 0,
            };
            let r = berth_image::copy::write_host_tar(
                &host_path,
                contents,
                name.as_bytes().to_vec(),
                &mut w,
            );
            let _ = std::io::Write::flush(&mut w);
            c2.store(w.n, std::sync::atomic::Ordering::Relaxed);
            r.map(|_| ())
        });
        let file =
            tokio::fs::File::from_std(std::fs::File::from(std::os::fd::OwnedFd::from(reader)));
        (
            extract_dir,
            berth_client::body_from_reader(file),
            Some((worker, count)),
        )
    };
    let put = ctx
        .client
        .put_archive(container, &target, body, true, a.archive)
        .await;
    let n = match counter {
        Some((worker, count)) => {
            let r = worker.join().map_err(|_| fail("archive thread panicked"))?;
            put?;
            r.map_err(|e| fail(e.to_string()))?;
            count.load(std::sync::atomic::Ordering::Relaxed)
        }
        None => {
            put?;
            0
        }
    };
    if !quiet && src != "-" {
        eprintln!(
            "Successfully copied {} to {container}:{}",
            size_text(n),
            dest.path
        );
    }
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "commit",
    bin_name = "berth commit",
    override_usage = "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    about = "Create a new image from a container's changes"
)]
struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pause: bool,
    args: Vec<String>,
}

pub async fn commit(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: CommitArgs = parse(args)?;
    arity::<CommitArgs>(&a.args, Arity::Min(1))?;
    if a.args.len() > 2 {
        return Err(fail("berth: 'berth commit' requires at least 1 and at most 2 arguments\n\nUsage:  berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]\n\nSee 'berth commit --help' for more information"));
    }
    let (repo, tag) = match a.args.get(1) {
        Some(r) => super::run::split_tag(r),
        None => (String::new(), None),
    };
    let o = berth_client::CommitOptions {
        repo: (!repo.is_empty()).then_some(repo),
        tag,
        comment: a.message.clone(),
        author: a.author.clone(),
        pause: a.pause,
        changes: a.change.clone(),
    };
    let id = ctx.client.commit_container(&a.args[0], &o).await?;
    println!("{id}");
    Ok(0)
}

#[derive(Parser)]
#[command(
    name = "diff",
    bin_name = "berth diff",
    override_usage = "berth diff CONTAINER",
    about = "Inspect changes to files or directories on a container's filesystem"
)]
struct DiffArgs {
    args: Vec<String>,
}

pub async fn diff(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: DiffArgs = parse(args)?;
    arity::<DiffArgs>(&a.args, Arity::Exact(1))?;
    let mut out = String::new();
    for c in ctx.client.container_changes(&a.args[0]).await? {
        let k = match c.kind {
            0 => 'C',
            1 => 'A',
            _ => 'D',
        };
        out.push_str(&format!("{k} {}\n", c.path));
    }
    print!("{out}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_helpers() {
        assert_eq!(split_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a"), ("/".into(), "a".into()));
        assert_eq!(preserve_trailing(clean("/x/y/."), "/x/y/."), "/x/y/.");
        assert_eq!(split_arg("c1:/etc"), (Some("c1"), "/etc"));
        assert_eq!(split_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(
            rebase_name("/a/link/", "/a/target"),
            ("/a/target/".into(), Some("link".into()))
        );
    }
}
