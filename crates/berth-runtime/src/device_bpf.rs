//! Device allow-list enforcement on cgroup v2: an eBPF `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program compiled from the spec's `linux.resources.devices`, attached to the
//! container's cgroup with `BPF_CGROUP_DEVICE` (what runc and crun do).
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! where `access_type = (access << 16) | type` and returns 1 (allow) or 0 (deny).
//!
//! Semantics match cgroup v1's devices controller: rules apply in order, so the last
//! matching rule decides; anything no rule covers is denied. Each access bit (m, r, w) is
//! resolved on its own, so `allow c 1:5 rwm` followed by `deny c 1:5 w` denies an
//! `O_RDWR` open but allows `O_RDONLY` (runc gets the same result from its v1 emulator).
//! The program walks the rules from the last to the first, keeping the access bits not yet
//! decided in R6: a matching deny rule that covers a pending bit denies; a matching allow
//! rule clears the bits it covers and allows once none is left; at the end, deny.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// `BPF_DEVCG_DEV_BLOCK`.
pub const DEV_BLOCK: u32 = 1;
/// `BPF_DEVCG_DEV_CHAR`.
pub const DEV_CHAR: u32 = 2;
/// `BPF_DEVCG_ACC_MKNOD`.
pub const ACC_MKNOD: u32 = 1;
/// `BPF_DEVCG_ACC_READ`.
pub const ACC_READ: u32 = 2;
/// `BPF_DEVCG_ACC_WRITE`.
pub const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Name the loaded program carries (visible in `bpftool prog`).
const PROG_NAME: &[u8] = b"berth_devices";
const LICENSE: &[u8] = b"Apache\0";

// Opcodes: class | op | source.
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Jump offset or memory offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The kernel's 8-byte encoding (little-endian bitfields: dst in the low nibble).
    pub fn encode(&self) -> u64 {
        let regs = if cfg!(target_endian = "little") {
            (self.dst & 0xf) | ((self.src & 0xf) << 4)
        } else {
            ((self.dst & 0xf) << 4) | (self.src & 0xf)
        };
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = regs;
        b[2..4].copy_from_slice(&self.off.to_ne_bytes());
        b[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        u64::from_ne_bytes(b)
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// A major/minor as a jump immediate; `None` (or negative) is the wildcard.
fn number(v: Option<i64>, what: &str) -> io::Result<Option<i32>> {
    match v {
        None => Ok(None),
        Some(v) if v < 0 => Ok(None),
        Some(v) => i32::try_from(v)
            .map(Some)
            .map_err(|_| invalid(format!("device cgroup rule: {what} {v} out of range"))),
    }
}

/// Compiles OCI device cgroup rules into a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
pub fn compile(rules: &[LinuxDeviceCgroup]) -> io::Result<Vec<Insn>> {
    let mut p = vec![
        // R2 <- type (low 16 bits of access_type)
        Insn::new(LDX_MEM_W, 2, 1, 0, 0),
        Insn::new(ALU32_AND_K, 2, 0, 0, 0xffff),
        // R3 <- access (high 16 bits of access_type)
        Insn::new(LDX_MEM_W, 3, 1, 0, 0),
        Insn::new(ALU32_RSH_K, 3, 0, 0, 16),
        // R4 <- major, R5 <- minor
        Insn::new(LDX_MEM_W, 4, 1, 4, 0),
        Insn::new(LDX_MEM_W, 5, 1, 8, 0),
        // R6 <- access bits still undecided
        Insn::new(ALU32_MOV_X, 6, 3, 0, 0),
    ];
    for rule in rules.iter().rev() {
        let ty = match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => None,
            LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
            LinuxDeviceType::B => Some(DEV_BLOCK),
            // A FIFO is no device: the devices controller never asks about one.
            LinuxDeviceType::P => continue,
        };
        let major = number(rule.major(), "major")?;
        let minor = number(rule.minor(), "minor")?;
        let mut acc = 0u32;
        for c in rule.access().as_deref().unwrap_or("rwm").chars() {
            acc |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => return Err(invalid(format!("device cgroup rule: unknown access {c:?}"))),
            };
        }
        if acc == 0 {
            continue;
        }
        // Jumps hold placeholder offsets: every one goes to the next block.
        let mut b = Vec::new();
        if let Some(t) = ty {
            b.push(Insn::new(JMP_JNE_K, 2, 0, 0, t as i32));
        }
        if let Some(m) = major {
            b.push(Insn::new(JMP_JNE_K, 4, 0, 0, m));
        }
        if let Some(m) = minor {
            b.push(Insn::new(JMP_JNE_K, 5, 0, 0, m));
        }
        // if (R6 & acc) == 0 goto next  (R1 is free once the context is read)
        b.push(Insn::new(ALU32_MOV_X, 1, 6, 0, 0));
        b.push(Insn::new(ALU32_AND_K, 1, 0, 0, acc as i32));
        b.push(Insn::new(JMP_JEQ_K, 1, 0, 0, 0));
        if rule.allow() {
            // R6 &= ~acc; if R6 != 0 goto next; return 1
            b.push(Insn::new(ALU32_AND_K, 6, 0, 0, (ACC_ALL & !acc) as i32));
            b.push(Insn::new(JMP_JNE_K, 6, 0, 0, 0));
            b.push(Insn::new(ALU32_MOV_K, 0, 0, 0, 1));
        } else {
            b.push(Insn::new(ALU32_MOV_K, 0, 0, 0, 0));
        }
        b.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
        let len = b.len();
        for (i, insn) in b.iter_mut().enumerate() {
            if insn.code == JMP_JNE_K || insn.code == JMP_JEQ_K {
                insn.off = i16::try_from(len - i - 1).expect("short block");
            }
        }
        p.extend(b);
    }
    p.push(Insn::new(ALU32_MOV_K, 0, 0, 0, 0));
    p.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
    if p.len() > 4096 {
        return Err(invalid(format!(
            "device cgroup rules: program of {} instructions is too long",
            p.len()
        )));
    }
    Ok(p)
}

