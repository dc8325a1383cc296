//! `sifrun update`: the config's limits land in the container's v1 cgroup; update
//! by flag, by `--resources FILE` and by `--resources -` (stdin, as containerd sends
//! it); a malformed resources file is a one-line error.

use std::io::Write;
use std::process::Stdio;

use crate::common::*;

/// The limits of config.json, then `update` of memory and pids three ways.
#[test]
fn update_memory_and_pids_from_flags_file_and_stdin() {
    if !require_root() {
        return;
    }
    let c = CgroupContainer::run("update");
    let pid = c.rt.state(&c.id).unwrap()["pid"].as_i64().unwrap();
    assert_eq!(memory_cgroup_of(pid), format!("/{}", c.cg));
    assert_eq!(
        cgroup_v1_file("memory", &c.cg, "memory.limit_in_bytes").as_deref(),
        Some("67108864")
    );
    assert_eq!(
        cgroup_v1_file("pids", &c.cg, "pids.max").as_deref(),
        Some("77")
    );

    // update: flags and a resources file, and `-` for stdin as containerd sends it.
    assert_ok(
        &c.rt.run(["update", "--memory", "33554432", &c.id]),
        "update --memory",
    );
    assert_eq!(
        cgroup_v1_file("memory", &c.cg, "memory.limit_in_bytes").as_deref(),
        Some("33554432")
    );
    let res = c.bundle.dir.join("res.json");
    std::fs::write(&res, r#"{"pids":{"limit":55}}"#).unwrap();
    assert_ok(
        &c.rt
            .run(["update", "--resources", res.to_str().unwrap(), &c.id]),
        "update -r",
    );
    assert_eq!(
        cgroup_v1_file("pids", &c.cg, "pids.max").as_deref(),
        Some("55")
    );
    let mut cmd = c.rt.cmd(["update", "--resources", "-", &c.id]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids":{"limit":44}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        cgroup_v1_file("pids", &c.cg, "pids.max").as_deref(),
        Some("44")
    );
    std::fs::write(&res, "{not json").unwrap();
    assert_one_line_error(
        &c.rt.run(["update", "-r", res.to_str().unwrap(), &c.id]),
        Some("invalid"),
    );
    c.delete();
}
