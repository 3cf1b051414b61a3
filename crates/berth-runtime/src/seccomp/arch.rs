//! Architectures a filter can cover and their syscall name → number tables.
//!
//! The tables come from the `syscalls` crate (generated from the kernel's own syscall
//! tables, one module per architecture), so a filter for aarch64 can be compiled and
//! tested on an x86_64 host and the other way round.

use std::str::FromStr;

/// `AUDIT_ARCH_*` values the kernel puts in `seccomp_data.arch`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// x32 syscalls arrive with `AUDIT_ARCH_X86_64` and this bit set in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// ARM's private syscalls (`__ARM_NR_BASE` + n), which the `syscalls` crate leaves out.
const ARM_PRIVATE: &[(&str, u32)] = &[
    ("breakpoint", 0x0f_0001),
    ("cacheflush", 0x0f_0002),
    ("usr26", 0x0f_0003),
    ("usr32", 0x0f_0004),
    ("set_tls", 0x0f_0005),
    ("get_tls", 0x0f_0006),
];

/// An architecture section of a compiled filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    X86,
    Aarch64,
    Arm,
}

impl Arch {
    /// The architecture this binary runs on, if a filter can be built for it.
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    /// The value of `seccomp_data.arch` for this architecture.
    pub fn audit(self) -> u32 {
        match self {
            Arch::X86_64 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
            Arch::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// The name moby's profile uses in `includes.arches` (libseccomp's names).
    pub fn profile_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::X86 => "x86",
            Arch::Aarch64 => "arm64",
            Arch::Arm => "arm",
        }
    }

    /// The OCI name (`SCMP_ARCH_*`).
    pub fn oci_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
            Arch::Arm => "SCMP_ARCH_ARM",
        }
    }

    /// Parses an OCI `SCMP_ARCH_*` name; `None` for architectures we cannot filter
    /// (`SCMP_ARCH_X32` included: x32 calls are denied by the x86_64 section instead).
    pub fn from_oci_name(name: &str) -> Option<Arch> {
        match name {
            "SCMP_ARCH_X86_64" => Some(Arch::X86_64),
            "SCMP_ARCH_X86" => Some(Arch::X86),
            "SCMP_ARCH_AARCH64" => Some(Arch::Aarch64),
            "SCMP_ARCH_ARM" => Some(Arch::Arm),
            _ => None,
        }
    }

    /// The syscall number of `name` on this architecture.
    pub fn syscall(self, name: &str) -> Option<u32> {
        let id = match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::from_str(name).ok().map(|s| s.id()),
            Arch::X86 => syscalls::x86::Sysno::from_str(name).ok().map(|s| s.id()),
            Arch::Aarch64 => syscalls::aarch64::Sysno::from_str(name)
                .ok()
                .map(|s| s.id()),
            Arch::Arm => syscalls::arm::Sysno::from_str(name)
                .ok()
                .map(|s| s.id())
                .or_else(|| {
                    ARM_PRIVATE
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, nr)| *nr as i32)
                }),
        };
        id.map(|i| i as u32)
    }

    /// The highest syscall number the table knows; anything above is newer than this
    /// build and answers ENOSYS (what runc does, so libc falls back to older calls).
    pub fn max_known(self) -> u32 {
        match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::last().id() as u32,
            Arch::X86 => syscalls::x86::Sysno::last().id() as u32,
            Arch::Aarch64 => syscalls::aarch64::Sysno::last().id() as u32,
            Arch::Arm => ARM_PRIVATE[ARM_PRIVATE.len() - 1].1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_know_the_usual_numbers() {
        assert_eq!(Arch::X86_64.syscall("read"), Some(0));
        assert_eq!(Arch::X86_64.syscall("clone3"), Some(435));
        assert_eq!(Arch::X86_64.syscall("personality"), Some(135));
        assert_eq!(Arch::Aarch64.syscall("clone3"), Some(435));
        assert_eq!(Arch::Aarch64.syscall("openat"), Some(56));
        assert_eq!(Arch::Aarch64.syscall("open"), None);
        assert_eq!(Arch::X86.syscall("socketcall"), Some(102));
        assert_eq!(Arch::Arm.syscall("set_tls"), Some(0x0f_0005));
        assert_eq!(Arch::X86_64.syscall("no_such_call"), None);
        assert!(Arch::X86_64.max_known() >= 435);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            Arch::native().unwrap().syscall("kexec_load"),
            Some(libc::SYS_kexec_load as u32)
        );
    }
}