// bpf(2) commands, program type, attach type, flags.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Calls bpf(2) with `attr`; returns its non-negative result.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` prefix of `union bpf_attr`
    // for `cmd`, and its exact size is passed; the kernel reads (and for QUERY writes)
    // within that size only. Pointers inside it are set by the callers to buffers that
    // outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` is a file descriptor bpf(2) just returned to us; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn load(insns: &[Insn]) -> io::Result<OwnedFd> {
    let code: Vec<u64> = insns.iter().map(Insn::encode).collect();
    let mut name = [0u8; 16];
    name[..PROG_NAME.len()].copy_from_slice(PROG_NAME);
    let attr = |log: &mut [u8], level: u32| ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: code.len() as u32,
        insns: code.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        log_level: level,
        log_size: log.len() as u32,
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr(&mut [], 0)) {
        Ok(fd) => Ok(owned(fd)),
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EACCES) =>
        {
            // Load again with the verifier log for a useful message.
            let mut log = vec![0u8; 64 * 1024];
            let r = bpf(BPF_PROG_LOAD, &mut attr(&mut log, 1));
            if let Ok(fd) = r {
                return Ok(owned(fd));
            }
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            Err(io::Error::new(
                e.kind(),
                format!("loading device cgroup program: {e}: {}", text.trim()),
            ))
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("loading device cgroup program: {e}"),
        )),
    }
}

fn query(cg: &OwnedFd) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut a = QueryAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut a)?;
    ids.truncate((a.prog_cnt as usize).min(64));
    Ok(ids)
}

fn open_dir(cgroup_dir: &Path) -> io::Result<OwnedFd> {
    Ok(std::fs::File::open(cgroup_dir)?.into())
}

/// Whether `dir` is on a cgroup2 filesystem (false for the fake trees unit tests use).
#[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
pub fn on_cgroup2(dir: &Path) -> bool {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    matches!(nix::sys::statfs::statfs(dir),
        Ok(s) if s.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC)
}

/// IDs of the device programs attached directly to a cgroup v2 directory.
pub fn attached_programs(cgroup_dir: &Path) -> io::Result<Vec<u32>> {
    query(&open_dir(cgroup_dir)?)
}

