//! Prints what seccomp costs a container start: resolving Docker's default profile for a
//! bounding set, compiling it to BPF, installing it, and what it adds to one syscall.
//! A benchmark, not a test: `bench/seccomp.sh` runs it (release build); no assertions.

use berth_runtime::seccomp::{self, Arch};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f());
        v.push(t.elapsed());
    }
    median(v)
}

/// In a forked child: optional NNP+install, then `n` getppid calls; returns ns per
/// install and ns per syscall through the pipe.
fn in_child(prog: Option<&seccomp::Program>, n: u32) -> (u64, u64) {
    let (r, w) = nix::unistd::pipe().expect("pipe");
    // SAFETY: fork in a single-threaded benchmark; the child only computes, writes a
    // pipe and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let t = Instant::now();
        if let Some(p) = prog {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            p.install().expect("install");
        }
        let install = t.elapsed().as_nanos() as u64;
        let t = Instant::now();
        for _ in 0..n {
            // SAFETY: getppid has no arguments and no side effects.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        let per = t.elapsed().as_nanos() as u64 / n as u64;
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&install.to_le_bytes());
        b[8..].copy_from_slice(&per.to_le_bytes());
        let _ = nix::unistd::write(&w, &b);
        // SAFETY: leave the forked child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    drop(w);
    let mut b = [0u8; 16];
    let _ = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut b);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    (
        u64::from_le_bytes(b[..8].try_into().unwrap()),
        u64::from_le_bytes(b[8..].try_into().unwrap()),
    )
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let arch = Arch::native().expect("x86_64 or aarch64");
    let caps: Vec<String> = berth_runtime::defaults::DEFAULT_CAPS
        .iter()
        .map(|c| c.to_string())
        .collect();
    let t = Instant::now();
    let _ = seccomp::default_profile();
    let parse = t.elapsed();
    let resolve = time(runs, || seccomp::default_for(&caps, arch));
    let sc = seccomp::default_for(&caps, arch);
    let json = serde_json::to_string(&sc).unwrap();
    let from_json = time(runs, || {
        serde_json::from_str::<berth_runtime::oci_spec::runtime::LinuxSeccomp>(&json).unwrap()
    });
    let compile = time(runs, || seccomp::compile(&sc).unwrap());
    let prog = seccomp::compile(&sc).unwrap();
    let mut installs = Vec::new();
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..20 {
        let (i, per) = in_child(Some(&prog), 200_000);
        installs.push(Duration::from_nanos(i));
        with.push(Duration::from_nanos(per));
        without.push(Duration::from_nanos(in_child(None, 200_000).1));
    }
    println!("seccomp (Docker default profile, {arch:?}, {runs} runs, medians)");
    println!(
        "  parse profile JSON (once per daemon)     {:>9.1} µs",
        parse.as_secs_f64() * 1e6
    );
    println!(
        "  resolve for 14 default caps (daemon)     {:>9.1} µs",
        resolve.as_secs_f64() * 1e6
    );
    println!(
        "  parse linux.seccomp from config.json     {:>9.1} µs",
        from_json.as_secs_f64() * 1e6
    );
    println!(
        "  compile to BPF (monitor, per start)      {:>9.1} µs",
        compile.as_secs_f64() * 1e6
    );
    println!(
        "  program size                             {:>9} insns",
        prog.instructions().len()
    );
    println!(
        "  install (child, NNP + seccomp())         {:>9.1} µs",
        median(installs).as_secs_f64() * 1e6
    );
    println!(
        "  getppid without / with filter            {:>5} / {} ns",
        median(without).as_nanos(),
        median(with).as_nanos()
    );
}
