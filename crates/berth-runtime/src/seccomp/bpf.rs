//! OCI `LinuxSeccomp` → classic BPF program for `seccomp(SECCOMP_SET_MODE_FILTER)`.
//!
//! Why our own generator and not `seccompiler`: seccompiler gives one filter a single
//! "match" action, while a Docker profile mixes actions per syscall (`clone3` →
//! `ERRNO(ENOSYS)` next to hundreds of `ALLOW`s, custom profiles with `LOG`/`TRAP`/
//! `ERRNO(n)` per rule); it also builds one architecture per filter, where Docker's
//! profile covers the native ABI and its compat ABI (x86 on x86_64, arm on aarch64) in
//! one program. The code below is small, its output is checked by the interpreter in
//! the tests, and it compiles Docker's default profile in ~0.1 ms (see
//! `bench/seccomp.sh`), so nothing is gained by a dependency.
//!
//! Program layout (the same shape libseccomp emits):
//!
//! ```text
//!   ld  arch
//!   jeq AUDIT_ARCH_<a>  → section a          (one per architecture)
//!   ret KILL_PROCESS                          (any other ABI)
//! section a:
//!   ld  nr
//!   [x86_64] jge 0x40000000 → ret default    (x32 ABI: denied)
//!   jgt max_known → ret ERRNO(ENOSYS)         (newer than our tables, as runc does)
//!   binary search on nr → per-syscall block: conditional rules in profile order, each
//!   a chain of 32-bit halves compared against the 64-bit argument, then the
//!   unconditional action, else the default action.
//! ```

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::SeccompError;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use std::collections::BTreeMap;

/// One classic BPF instruction; the layout of the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

pub const RET_KILL_THREAD: u32 = 0x0000_0000;
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// Offsets in `struct seccomp_data` (little-endian: the low half of an argument first).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_lo(i: usize) -> u32 {
    16 + 8 * i as u32
}
const fn off_arg_hi(i: usize) -> u32 {
    20 + 8 * i as u32
}

/// The largest program the kernel loads (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;

/// Syscall numbers handled by a linear chain rather than split further.
const LEAF: usize = 6;

#[derive(Clone, Copy)]
enum Target {
    Next,
    Label(usize),
}

enum Op {
    Insn {
        code: u16,
        k: u32,
        jt: Target,
        jf: Target,
    },
    Label(usize),
}

