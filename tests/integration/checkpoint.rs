//! `sifrun checkpoint` / `sifrun restore`: without a usable CRIU they fail with one
//! clear line and leave the container running.

use crate::common::*;

#[test]
fn checkpoint_and_restore_fail_clearly_without_support() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let (id, b) = rt.run_sleeper("ckpt");
    let o = rt.run(["--criu", "/nonexistent/criu", "checkpoint", &id]);
    assert_one_line_error(&o, Some("criu"));
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    let o = rt.run([
        "restore",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique_id("rst"),
    ]);
    assert_one_line_error(&o, Some("restore"));
}
