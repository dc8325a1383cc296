//! `sifrun restore` paired with `checkpoint`. The real criu cannot dump on every
//! kernel, so most cases use `data/fake-criu.py` (via `--criu`): it speaks criu's
//! swrk protocol, records each request and "restores" a `sleep` it starts.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::*;

fn fake_criu() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/data/fake-criu.py")
}

/// A runtime, a temp dir for images/logs, and the fake's request log.
struct Fixture {
    rt: Runtime,
    tmp: TmpDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            rt: Runtime::new(),
            tmp: TmpDir::new("sifrun-restore"),
        }
    }

    fn log(&self) -> PathBuf {
        self.tmp.join("criu-requests.jsonl")
    }

    /// `sifrun --criu FAKE ARGS…` with the fake's environment.
    fn criu_run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.rt.cmd(["--criu", fake_criu().to_str().unwrap()]);
        c.args(args).env("FAKE_CRIU_LOG", self.log());
        for (k, v) in env {
            c.env(k, v);
        }
        output_with_timeout(c, Duration::from_secs(60))
    }

    /// `restore FLAGS… -b BUNDLE --image-path IMAGES ID` with the fake.
    fn restore(
        &self,
        flags: &[&str],
        b: &Bundle,
        images: &Path,
        id: &str,
        env: &[(&str, &str)],
    ) -> Output {
        let mut args = vec!["restore"];
        args.extend_from_slice(flags);
        let (bundle, images) = (b.path().to_str().unwrap(), images.to_str().unwrap());
        args.extend_from_slice(&["-b", bundle, "--image-path", images, id]);
        self.criu_run(&args, env)
    }

    /// The recorded requests of `typ` (DUMP, RESTORE, VERSION).
    fn requests(&self, typ: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["type"] == typ)
            .collect()
    }

    /// A sleeper with a bind mount, run and checkpointed into `images`.
    fn checkpointed(&self, tag: &str) -> (String, Bundle, PathBuf) {
        let id = unique_id(tag);
        let b = Bundle::sleeper(&id);
        let src = self.tmp.join("bind-src");
        std::fs::create_dir_all(&src).unwrap();
        b.edit(|c| {
            c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                "destination": "/mnt/data", "type": "bind",
                "source": src, "options": ["rbind", "rw"]
            }))
        });
        assert_ok(&self.rt.run_detached(&id, b.path()), "run -d");
        let images = self.tmp.join(format!("images-{id}"));
        let o = self.criu_run(
            &["checkpoint", "--image-path", images.to_str().unwrap(), &id],
            &[],
        );
        assert_ok(&o, "checkpoint");
        (id, b, images)
    }
}

fn pid_of(rt: &Runtime, id: &str) -> i64 {
    rt.state(id).expect("state")["pid"].as_i64().expect("pid")
}

fn in_cgroup_of(pid: i64, id: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains(":pids:") && l.ends_with(id))
}

fn kill_and_delete(rt: &Runtime, id: &str) {
    assert_ok(&rt.run(["kill", id, "KILL"]), "kill");
    assert!(
        rt.wait_status(id, "stopped", Duration::from_secs(10)),
        "not stopped"
    );
    assert_ok(&rt.run(["delete", id]), "delete");
    assert_no_leaks(rt, id);
}

#[test]
fn checkpoint_then_restore_detached_under_a_new_id() {
    if !require_root() {
        return;
    }
    let f = Fixture::new();
    let (id, b, images) = f.checkpointed("rst-new");
    // The dump got a usable images dir, and the container is gone like in runc.
    let dump = f.requests("DUMP");
    assert_eq!(dump.len(), 1, "{dump:?}");
    assert_eq!(dump[0]["images_dir"], images.to_str().unwrap());
    assert!(images.join("fake-dump").exists());
    assert!(images.join("descriptors.json").exists());
    assert!(
        f.rt.state(&id).is_none(),
        "checkpointed container still listed"
    );
    assert_no_leaks(&f.rt, &id);

    let new = unique_id("rst-new2");
    f.rt.track(&new);
    let work = f.tmp.join("work");
    let pid_file = f.tmp.join("pid");
    let o = f.restore(
        &[
            "-d",
            "--work-path",
            work.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--tcp-established",
            "--ext-unix-sk",
            "--shell-job",
            "--file-locks",
            "--manage-cgroups-mode",
            "full",
        ],
        &b,
        &images,
        &new,
        &[],
    );
    assert_ok(&o, "restore -d");
    let st = f.rt.state(&new).expect("state of the restored container");
    assert_eq!(st["status"], "running", "{st}");
    let pid = pid_of(&f.rt, &new);
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with("sleep\0"), "{cmdline:?}");
    let ps = f.rt.run(["ps", "--format", "json", &new]);
    assert_ok(&ps, "ps");
    assert_eq!(stdout(&ps).trim(), format!("[{pid}]"));
    assert!(
        in_cgroup_of(pid, &new),
        "restored process is not in the container's cgroup"
    );

    // The request says what the flags and the bundle asked for.
    let r = &f.requests("RESTORE")[0];
    assert_eq!(r["images_dir"], images.to_str().unwrap(), "{r}");
    assert_eq!(r["work_dir"], work.to_str().unwrap(), "{r}");
    assert_eq!(r["root"], b.rootfs().to_str().unwrap(), "{r}");
    assert_eq!(
        r["ext_mnt"]["/mnt/data"],
        f.tmp.join("bind-src").to_str().unwrap(),
        "{r}"
    );
    for flag in [
        "tcp_established",
        "ext_unix_sk",
        "shell_job",
        "file_locks",
        "rst_sibling",
        "notify_scripts",
        "manage_cgroups",
    ] {
        assert_eq!(r[flag], true, "{flag}: {r}");
    }
    assert_eq!(r["manage_cgroups_mode"], 4, "FULL: {r}");
    assert_eq!(r["log_file"], "restore.log", "{r}");
    kill_and_delete(&f.rt, &new);
}

