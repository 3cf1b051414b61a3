//! Seccomp: Docker's default profile as data, its resolution per container, compilation
//! of an OCI `linux.seccomp` into a BPF program, and its installation in the child.
//!
//! Who does what:
//! - the daemon resolves a profile (Docker's default, `profiles/seccomp-default.json`,
//!   parsed once per process, or the user's) for the container's capabilities and
//!   architecture with [`default_for`] / [`load_profile`] and writes the result into
//!   config.json as `linux.seccomp`, as moby does;
//! - the monitor compiles it ([`compile`], ~0.1 ms for the default profile) before it
//!   clones the child ([`prepare`]), so the child does no allocation or parsing for it;
//! - the child installs it ([`install_prepared`]) with one `seccomp()` call.
//!
//! When the filter goes in (the order runc uses): loading a filter needs either
//! `no_new_privs` or CAP_SYS_ADMIN. With `no_new_privileges` set it is installed as
//! the very last step, after "go" and just before `execve`, so the process's own setup
//! is never constrained by it. Without it (Docker's default) the container usually has
//! no CAP_SYS_ADMIN once its capabilities are applied, so the filter is installed just
//! before the privilege drop (bounding set, setgroups/setuid, capset): every syscall the
//! child makes after that (prctl, setres[ug]id, capset, chdir, close_range, sendmsg,
//! recvmsg, execve) is allowed by Docker's profile, as it is for runc. A custom profile
//! that denies one of those fails the start, as it does with runc.
//!
//! No memo for [`compile`]: each monitor compiles exactly one profile, so a per-process
//! cache would never hit; the cost worth caching (parsing the 13 kB profile) is cached
//! in the daemon instead.

pub mod arch;
pub mod bpf;
pub mod profile;

pub use arch::Arch;
pub use profile::Profile;

use crate::error::RuntimeError;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompFilterFlag, Process};
use std::sync::{Mutex, OnceLock};

/// Docker's default profile (moby v28.2.2 `profiles/seccomp/default.json`, unchanged).
pub const DEFAULT_PROFILE_JSON: &str = include_str!("../../profiles/seccomp-default.json");

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile text is invalid (Docker's wording where it has one).
    #[error("{0}")]
    Profile(String),
    #[error("compile seccomp filter: {0}")]
    Compile(String),
    #[error("install seccomp filter: {0}")]
    Install(std::io::Error),
}

/// The parsed default profile, parsed once per process.
pub fn default_profile() -> &'static Profile {
    static P: OnceLock<Profile> = OnceLock::new();
    P.get_or_init(|| Profile::parse(DEFAULT_PROFILE_JSON).expect("the built-in profile parses"))
}

/// Docker's default profile for a container with this bounding set (`CAP_*` names) on
/// this architecture.
pub fn default_for(caps: &[String], arch: Arch) -> LinuxSeccomp {
    let t = profile::Target {
        caps,
        arch,
        kernel: profile::running_kernel(),
    };
    default_profile()
        .resolve(&t)
        .ok()
        .flatten()
        .expect("the built-in profile resolves")
}

/// A user's profile (the JSON text the docker CLI sends for `seccomp=<file>`), resolved
/// like the default one; `None` when it disables seccomp.
pub fn load_profile(
    text: &str,
    caps: &[String],
    arch: Arch,
) -> Result<Option<LinuxSeccomp>, SeccompError> {
    let t = profile::Target {
        caps,
        arch,
        kernel: profile::running_kernel(),
    };
    Profile::parse(text)?.resolve(&t)
}

/// A compiled filter, ready to load.
#[derive(Debug, Clone)]
pub struct Program {
    insns: Vec<bpf::Insn>,
    flags: u32,
}

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
const SECCOMP_FILTER_FLAG_LOG: u32 = 2;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 4;

impl Program {
    /// The instructions.
    pub fn instructions(&self) -> &[bpf::Insn] {
        &self.insns
    }

    /// Loads the filter into the calling thread (and, with TSYNC, its siblings). Needs
    /// `no_new_privs` or CAP_SYS_ADMIN.
    pub fn install(&self) -> Result<(), SeccompError> {
        let prog = libc::sock_fprog {
            len: self.insns.len() as libc::c_ushort,
            filter: self.insns.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `bpf::Insn` is `repr(C)` with the layout of `struct sock_filter`; the
        // program outlives the call, which copies it into the kernel.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(SeccompError::Install(std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// Compiles an OCI `linux.seccomp` for the architecture this binary runs on.
pub fn compile(sc: &LinuxSeccomp) -> Result<Program, SeccompError> {
    let native = Arch::native().ok_or_else(|| {
        SeccompError::Compile("seccomp is not supported on this architecture".into())
    })?;
    compile_for(sc, native)
}

/// Compiles an OCI `linux.seccomp` for a given native architecture.
pub fn compile_for(sc: &LinuxSeccomp, native: Arch) -> Result<Program, SeccompError> {
    let mut flags = 0;
    for f in sc.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        };
    }
    if sc.listener_path().is_some() {
        return Err(SeccompError::Compile(
            "seccomp notify listeners are not supported".into(),
        ));
    }
    Ok(Program {
        insns: bpf::compile(sc, native)?,
        flags,
    })
}

/// The filter the next child will install (set in the monitor before clone; the child
/// is a copy of the monitor, so it finds it here without any work).
static PREPARED: Mutex<Option<Program>> = Mutex::new(None);

/// In the monitor, before clone: compiles the spec's `linux.seccomp` (none: no filter).
/// An exec'd process has no spec here yet and runs without a filter (see the report in
/// the issue: the exec monitor needs the container's profile passed to it).
pub(crate) fn prepare(mode: &crate::container::Mode<'_>) -> Result<(), RuntimeError> {
    let sc = match mode {
        crate::container::Mode::Init { spec, .. } => {
            spec.linux().as_ref().and_then(|l| l.seccomp().as_ref())
        }
        crate::container::Mode::Exec { seccomp, .. } => *seccomp,
    };
    let prog = match sc {
        Some(sc) => Some(compile(sc).map_err(|e| RuntimeError::step("compile seccomp filter", e))?),
        None => None,
    };
    *PREPARED.lock().unwrap_or_else(|e| e.into_inner()) = prog;
    Ok(())
}

/// In the child: installs the prepared filter at the right point. Called twice: before
/// the privilege drop (`late == false`: installs unless `no_new_privs` is asked for) and
/// just before `execve` (`late == true`: installs when `no_new_privs` is set). See the
/// module documentation for why.
pub(crate) fn install_prepared(process: &Process, late: bool) -> Result<(), RuntimeError> {
    if (process.no_new_privileges() == Some(true)) != late {
        return Ok(());
    }
    let guard = PREPARED.lock().unwrap_or_else(|e| e.into_inner());
    match guard.as_ref() {
        Some(p) => p
            .install()
            .map_err(|e| RuntimeError::step("install seccomp filter", e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
