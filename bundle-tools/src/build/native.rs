//! Native SIF from a root filesystem directory, laid out like `singularity build`
//! (sif-format.md §7): launch script, Def.FILE, JSON.Generic `inspect-metadata.json`,
//! squashfs PrimSys partition (host arch, 4096-aligned) holding the tree plus
//! `/.singularity.d` (actions/, env/, runscript, labels.json, libs/) and the
//! compatibility symlinks. The source directory is never modified: what is added goes
//! to mksquashfs as pseudo files (a source that already has some of it is copied first).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use super::common::{human, make_root, BuildOptions, BuildReport, OutFile, Progress, WorkDir};
use super::squashfs;
use crate::error::{Error, Result};
use crate::sif::{Arch, CreateOptions, DataType, Extra, FsType, ObjectInput, PartType, SifWriter};

pub const LAUNCH_SCRIPT: &[u8] = b"#!/usr/bin/env run-singularity\n";

const BASE_ENV: &str = "#!/bin/sh\n# Custom environment shell code should follow\n\n";

const ENV_99_BASE: &str = r#"#!/bin/sh
# Make the bind point for host libraries visible and set the prompt.
if [ -z "${LD_LIBRARY_PATH:-}" ]; then
    LD_LIBRARY_PATH="/.singularity.d/libs"
else
    LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/.singularity.d/libs"
fi
PS1="Singularity> "
export LD_LIBRARY_PATH PS1
"#;

const ENV_99_RUNTIMEVARS: &str = r#"#!/bin/sh
# PATH requests passed by the runtime (SING_USER_DEFINED_*).
if [ -n "${SING_USER_DEFINED_PREPEND_PATH:-}" ]; then
    PATH="${SING_USER_DEFINED_PREPEND_PATH}:${PATH}"
fi
if [ -n "${SING_USER_DEFINED_APPEND_PATH:-}" ]; then
    PATH="${PATH}:${SING_USER_DEFINED_APPEND_PATH}"
fi
if [ -n "${SING_USER_DEFINED_PATH:-}" ]; then
    PATH="${SING_USER_DEFINED_PATH}"
fi
unset SING_USER_DEFINED_PREPEND_PATH SING_USER_DEFINED_APPEND_PATH SING_USER_DEFINED_PATH
export PATH
"#;

const DEFAULT_RUNSCRIPT: &str = "#!/bin/sh\n\nexec /bin/sh \"$@\"\n";

fn action(name: &str) -> String {
    let mut s = String::from(
        "#!/bin/sh\n\
         if [ -z \"${PATH:-}\" ]; then\n    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n    export PATH\nfi\n\
         for script in /.singularity.d/env/*.sh; do\n    if [ -f \"$script\" ]; then\n        . \"$script\"\n    fi\ndone\n\n",
    );
    s.push_str(match name {
        "exec" => "exec \"$@\"\n",
        "run" => "if [ -x /.singularity.d/runscript ]; then\n    exec /.singularity.d/runscript \"$@\"\nfi\necho \"No runscript found, executing /bin/sh\"\nexec /bin/sh \"$@\"\n",
        "shell" => "if [ -x /bin/bash ]; then\n    exec /bin/bash --norc \"$@\"\nfi\nexec /bin/sh \"$@\"\n",
        "start" => "if [ -x /.singularity.d/startscript ]; then\n    exec /.singularity.d/startscript \"$@\"\nfi\n",
        _ => "if [ -x /.singularity.d/test ]; then\n    exec /.singularity.d/test \"$@\"\nfi\necho \"No test found in container, executing /bin/sh -c true\"\nexec /bin/sh -c true\n",
    });
    s
}

/// Single-quote for sh.
pub fn sh_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

fn write_file(p: &Path, text: &[u8], mode: u32) -> Result<()> {
    let _ = fs::remove_file(p);
    let mut f = File::create(p).map_err(|e| Error::io(p, e))?;
    f.write_all(text).map_err(|e| Error::io(p, e))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(p, e))
}

fn write_if_missing(p: &Path, text: &str, mode: u32) -> Result<()> {
    if fs::symlink_metadata(p).is_ok() {
        return Ok(());
    }
    write_file(p, text.as_bytes(), mode)
}

fn mkdir_if_missing(p: &Path, mode: u32) -> Result<()> {
    if fs::symlink_metadata(p).is_ok() {
        return Ok(());
    }
    fs::create_dir(p).map_err(|e| Error::io(p, e))?;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).map_err(|e| Error::io(p, e))
}