#[test]
fn restore_under_the_same_id_with_default_flags() {
    if !require_root() {
        return;
    }
    let f = Fixture::new();
    let (id, b, images) = f.checkpointed("rst-same");
    let o = f.restore(&["-d"], &b, &images, &id, &[]);
    assert_ok(&o, "restore -d");
    assert_eq!(f.rt.status(&id).as_deref(), Some("running"));
    let r = &f.requests("RESTORE")[0];
    for flag in ["tcp_established", "ext_unix_sk", "shell_job", "file_locks"] {
        assert_eq!(r[flag], false, "{flag}: {r}");
    }
    assert_eq!(r["manage_cgroups_mode"], 3, "SOFT: {r}");
    assert!(r.get("work_dir").is_none(), "{r}");
    kill_and_delete(&f.rt, &id);
}

#[test]
fn restore_in_the_foreground_waits_and_exits_with_the_process() {
    if !require_root() {
        return;
    }
    let f = Fixture::new();
    let (id, b, images) = f.checkpointed("rst-fg");
    let o = f.restore(
        &[],
        &b,
        &images,
        &id,
        &[("FAKE_CRIU_CMD", "sh -c 'sleep 1; exit 7'")],
    );
    assert_eq!(o.status.code(), Some(7), "stderr: {}", stderr(&o));
    // Like `run`: the container is removed once its process is gone.
    assert_no_leaks(&f.rt, &id);
}

#[test]
fn restore_onto_an_existing_id_fails_and_touches_nothing() {
    if !require_root() {
        return;
    }
    let f = Fixture::new();
    let (id, b) = f.rt.run_sleeper("rst-exist");
    let before = f.rt.state(&id).unwrap();
    let images = f.tmp.join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("fake-dump"), "1").unwrap();
    let o = f.restore(&["-d"], &b, &images, &id, &[]);
    assert_one_line_error(&o, Some("already exists"));
    assert_eq!(f.rt.state(&id).unwrap(), before);
    assert!(
        f.requests("RESTORE").is_empty(),
        "criu was asked to restore"
    );
}

#[test]
fn restore_from_a_missing_or_failing_image_leaves_nothing() {
    if !require_root() {
        return;
    }
    let f = Fixture::new();
    let b = Bundle::sleeper("rst-missing");
    let id = unique_id("rst-missing");
    f.rt.track(&id);
    let missing = f.tmp.join("no-such-images");
    let o = f.restore(&["-d"], &b, &missing, &id, &[]);
    assert_one_line_error(&o, Some("no-such-images"));
    assert_no_leaks(&f.rt, &id);

    // criu itself fails (the fake refuses a dir without its dump).
    let empty = f.tmp.join("empty-images");
    std::fs::create_dir_all(&empty).unwrap();
    let o = f.restore(&["-d"], &b, &empty, &id, &[]);
    assert_one_line_error(&o, Some("criu"));
    assert_no_leaks(&f.rt, &id);
}

#[test]
fn restore_with_the_real_criu_from_an_empty_dir_fails_cleanly() {
    if !require_root() || !have("criu") {
        return;
    }
    let f = Fixture::new();
    let b = Bundle::sleeper("rst-real");
    let id = unique_id("rst-real");
    f.rt.track(&id);
    let empty = f.tmp.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = f.rt.run([
        "restore",
        "-d",
        "-b",
        b.path().to_str().unwrap(),
        "--image-path",
        empty.to_str().unwrap(),
        &id,
    ]);
    let line = assert_one_line_error(&o, Some("criu"));
    assert!(line.contains("restore.log"), "{line}");
    assert_no_leaks(&f.rt, &id);
}

#[test]
fn restore_flags_criu_cannot_do_fail_in_one_line() {
    if !require_root() {
        return;
    }
    let f = Fixture::new();
    let b = Bundle::sleeper("rst-lazy");
    let id = unique_id("rst-lazy");
    f.rt.track(&id);
    let o = f.criu_run(
        &[
            "restore",
            "--lazy-pages",
            "-b",
            b.path().to_str().unwrap(),
            &id,
        ],
        &[],
    );
    assert_one_line_error(&o, Some("--lazy-pages"));
    assert_no_leaks(&f.rt, &id);
}
