//! maskedPaths, readonlyPaths, sysctl, seccomp, AppArmor and SELinux labels.

use super::{Case, Ctx};
use anyhow::Result;
use serde_json::json;
use std::ffi::CString;

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "security/masked_paths",
            run: masked,
        },
        Case {
            name: "security/readonly_paths",
            run: readonly,
        },
        Case {
            name: "security/sysctl",
            run: sysctl,
        },
        Case {
            name: "security/seccomp",
            run: seccomp,
        },
        Case {
            name: "security/seccomp_unknown_action",
            run: seccomp_bad,
        },
        Case {
            name: "security/apparmor",
            run: apparmor,
        },
        Case {
            name: "security/selinux",
            run: selinux,
        },
    ]
}

fn mknod(path: &std::path::Path, mode: libc::mode_t, maj: u32, min: u32) -> bool {
    let p = CString::new(path.to_string_lossy().as_bytes()).unwrap();
    unsafe { libc::mknod(p.as_ptr(), mode, libc::makedev(maj, min)) == 0 }
}

/// Files, dirs, a char device and a fifo, all with content, for mask/ro tests.
fn shapes(b: &crate::bundle::Bundle, prefix: &str, content: &str) -> Result<Vec<String>> {
    let d = b.host(&format!("/{prefix}-dir"));
    std::fs::create_dir_all(d.join(format!("{prefix}-subdir")))?;
    std::fs::write(d.join(format!("{prefix}-file")), content)?;
    std::fs::write(d.join(format!("{prefix}-subdir/{prefix}-file")), content)?;
    std::fs::write(b.host(&format!("/{prefix}-file")), content)?;
    let mut v = vec![
        format!("/{prefix}-dir/{prefix}-subdir"),
        format!("/{prefix}-dir/{prefix}-file"),
        format!("/{prefix}-dir"),
        format!("/{prefix}-file"),
        format!("/{prefix}-missing"),
    ];
    if mknod(
        &b.host(&format!("/{prefix}-chardev")),
        libc::S_IFCHR | 0o666,
        1,
        5,
    ) {
        v.push(format!("/{prefix}-chardev"));
    }
    Ok(v)
}

fn masked(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    let mut paths = shapes(&b, "masked", "secrets")?;
    paths.extend(["/proc/kcore", "/proc/timer_list", "/sys/firmware"].map(String::from));
    b.config["linux"]["maskedPaths"] = json!(paths);
    ctx.run_checker(&b)?;
    Ok(())
}

fn readonly(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    let mut paths = shapes(&b, "readonly", "immutable")?;
    paths.retain(|p| !p.ends_with("-chardev"));
    paths.extend(["/proc/sys", "/proc/sysrq-trigger", "/proc/irq"].map(String::from));
    b.config["linux"]["readonlyPaths"] = json!(paths);
    ctx.run_checker(&b)?;
    Ok(())
}

fn sysctl(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": "1",
        "net.core.somaxconn": "256",
        "kernel.msgmax": "8192",
        "kernel.domainname": "sysctl-domain"
    });
    ctx.run_checker(&b)?;
    Ok(())
}

fn seccomp(ctx: &mut Ctx) -> Result<()> {
    // One profile feature per run, so one unsupported feature does not hide the others.
    let runs = [
        (
            "errno",
            json!({"names": ["getpriority"], "action": "SCMP_ACT_ERRNO"}),
            &["SCMP_ARCH_X86_64"][..],
        ),
        (
            "errnoRet",
            json!({"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}),
            &["SCMP_ARCH_X86_64"][..],
        ),
        (
            "args",
            json!({"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
                   "args": [{"index": 0, "value": 4242, "op": "SCMP_CMP_EQ"}]}),
            &["SCMP_ARCH_X86_64"][..],
        ),
        (
            "kill",
            json!({"names": ["sethostname"], "action": "SCMP_ACT_KILL"}),
            &["SCMP_ARCH_X86_64"][..],
        ),
        (
            "multi-arch",
            json!({"names": ["getpriority"], "action": "SCMP_ACT_ERRNO"}),
            &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"][..],
        ),
    ];
    for (name, rule, arches) in runs {
        ctx.subcase(name);
        let mut b = ctx.bundle()?;
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": arches,
            "syscalls": [rule]
        });
        ctx.run_checker(&b)?;
    }
    Ok(())
}

fn seccomp_bad(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_CONFORMANCE_INVALID",
        "syscalls": []
    });
    b.config["process"]["args"] = json!(["true"]);
    ctx.expect_create_fails(&b, "invalid seccomp defaultAction is rejected")?;
    Ok(())
}

fn apparmor(ctx: &mut Ctx) -> Result<()> {
    if !ctx.host.apparmor {
        ctx.rep.skip(
            "process.apparmorProfile applied",
            "AppArmor not enabled on this host (/sys/module/apparmor/parameters/enabled is not Y)",
        );
        return Ok(());
    }
    let profiles =
        std::fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap_or_default();
    let Some(p) = profiles
        .lines()
        .filter_map(|l| l.split(" (").next())
        .find(|p| !p.is_empty())
    else {
        ctx.rep.skip(
            "process.apparmorProfile applied",
            "no AppArmor profile loaded on this host",
        );
        return Ok(());
    };
    let mut b = ctx.bundle()?;
    b.config["process"]["apparmorProfile"] = json!(p);
    ctx.run_checker(&b)?;
    let mut b = ctx.bundle()?;
    b.config["process"]["apparmorProfile"] = json!("conformance-profile-that-is-not-loaded");
    b.config["process"]["args"] = json!(["true"]);
    ctx.subcase("missing profile");
    ctx.expect_create_fails(&b, "an AppArmor profile that is not loaded is an error")?;
    Ok(())
}

fn selinux(ctx: &mut Ctx) -> Result<()> {
    if !ctx.host.selinux {
        ctx.rep.skip(
            "process.selinuxLabel and linux.mountLabel applied",
            "SELinux not enabled on this host (/sys/fs/selinux/enforce missing)",
        );
        return Ok(());
    }
    let label = std::fs::read_to_string("/proc/self/attr/current").unwrap_or_default();
    let mut b = ctx.bundle()?;
    b.config["process"]["selinuxLabel"] = json!(label.trim_end_matches(['\0', '\n']));
    ctx.run_checker(&b)?;
    Ok(())
}