/// Compiles `rules`, loads the program and attaches it to the cgroup v2 directory
/// `cgroup_dir` (`BPF_F_ALLOW_MULTI`), then detaches the device programs attached there
/// before (a `docker update`, or a restart), so the cgroup is never without a filter.
pub fn load_and_attach(cgroup_dir: &Path, rules: &[LinuxDeviceCgroup]) -> io::Result<()> {
    let insns = compile(rules)?;
    let cg = open_dir(cgroup_dir)?;
    let old = query(&cg)?;
    let prog = load(&insns)?;
    let mut a = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut a).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("attaching device program to {}: {e}", cgroup_dir.display()),
        )
    })?;
    for id in old {
        let mut g = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let old_fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut g) {
            Ok(fd) => owned(fd),
            // Detached and freed meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        let mut d = AttachAttr {
            target_fd: cg.as_raw_fd() as u32,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: 0,
        };
        match bpf(BPF_PROG_DETACH, &mut d) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("detaching old device program {id}: {e}"),
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `prog` over a `bpf_cgroup_dev_ctx`; supports exactly the instructions
    /// `compile` emits and panics on anything else.
    fn run(prog: &[Insn], ctx: [u32; 3]) -> u64 {
        let mut r = [0u64; 11];
        let mut init = [false; 11];
        init[1] = true;
        let mut pc = 0usize;
        for _ in 0..100_000 {
            let i = prog[pc];
            let (d, s) = (i.dst as usize, i.src as usize);
            pc += 1;
            let k = i.imm as u32;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    assert!(i.off >= 0 && i.off % 4 == 0 && i.off < 12);
                    r[d] = ctx[i.off as usize / 4] as u64;
                    init[d] = true;
                }
                ALU32_AND_K => {
                    assert!(init[d]);
                    r[d] = (r[d] as u32 & k) as u64;
                }
                ALU32_RSH_K => {
                    assert!(init[d]);
                    r[d] = ((r[d] as u32) >> k) as u64;
                }
                ALU32_MOV_K => {
                    r[d] = k as u64;
                    init[d] = true;
                }
                ALU32_MOV_X => {
                    assert!(init[s]);
                    r[d] = r[s] as u32 as u64;
                    init[d] = true;
                }
                JMP_JEQ_K | JMP_JNE_K => {
                    assert!(init[d]);
                    let eq = r[d] == i.imm as i64 as u64;
                    if eq == (i.code == JMP_JEQ_K) {
                        pc = (pc as i64 + i.off as i64) as usize;
                    }
                }
                JMP_EXIT => {
                    assert!(init[0]);
                    return r[0];
                }
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
        panic!("program does not terminate");
    }

    fn rule(
        allow: bool,
        t: &str,
        maj: Option<i64>,
        min: Option<i64>,
        acc: &str,
    ) -> LinuxDeviceCgroup {
        let mut v = serde_json::json!({"allow": allow, "access": acc});
        if t != "-" {
            v["type"] = t.into();
        }
        if let Some(m) = maj {
            v["major"] = m.into();
        }
        if let Some(m) = min {
            v["minor"] = m.into();
        }
        serde_json::from_value(v).unwrap()
    }

    fn acc(s: &str) -> u32 {
        s.chars()
            .map(|c| match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => unreachable!(),
            })
            .sum()
    }

    fn verdict(rules: &[LinuxDeviceCgroup], ty: u32, maj: u32, min: u32, a: &str) -> bool {
        let p = compile(rules).unwrap();
        match run(&p, [(acc(a) << 16) | ty, maj, min]) {
            0 => false,
            1 => true,
            v => panic!("bad return {v}"),
        }
    }

    /// (rules, type, major, minor, access, allowed?)
    type Row<'a> = (&'a [LinuxDeviceCgroup], u32, u32, u32, &'a str, bool);

    #[test]
    fn verdict_table() {
        let docker = vec![
            rule(false, "-", None, None, "rwm"),
            rule(true, "c", None, None, "m"),
            rule(true, "b", None, None, "m"),
            rule(true, "c", Some(1), Some(3), "rwm"),
            rule(true, "c", Some(1), Some(5), "rwm"),
            rule(true, "c", Some(136), None, "rwm"),
        ];
        let only = vec![
            rule(true, "c", Some(1), Some(3), "rwm"),
            rule(true, "c", Some(1), Some(5), "r"),
        ];
        let allow_all_but = vec![
            rule(true, "a", None, None, "rwm"),
            rule(false, "b", Some(8), None, "rwm"),
            rule(false, "c", Some(1), Some(7), "w"),
        ];
        let hole = vec![
            rule(true, "c", Some(1), Some(5), "rwm"),
            rule(false, "c", Some(1), Some(5), "w"),
        ];
        let reallow = vec![
            rule(false, "c", Some(1), Some(5), "rwm"),
            rule(true, "c", Some(1), None, "r"),
        ];
        let split = vec![
            rule(true, "c", Some(1), Some(5), "r"),
            rule(true, "c", Some(1), Some(5), "w"),
        ];
        let reset = vec![
            rule(true, "c", Some(1), Some(3), "rwm"),
            rule(false, "a", None, None, "rwm"),
        ];
        let (c, b) = (DEV_CHAR, DEV_BLOCK);
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            (&[], c, 1, 3, "r", false),
            (&docker, c, 1, 3, "rw", true),
            (&docker, c, 1, 5, "rwm", true),
            (&docker, c, 1, 7, "r", false),
            (&docker, c, 1, 7, "m", true),
            (&docker, b, 8, 0, "m", true),
            (&docker, b, 8, 0, "r", false),
            (&docker, b, 1, 3, "r", false),
            (&docker, c, 136, 4, "rw", true),
            (&docker, c, 137, 4, "rw", false),
            (&only, c, 1, 3, "rw", true),
            (&only, c, 1, 3, "m", true),
            (&only, c, 1, 5, "r", true),
            (&only, c, 1, 5, "w", false),
            (&only, c, 1, 5, "rw", false),
            (&only, c, 1, 5, "m", false),
            (&only, c, 1, 7, "r", false),
            (&only, b, 1, 3, "r", false),
            (&allow_all_but, b, 8, 1, "r", false),
            (&allow_all_but, b, 9, 1, "r", true),
            (&allow_all_but, c, 8, 1, "rw", true),
            (&allow_all_but, c, 1, 7, "r", true),
            (&allow_all_but, c, 1, 7, "w", false),
            (&allow_all_but, c, 1, 7, "rw", false),
            (&hole, c, 1, 5, "r", true),
            (&hole, c, 1, 5, "rw", false),
            (&hole, c, 1, 5, "m", true),
            (&reallow, c, 1, 5, "r", true),
            (&reallow, c, 1, 5, "w", false),
            (&reallow, c, 1, 9, "r", true),
            (&split, c, 1, 5, "rw", true),
            (&split, c, 1, 5, "rwm", false),
            (&reset, c, 1, 3, "r", false),
        ];
        for (i, (rules, ty, maj, min, a, want)) in table.iter().enumerate() {
            assert_eq!(
                verdict(rules, *ty, *maj, *min, a),
                *want,
                "row {i}: {ty} {maj}:{min} {a}"
            );
        }
    }

    #[test]
    fn rejects_bad_rules() {
        assert!(compile(&[rule(true, "c", Some(1), None, "x")]).is_err());
        assert!(compile(&[rule(true, "c", Some(1 << 40), None, "r")]).is_err());
        // Negative numbers are wildcards, as in runc.
        assert!(verdict(
            &[rule(true, "c", Some(-1), Some(-1), "r")],
            DEV_CHAR,
            4,
            4,
            "r"
        ));
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn encoding() {
        let i = Insn::new(LDX_MEM_W, 4, 1, 4, 0);
        let b = i.encode().to_ne_bytes();
        assert_eq!(b, [0x61, 0x14, 4, 0, 0, 0, 0, 0]);
        let j = Insn::new(JMP_JNE_K, 2, 0, -2, 2).encode().to_ne_bytes();
        assert_eq!(j, [0x55, 0x02, 0xfe, 0xff, 2, 0, 0, 0]);
    }
}
