//! berth-runtime: OCI bundle in, isolated process out.
//!
//! Namespaces, rootfs and mounts, devices, cgroups v1 and v2, capabilities and ptys, plus
//! the per-container monitor (`berth monitor`) that owns the process's stdio, log and exit
//! status. The daemon never forks containers itself: it spawns a monitor, which is a fresh
//! single-threaded process (see docs/internals.md).

pub mod caps;
pub mod cgroups;
mod container;
pub mod defaults;
pub mod device_bpf;
pub mod error;
mod init_protocol;
pub mod logfile;
pub mod monitor;
pub mod oci;
pub mod protocol;
pub mod rootfs;
pub mod sealed_exe;
pub mod seccomp;
pub mod sys;
mod userns;

pub use container::StartError;
pub use error::RuntimeError;

/// The OCI spec types this runtime speaks, re-exported so callers use the same version.
pub use oci_spec;