fn symlink_if_missing(target: &str, p: &Path) -> Result<()> {
    if fs::symlink_metadata(p).is_ok() {
        return Ok(());
    }
    symlink(target, p).map_err(|e| Error::io(p, e))
}

/// What went into `/.singularity.d`, for the SIF metadata objects.
pub struct Metadata {
    pub runscript: String,
    pub environment: String,
    pub labels: BTreeMap<String, serde_json::Value>,
}

/// The directories `populate` makes when missing, parents first.
const TOP_DIRS: [(&str, u32); 13] = [
    ("dev", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("tmp", 0o1777),
    ("var", 0o755),
    ("var/tmp", 0o1777),
    ("root", 0o700),
    ("home", 0o755),
    ("etc", 0o755),
    (".singularity.d", 0o755),
    (".singularity.d/actions", 0o755),
    (".singularity.d/env", 0o755),
    (".singularity.d/libs", 0o755),
];

/// Files `populate` makes in an existing `/etc`.
const ETC_FILES: [&str; 2] = ["etc/hosts", "etc/resolv.conf"];

/// Fill in `/.singularity.d` and the usual top-level dirs in `root` (a private copy).
/// Existing files are kept except what the options replace.
pub fn populate(root: &Path, opts: &BuildOptions) -> Result<Metadata> {
    // A symlinked /.singularity.d in the source could point anywhere; refuse it.
    let sd = root.join(".singularity.d");
    if let Ok(m) = fs::symlink_metadata(&sd) {
        if !m.is_dir() {
            return Err(Error::Options(format!(
                "{}: /.singularity.d exists and is not a directory",
                root.display()
            )));
        }
    }
    for (d, mode) in TOP_DIRS {
        let p = root.join(d);
        if let Ok(m) = fs::symlink_metadata(&p) {
            if d.starts_with(".singularity.d") && !m.is_dir() {
                return Err(Error::Options(format!(
                    "/{d} in the source is not a directory"
                )));
            }
            continue;
        }
        mkdir_if_missing(&p, mode)?;
    }
    for f in ETC_FILES {
        let p = root.join(f);
        if fs::symlink_metadata(&p).is_err() && root.join("etc").is_dir() {
            write_file(&p, b"", 0o644)?;
        }
    }
    for a in ["exec", "run", "shell", "start", "test"] {
        write_if_missing(&sd.join("actions").join(a), &action(a), 0o755)?;
    }
    let env = sd.join("env");
    write_if_missing(&env.join("01-base.sh"), BASE_ENV, 0o755)?;
    write_if_missing(&env.join("95-apps.sh"), "#!/bin/sh\n", 0o755)?;
    write_if_missing(&env.join("99-base.sh"), ENV_99_BASE, 0o755)?;
    write_if_missing(&env.join("99-runtimevars.sh"), ENV_99_RUNTIMEVARS, 0o755)?;
    // %environment
    let env90 = env.join("90-environment.sh");
    let mut environment = match fs::read_to_string(&env90) {
        Ok(s) if fs::symlink_metadata(&env90).is_ok_and(|m| m.is_file()) => s,
        _ => BASE_ENV.to_string(),
    };
    if !opts.env.is_empty() {
        if !environment.ends_with('\n') {
            environment.push('\n');
        }
        for (k, v) in &opts.env {
            environment.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
    }
    write_file(&env90, environment.as_bytes(), 0o755)?;
    // %runscript
    let rs_path = sd.join("runscript");
    let runscript = match &opts.runscript {
        Some(f) => {
            let body = fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            if body.starts_with("#!") {
                body
            } else {
                format!("#!/bin/sh\n\n{body}")
            }
        }
        None => match fs::read_to_string(&rs_path) {
            Ok(s) if fs::symlink_metadata(&rs_path).is_ok_and(|m| m.is_file()) => s,
            _ => DEFAULT_RUNSCRIPT.to_string(),
        },
    };
    write_file(&rs_path, runscript.as_bytes(), 0o755)?;
    write_if_missing(&sd.join("startscript"), "#!/bin/sh\n", 0o755)?;
    // labels
    let lpath = sd.join("labels.json");
    let mut labels: BTreeMap<String, serde_json::Value> = fs::read(&lpath)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    labels.insert("org.label-schema.schema-version".into(), "1.0".into());
    labels.insert(
        "org.label-schema.build-arch".into(),
        Arch::host().name().into(),
    );
    labels
        .entry("org.label-schema.build-date".into())
        .or_insert_with(|| build_date().into());
    for (k, v) in &opts.labels {
        labels.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    let mut lj = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut lj, fmt);
    serde::Serialize::serialize(&labels, &mut ser).expect("serializable");
    lj.push(b'\n');
    write_file(&lpath, &lj, 0o644)?;
    // compatibility symlinks
    symlink_if_missing(".singularity.d/runscript", &root.join("singularity"))?;
    for a in ["run", "exec", "shell", "test"] {
        symlink_if_missing(
            &format!(".singularity.d/actions/{a}"),
            &root.join(format!(".{a}")),
        )?;
    }
    symlink_if_missing(
        ".singularity.d/env/90-environment.sh",
        &root.join("environment"),
    )?;
    Ok(Metadata {
        runscript,
        environment,
        labels,
    })
}

fn build_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    crate::sif::format_time(secs)
}

fn deffile(src: &Path, md: &Metadata, opts: &BuildOptions) -> String {
    let mut d = format!("Bootstrap: localimage\nFrom: {}\n", src.display());
    if opts.runscript.is_some() {
        let body = md
            .runscript
            .split_once('\n')
            .map(|(first, rest)| {
                if first.starts_with("#!") {
                    rest
                } else {
                    md.runscript.as_str()
                }
            })
            .unwrap_or("");
        d.push_str(&format!("\n%runscript\n{}\n", body.trim_matches('\n')));
    }
    if !opts.env.is_empty() {
        d.push_str("\n%environment\n");
        for (k, v) in &opts.env {
            d.push_str(&format!("    export {k}={}\n", sh_quote(v)));
        }
    }
    if !opts.labels.is_empty() {
        d.push_str("\n%labels\n");
        for (k, v) in &opts.labels {
            d.push_str(&format!("    {k} {v}\n"));
        }
    }
    d
}

/// `dir:ROOTFS` → native SIF.
pub fn build_native(
    out: &Path,
    src: &Path,
    opts: &BuildOptions,
    tmp_parent: &Path,
    progress: Progress,
) -> Result<BuildReport> {
    super::common::require_dir(src)?;
    let src_abs = fs::canonicalize(src).map_err(|e| Error::io(src, e))?;
    let work = WorkDir::new(tmp_parent, "native")?;
    let root = work.path.join("rootfs");
    make_root(&root)?;
    let sqfs = work.path.join("rootfs.squashfs");
    let (meta, sq_size) = if can_squash_in_place(&src_abs) {
        // Only what populate adds is made (in `root`, next to placeholders for what
        // the source has) and handed to mksquashfs as pseudo files: no copy of the tree.
        placeholders(&src_abs, &root)?;
        let meta = populate(&root, opts)?;
        let pf = work.path.join("pseudo");
        write_pseudo(&src_abs, &root, &pf)?;
        progress.say("creating squashfs partition");
        (
            meta,
            squashfs::mksquashfs_with(&src_abs, &sqfs, Some(&pf), progress)?,
        )
    } else {
        copy_tree(&src_abs, &root, progress)?;
        let meta = populate(&root, opts)?;
        progress.say("creating squashfs partition");
        (meta, squashfs::mksquashfs(&root, &sqfs, progress)?)
    };

    let def = deffile(&src_abs, &meta, opts);
    let inspect = serde_json::json!({
        "data": {
            "attributes": {
                "deffile": def,
                "labels": meta.labels,
                "runscript": meta.runscript,
                "environment": { "/.singularity.d/env/90-environment.sh": meta.environment },
            },
            "type": "container",
        }
    });
    let inspect = serde_json::to_vec(&inspect).expect("serializable");

    let (of, file) = OutFile::new(out)?;
    let copts = CreateOptions {
        launch_script: LAUNCH_SCRIPT.to_vec(),
        ..CreateOptions::default()
    };
    let mut w = SifWriter::new(file, copts)?;
    w.add_object(ObjectInput::new(DataType::Deffile), &mut def.as_bytes())?;
    w.add_object(
        ObjectInput::new(DataType::GenericJson).name("inspect-metadata.json"),
        &mut &inspect[..],
    )?;
    let mut sf = File::open(&sqfs).map_err(|e| Error::io(&sqfs, e))?;
    w.add_object(
        ObjectInput::new(DataType::Partition)
            .name(format!("squashfs-{}", std::process::id()))
            .extra(Extra::Partition {
                fs: FsType::Squashfs,
                part: PartType::PrimSys,
                arch: Arch::host(),
            }),
        &mut sf,
    )?;
    let file = w.finish()?;
    let size = of.commit(file, 0o755)?;
    progress.say(format!(
        "wrote {} ({}): native SIF, squashfs partition {}",
        out.display(),
        human(size),
        human(sq_size)
    ));
    Ok(BuildReport {
        oci: false,
        layers_applied: 0,
        squashfs_size: sq_size,
        sif_size: size,
    })
}

/// `cp -a SRC/. ROOT`.
fn copy_tree(src: &Path, root: &Path, progress: Progress) -> Result<()> {
    let total = progress.tree_bytes(src);
    let st = Command::new("cp")
        .arg("-a")
        .arg("--")
        .arg(format!("{}/.", src.display()))
        .arg(root)
        .spawn()
        .and_then(|mut cp| progress.watch(&mut cp, &format!("copying {}", src.display()), total))
        .map_err(|e| Error::Options(format!("cp: {e}")))?;
    if !st.success() {
        return Err(Error::Options(format!(
            "copying {} failed ({st})",
            src.display()
        )));
    }
    Ok(())
}

/// Whether `src` can be squashed as it is, with what [`populate`] adds given as pseudo
/// files: no `/.singularity.d` or compatibility links yet (populate would merge with
/// them), and no symlink where populate looks (in a copy it would resolve inside).
fn can_squash_in_place(src: &Path) -> bool {
    let exists = |n: &str| fs::symlink_metadata(src.join(n)).is_ok();
    let is_link =
        |n: &str| fs::symlink_metadata(src.join(n)).is_ok_and(|m| m.file_type().is_symlink());
    let ours = [
        ".singularity.d",
        "singularity",
        ".run",
        ".exec",
        ".shell",
        ".test",
        "environment",
    ];
    !ours.iter().any(|n| exists(n))
        && !TOP_DIRS
            .iter()
            .map(|(d, _)| *d)
            .chain(ETC_FILES)
            .any(is_link)
}

/// In the empty `stage`, an empty dir or file for each path [`populate`] checks that
/// `src` has, so that populate makes exactly what the source lacks.
fn placeholders(src: &Path, stage: &Path) -> Result<()> {
    for p in TOP_DIRS.iter().map(|(d, _)| *d).chain(ETC_FILES) {
        let (from, to) = (src.join(p), stage.join(p));
        let made = match fs::symlink_metadata(&from) {
            Ok(m) if m.is_dir() => fs::create_dir(&to),
            Ok(_) => File::create(&to).map(drop),
            Err(_) => continue,
        };
        // A parent that is a file in the source: populate fails there as it would on a copy.
        match made {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {}
            Err(e) => return Err(Error::io(&to, e)),
        }
    }
    Ok(())
}

/// mksquashfs pseudo definitions (`-pf`) for everything in `stage` that `src` does
/// not have, parents first, with the stage's modes, owners and times.
fn write_pseudo(src: &Path, stage: &Path, out: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    fn walk(src: &Path, stage: &Path, rel: &Path, lines: &mut String) -> Result<()> {
        let dir = stage.join(rel);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(&dir, e))?;
        names.sort();
        for n in names {
            let rel = rel.join(&n);
            let p = stage.join(&rel);
            let m = fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
            let name = rel.to_str().filter(|n| !n.contains(char::is_whitespace));
            let Some(name) = name else {
                return Err(Error::Options(format!("{}: unexpected name", p.display())));
            };
            if fs::symlink_metadata(src.join(&rel)).is_err() {
                let (t, mode, u, g) = (m.mtime().max(0), m.mode() & 0o7777, m.uid(), m.gid());
                let kind = m.file_type();
                if kind.is_dir() {
                    lines.push_str(&format!("{name} D {t} {mode:o} {u} {g}\n"));
                } else if kind.is_symlink() {
                    let target = fs::read_link(&p).map_err(|e| Error::io(&p, e))?;
                    let target = target.to_str().ok_or_else(|| {
                        Error::Options(format!("{}: unexpected link", p.display()))
                    })?;
                    lines.push_str(&format!("{name} S {t} 777 {u} {g} {target}\n"));
                } else {
                    let path = p.to_str().ok_or_else(|| {
                        Error::Options(format!("{}: unexpected name", p.display()))
                    })?;
                    lines.push_str(&format!(
                        "{name} F {t} {mode:o} {u} {g} cat {}\n",
                        sh_quote(path)
                    ));
                }
            }
            if m.is_dir() {
                walk(src, stage, &rel, lines)?;
            }
        }
        Ok(())
    }
    let mut lines = String::new();
    walk(src, stage, Path::new(""), &mut lines)?;
    fs::write(out, lines).map_err(|e| Error::io(out, e))
}
