// sifrun patch 0036
//! Loading the filter with seccomp(2) ourselves, libseccomp's program behind a
//! stub that answers -ENOSYS for syscalls newer than the profile.
//!
//! A profile denies by default what it does not name, so a syscall newer than the
//! profile (clone3, say, under a profile written before it) got the default errno,
//! usually EPERM, and libc, which falls back to an older syscall only on ENOSYS,
//! failed. The stub makes such a syscall look like one this kernel does not have:
//! any number above the highest one the profile names for that architecture.

use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use libseccomp::{ScmpArch, ScmpFilterContext, ScmpSyscall};

// sifrun patch 0037: no TSYNC flag, it is ignored
pub const FLAG_LOG: libc::c_ulong = 1 << 1;
pub const FLAG_SPEC_ALLOW: libc::c_ulong = 1 << 2;
pub const FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
pub const FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const BPF_MAXINSNS: usize = 4096;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
/// x32 syscalls are x86_64 ones (same audit arch) with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// cBPF opcodes
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
// offsets in struct seccomp_data
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;

/// Highest syscall numbers the profile names, for one audit architecture.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArchMax {
    pub audit: u32,
    pub max: Option<u32>,
    /// x86_64 only: the highest x32 number (with the x32 bit).
    pub max_x32: Option<u32>,
}

/// The highest syscall number of `names` for each architecture of the filter.
pub fn arch_maxima(arches: &[ScmpArch], names: &[&str]) -> Vec<ArchMax> {
    let mut out: Vec<ArchMax> = Vec::new();
    for &arch in arches {
        let (audit, x32) = match arch {
            ScmpArch::X8664 => (AUDIT_ARCH_X86_64, false),
            ScmpArch::X32 => (AUDIT_ARCH_X86_64, true),
            ScmpArch::X86 => (AUDIT_ARCH_I386, false),
            ScmpArch::Aarch64 => (AUDIT_ARCH_AARCH64, false),
            ScmpArch::Arm => (AUDIT_ARCH_ARM, false),
            // No stub for the others: their syscalls get the profile's default.
            _ => continue,
        };
        let max = names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(|s| s.as_raw_syscall())
            // negative numbers are libseccomp's pseudo-syscalls
            .filter(|&nr| nr >= 0)
            .map(|nr| if x32 { nr as u32 | X32_SYSCALL_BIT } else { nr as u32 })
            .max();
        let entry = match out.iter_mut().find(|e| e.audit == audit) {
            Some(e) => e,
            None => {
                out.push(ArchMax {
                    audit,
                    ..Default::default()
                });
                out.last_mut().unwrap()
            }
        };
        if x32 {
            entry.max_x32 = entry.max_x32.max(max);
        } else {
            entry.max = entry.max.max(max);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum To {
    Next,
    At(usize),
    Enosys,
    Filter,
}

enum Insn {
    Ld(u32),
    Jump { code: u16, k: u32, jt: To, jf: To },
    Ja(To),
    Ret(u32),
}

/// The stub: for each architecture, syscalls above its maximum get -ENOSYS; all
/// else (other architectures too) goes on to libseccomp's program, which loads
/// what it needs itself.
pub fn enosys_stub(maxima: &[ArchMax]) -> Vec<libc::sock_filter> {
    let mut p: Vec<Insn> = vec![Insn::Ld(OFF_ARCH)];
    let limit = |m: Option<u32>| match m {
        Some(k) => Insn::Jump {
            code: JGT_K,
            k,
            jt: To::Enosys,
            jf: To::Filter,
        },
        None => Insn::Ja(To::Filter),
    };
    for a in maxima {
        if a.max.is_none() && a.max_x32.is_none() {
            continue;
        }
        let head = p.len();
        p.push(Insn::Jump {
            code: JEQ_K,
            k: a.audit,
            jt: To::Next,
            jf: To::Next, // set below, to the next architecture
        });
        p.push(Insn::Ld(OFF_NR));
        if a.audit == AUDIT_ARCH_X86_64 {
            // jt: the x32 check, two instructions on
            p.push(Insn::Jump {
                code: JSET_K,
                k: X32_SYSCALL_BIT,
                jt: To::At(p.len() + 2),
                jf: To::Next,
            });
            p.push(limit(a.max));
            p.push(limit(a.max_x32));
        } else {
            p.push(limit(a.max));
        }
        let end = p.len();
        if let Insn::Jump { jf, .. } = &mut p[head] {
            *jf = To::At(end);
        }
    }
    p.push(Insn::Ja(To::Filter));
    let enosys = p.len();
    p.push(Insn::Ret(SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
    let filter = p.len();

    let off = |pos: usize, to: To| -> usize {
        let target = match to {
            To::Next => pos + 1,
            To::At(i) => i,
            To::Enosys => enosys,
            To::Filter => filter,
        };
        target - (pos + 1)
    };
    p.iter()
        .enumerate()
        .map(|(pos, i)| match *i {
            Insn::Ld(k) => bpf(LD_W_ABS, 0, 0, k),
            Insn::Jump { code, k, jt, jf } => {
                // the stub is a few instructions per architecture
                let (t, f) = (off(pos, jt), off(pos, jf));
                assert!(t <= 255 && f <= 255, "seccomp stub jump out of range");
                bpf(code, t as u8, f as u8, k)
            }
            Insn::Ja(to) => bpf(JA, 0, 0, off(pos, to) as u32),
            Insn::Ret(k) => bpf(RET_K, 0, 0, k),
        })
        .collect()
}

fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// libseccomp's program for `ctx`.
pub fn export(ctx: &ScmpFilterContext) -> std::io::Result<Vec<libc::sock_filter>> {
    // SAFETY: plain memfd_create with a static name.
    let fd = unsafe { libc::memfd_create(c"seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    ctx.export_bpf(&fd)
        .map_err(|e| std::io::Error::other(format!("exporting the filter: {e}")))?;
    let mut f = std::fs::File::from(fd);
    f.seek(SeekFrom::Start(0))?;
    let mut raw = Vec::new();
    f.read_to_end(&mut raw)?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| {
            bpf(
                u16::from_ne_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect())
}

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog); the listener fd with
/// FLAG_NEW_LISTENER.
pub fn load(mut prog: Vec<libc::sock_filter>, flags: libc::c_ulong) -> std::io::Result<Option<RawFd>> {
    if prog.len() > BPF_MAXINSNS {
        return Err(std::io::Error::other(format!(
            "the filter has {} instructions, the kernel takes at most {BPF_MAXINSNS}",
            prog.len()
        )));
    }
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: fprog points at prog, alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((flags & FLAG_NEW_LISTENER != 0).then_some(r as RawFd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_layout() {
        let s = enosys_stub(&[ArchMax {
            audit: AUDIT_ARCH_X86_64,
            max: Some(436),
            max_x32: None,
        }]);
        // ld arch; jeq; ld nr; jset; jgt; ja; ja; ret
        assert_eq!(s.len(), 8);
        assert_eq!((s[1].code, s[1].jt, s[1].jf), (JEQ_K, 0, 4));
        assert_eq!((s[3].code, s[3].jt, s[3].jf), (JSET_K, 1, 0));
        // jgt 436: to the ret (pos 7) or past it (pos 8)
        assert_eq!((s[4].code, s[4].k, s[4].jt, s[4].jf), (JGT_K, 436, 2, 3));
        assert_eq!((s[5].code, s[5].k), (JA, 2));
        assert_eq!((s[7].code, s[7].k), (RET_K, SECCOMP_RET_ERRNO | 38));
    }
}