/// An assembler with symbolic labels.
#[derive(Default)]
struct Asm {
    ops: Vec<Op>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn bind(&mut self, l: usize) {
        self.ops.push(Op::Label(l));
    }
    fn stmt(&mut self, code: u16, k: u32) {
        self.ops.push(Op::Insn {
            code,
            k,
            jt: Target::Next,
            jf: Target::Next,
        });
    }
    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.ops.push(Op::Insn { code, k, jt, jf });
    }
    fn ja(&mut self, l: usize) {
        self.jump(JA, 0, Target::Label(l), Target::Next);
    }
    fn ret(&mut self, v: u32) {
        self.stmt(RET_K, v);
    }

    fn finish(self) -> Result<Vec<Insn>, SeccompError> {
        let mut pos = vec![usize::MAX; self.labels];
        let mut pc = 0;
        for op in &self.ops {
            match op {
                Op::Label(l) => pos[*l] = pc,
                Op::Insn { .. } => pc += 1,
            }
        }
        let mut out = Vec::with_capacity(pc);
        for op in &self.ops {
            let Op::Insn { code, k, jt, jf } = op else {
                continue;
            };
            let here = out.len();
            let off = |t: &Target| -> Result<u32, SeccompError> {
                match t {
                    Target::Next => Ok(0),
                    Target::Label(l) => pos[*l]
                        .checked_sub(here + 1)
                        .map(|d| d as u32)
                        .ok_or_else(|| SeccompError::Compile("backward jump".into())),
                }
            };
            let (t, f) = (off(jt)?, off(jf)?);
            let insn = if *code == JA {
                Insn {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: t,
                }
            } else {
                if t > 255 || f > 255 {
                    return Err(SeccompError::Compile(
                        "conditional jump too far (too many rules for one syscall)".into(),
                    ));
                }
                Insn {
                    code: *code,
                    jt: t as u8,
                    jf: f as u8,
                    k: *k,
                }
            };
            out.push(insn);
        }
        if out.len() > MAX_INSNS {
            return Err(SeccompError::Compile(format!(
                "program has {} instructions, more than the kernel's {MAX_INSNS}",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// The return value for an action.
fn ret_value(action: LinuxSeccompAction, errno: Option<u32>) -> Result<u32, SeccompError> {
    let errno = errno.unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | errno,
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | errno,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Compile(
                "SCMP_ACT_NOTIFY is not supported".into(),
            ))
        }
    })
}

/// One rule for one syscall number: all conditions must hold.
struct Rule {
    conds: Vec<(usize, LinuxSeccompOperator, u64, u64)>,
    ret: u32,
}

/// Compiles a resolved profile into a program for the given architectures (the native
/// one is always included, as libseccomp does).
pub fn compile(sc: &LinuxSeccomp, native: Arch) -> Result<Vec<Insn>, SeccompError> {
    let mut arches = vec![native];
    for a in sc.architectures().iter().flatten() {
        let name = serde_json::to_value(a)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if let Some(a) = Arch::from_oci_name(&name) {
            if !arches.contains(&a) {
                arches.push(a);
            }
        }
    }
    let default = ret_value(sc.default_action(), sc.default_errno_ret())?;
    let enosys = RET_ERRNO | libc::ENOSYS as u32;

    let mut asm = Asm::default();
    asm.stmt(LD_W_ABS, OFF_ARCH);
    let sections: Vec<usize> = arches.iter().map(|_| asm.label()).collect();
    for (a, l) in arches.iter().zip(&sections) {
        let skip = asm.label();
        asm.jump(JEQ_K, a.audit(), Target::Next, Target::Label(skip));
        asm.ja(*l);
        asm.bind(skip);
    }
    asm.ret(RET_KILL_PROCESS);

    for (arch, label) in arches.iter().zip(sections) {
        asm.bind(label);
        let rules = rules_for(sc, *arch)?;
        asm.stmt(LD_W_ABS, OFF_NR);
        if *arch == Arch::X86_64 {
            let native = asm.label();
            asm.jump(JGE_K, X32_SYSCALL_BIT, Target::Next, Target::Label(native));
            asm.ret(default);
            asm.bind(native);
        }
        if !matches!(
            sc.default_action(),
            LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
        ) {
            let cont = asm.label();
            asm.jump(JGT_K, arch.max_known(), Target::Next, Target::Label(cont));
            asm.ret(enosys);
            asm.bind(cont);
        }
        let entries: Vec<(u32, Vec<Rule>)> = rules.into_iter().collect();
        tree(&mut asm, &entries, default)?;
    }
    asm.finish()
}

/// Groups the rules by syscall number for one architecture; unknown names are skipped
/// (as runc does: a profile names syscalls of every architecture).
fn rules_for(sc: &LinuxSeccomp, arch: Arch) -> Result<BTreeMap<u32, Vec<Rule>>, SeccompError> {
    let mut map: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    for s in sc.syscalls().iter().flatten() {
        let ret = ret_value(s.action(), s.errno_ret())?;
        let mut conds = Vec::new();
        for a in s.args().iter().flatten() {
            if a.index() > 5 {
                return Err(SeccompError::Compile(format!(
                    "argument index {} out of range for {:?}",
                    a.index(),
                    s.names()
                )));
            }
            conds.push((a.index(), a.op(), a.value(), a.value_two().unwrap_or(0)));
        }
        for name in s.names() {
            if let Some(nr) = arch.syscall(name) {
                map.entry(nr).or_default().push(Rule {
                    conds: conds.clone(),
                    ret,
                });
            }
        }
    }
    Ok(map)
}

/// Binary search over sorted syscall numbers (the accumulator holds the number).
fn tree(asm: &mut Asm, entries: &[(u32, Vec<Rule>)], default: u32) -> Result<(), SeccompError> {
    if entries.len() <= LEAF {
        for (nr, rules) in entries {
            let skip = asm.label();
            asm.jump(JEQ_K, *nr, Target::Next, Target::Label(skip));
            block(asm, rules, default);
            asm.bind(skip);
        }
        asm.ret(default);
        return Ok(());
    }
    let mid = entries.len() / 2;
    let right = asm.label();
    let left = asm.label();
    asm.jump(JGE_K, entries[mid].0, Target::Next, Target::Label(left));
    asm.ja(right);
    asm.bind(left);
    tree(asm, &entries[..mid], default)?;
    asm.bind(right);
    tree(asm, &entries[mid..], default)
}

/// The code for one syscall: conditional rules in order, then the unconditional one.
/// Every path ends in `ret`; the accumulator is clobbered.
fn block(asm: &mut Asm, rules: &[Rule], default: u32) {
    for r in rules.iter().filter(|r| !r.conds.is_empty()) {
        let fail = asm.label();
        for &(i, op, v, v2) in &r.conds {
            cond(asm, i, op, v, v2, fail);
        }
        asm.ret(r.ret);
        asm.bind(fail);
    }
    let last = rules
        .iter()
        .find(|r| r.conds.is_empty())
        .map_or(default, |r| r.ret);
    asm.ret(last);
}

/// Falls through when `arg[i] op value` holds (64-bit, unsigned), jumps to `fail` else.
fn cond(asm: &mut Asm, i: usize, op: LinuxSeccompOperator, v: u64, v2: u64, fail: usize) {
    use LinuxSeccompOperator as O;
    let (hi, lo) = ((v >> 32) as u32, v as u32);
    let pass = asm.label();
    let f = Target::Label(fail);
    let p = Target::Label(pass);
    let n = Target::Next;
    match op {
        O::ScmpCmpEq => {
            asm.stmt(LD_W_ABS, off_arg_hi(i));
            asm.jump(JEQ_K, hi, n, f);
            asm.stmt(LD_W_ABS, off_arg_lo(i));
            asm.jump(JEQ_K, lo, n, f);
        }
        O::ScmpCmpNe => {
            asm.stmt(LD_W_ABS, off_arg_hi(i));
            asm.jump(JEQ_K, hi, n, p);
            asm.stmt(LD_W_ABS, off_arg_lo(i));
            asm.jump(JEQ_K, lo, f, n);
        }
        O::ScmpCmpGt | O::ScmpCmpGe => {
            asm.stmt(LD_W_ABS, off_arg_hi(i));
            asm.jump(JGT_K, hi, p, n);
            asm.jump(JEQ_K, hi, n, f);
            asm.stmt(LD_W_ABS, off_arg_lo(i));
            let code = if op == O::ScmpCmpGt { JGT_K } else { JGE_K };
            asm.jump(code, lo, n, f);
        }
        O::ScmpCmpLt | O::ScmpCmpLe => {
            asm.stmt(LD_W_ABS, off_arg_hi(i));
            asm.jump(JGE_K, hi, n, p);
            asm.jump(JEQ_K, hi, n, f);
            asm.stmt(LD_W_ABS, off_arg_lo(i));
            let code = if op == O::ScmpCmpLt { JGE_K } else { JGT_K };
            asm.jump(code, lo, f, n);
        }
        O::ScmpCmpMaskedEq => {
            // OCI: `value` is the mask, `valueTwo` what the masked argument must equal.
            let (mhi, mlo) = ((v >> 32) as u32, v as u32);
            let (whi, wlo) = ((v2 >> 32) as u32, v2 as u32);
            asm.stmt(LD_W_ABS, off_arg_hi(i));
            asm.stmt(ALU_AND_K, mhi);
            asm.jump(JEQ_K, whi, n, f);
            asm.stmt(LD_W_ABS, off_arg_lo(i));
            asm.stmt(ALU_AND_K, mlo);
            asm.jump(JEQ_K, wlo, n, f);
        }
    }
    asm.bind(pass);
}

/// A classic-BPF interpreter for the subset the compiler emits, to test programs on
/// synthetic `seccomp_data` without a kernel.
#[cfg(test)]
pub mod interp {
    use super::*;

    /// Runs `prog` on (arch, nr, args) and returns the filter's verdict.
    pub fn run(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let mut acc: u32 = 0;
        let mut pc = 0usize;
        loop {
            let insn = prog[pc];
            pc += 1;
            let cond = |taken: bool| if taken { insn.jt } else { insn.jf } as usize;
            match insn.code {
                LD_W_ABS => {
                    let o = insn.k as usize;
                    acc = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                }
                ALU_AND_K => acc &= insn.k,
                JA => pc += insn.k as usize,
                JEQ_K => pc += cond(acc == insn.k),
                JGT_K => pc += cond(acc > insn.k),
                JGE_K => pc += cond(acc >= insn.k),
                RET_K => return insn.k,
                c => panic!("unexpected opcode {c:#x} at {}", pc - 1),
            }
        }
    }
}
