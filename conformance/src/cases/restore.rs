//! `checkpoint` then `restore` (runc 1.1's commands) with a fake criu given by
//! `--criu`: the real criu cannot dump on every kernel, so the fake
//! (tests/integration/data/fake-criu.py) speaks criu's swrk protocol, records the
//! requests and "restores" a `sleep` it starts. What is checked is the runtime's
//! side: the requests, the restored container's state, pid file, ps, cgroup and
//! clean-up.

use super::{Case, Ctx, WAIT};
use anyhow::Result;
use serde_json::{json, Value};
use std::path::Path;

const FAKE_CRIU: &str = include_str!("../../../tests/integration/data/fake-criu.py");

pub fn cases() -> Vec<Case> {
    vec![Case {
        name: "restore/checkpoint_then_restore_with_fake_criu",
        run: checkpoint_then_restore,
    }]
}

fn requests(dir: &Path, typ: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join("requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["type"] == typ)
        .collect()
}

fn checkpoint_then_restore(ctx: &mut Ctx) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["sleep", "1000"]);
    let Some((id, _)) = ctx.started(&b)? else {
        return Ok(());
    };
    // The fake and its records live in the bundle dir (removed with it).
    let fake = b.dir.join("fake-criu");
    std::fs::write(&fake, FAKE_CRIU)?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let fake_s = fake.to_string_lossy().into_owned();
    let images = b.dir.join("images");
    let images_s = images.to_string_lossy().into_owned();

    let c = ctx.rt.run(&[
        "--criu",
        &fake_s,
        "checkpoint",
        "--image-path",
        &images_s,
        &id,
    ]);
    if !ctx.rep.check(
        "checkpoint with the fake criu succeeds",
        c.success(),
        c.diag(),
    ) {
        return Ok(());
    }
    let dump = requests(&b.dir, "DUMP");
    ctx.rep.check(
        "criu got one DUMP with the images dir",
        dump.len() == 1 && dump[0]["images_dir"] == json!(images_s),
        format!("{dump:?}"),
    );
    let st = ctx.rt.state(&id);
    ctx.rep.check(
        "after checkpoint, state of the ID fails",
        st.failed(),
        st.diag(),
    );

    let new = ctx.id();
    let pid_file = b.dir.join("restored.pid");
    let dir_s = b.dir.to_string_lossy().into_owned();
    // `--criu FAKE restore -d --bundle B --image-path I EXTRA... ID`
    let restore = |rt: &crate::runtime::Runtime, extra: &[&str]| {
        let mut args = vec![
            "--criu",
            fake_s.as_str(),
            "restore",
            "-d",
            "--bundle",
            dir_s.as_str(),
            "--image-path",
            images_s.as_str(),
        ];
        args.extend_from_slice(extra);
        args.push(new.as_str());
        rt.run(&args)
    };
    let pid_s = pid_file.to_string_lossy().into_owned();
    let r = restore(
        ctx.rt,
        &[
            "--pid-file",
            &pid_s,
            "--tcp-established",
            "--file-locks",
            "--shell-job",
            "--ext-unix-sk",
        ],
    );
    if !ctx.rep.check("restore -d succeeds", r.success(), r.diag()) {
        return Ok(());
    }
    let st = ctx.rt.state_json(&new)?;
    ctx.rep.check(
        "restored container is running",
        st["status"] == "running",
        st.to_string(),
    );
    let pid = st["pid"].as_i64().unwrap_or(0);
    let in_file = std::fs::read_to_string(&pid_file).unwrap_or_default();
    ctx.rep.check(
        "--pid-file holds the restored pid",
        in_file.trim() == pid.to_string(),
        format!("file {in_file:?}, state pid {pid}"),
    );
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    ctx.rep.check(
        "the state's pid is the process criu restored",
        cmdline.starts_with("sleep\0"),
        format!("{cmdline:?}"),
    );
    let ps = ctx.rt.run(&["ps", "--format", "json", &new]);
    ctx.rep.check(
        "ps lists the restored process",
        ps.success() && ps.stdout.trim() == format!("[{pid}]"),
        ps.diag(),
    );
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    ctx.rep.check(
        "the restored process is in the container's pids cgroup",
        cg.lines()
            .any(|l| l.contains(":pids:") && l.ends_with(&new)),
        cg.clone(),
    );
    let req = requests(&b.dir, "RESTORE");
    let req = req.first().cloned().unwrap_or(Value::Null);
    let flags_ok = [
        "rst_sibling",
        "tcp_established",
        "file_locks",
        "shell_job",
        "ext_unix_sk",
        "manage_cgroups",
    ]
    .iter()
    .all(|f| req[*f] == json!(true));
    ctx.rep.check(
        "RESTORE request carries the flags and the images dir",
        flags_ok && req["images_dir"] == json!(images_s),
        req.to_string(),
    );

    let again = restore(ctx.rt, &[]);
    ctx.rep.check(
        "restore onto an existing ID fails",
        again.failed(),
        again.diag(),
    );
    ctx.rep.check(
        "... and does not ask criu",
        requests(&b.dir, "RESTORE").len() == 1,
        String::new(),
    );

    let k = ctx.rt.kill(&new, "KILL");
    ctx.rep.check("kill succeeds", k.success(), k.diag());
    let (stopped, seen) = ctx.rt.wait_status(&new, "stopped", WAIT);
    ctx.rep
        .check("restored container stops", stopped, format!("{seen:?}"));
    let d = ctx.rt.delete(&new);
    ctx.rep.check("delete succeeds", d.success(), d.diag());
    let gone = !Path::new("/sys/fs/cgroup/pids").join(&new).exists();
    ctx.rep
        .check("delete removes the pids cgroup", gone, String::new());
    Ok(())
}
