//! `sifrun pause` / `sifrun resume`: the v1 freezer state and the container status,
//! and `resume` of a container that is not paused. (A frozen cgroup given to
//! `create`/`run`: lifecycle.)

use crate::common::*;

/// pause freezes the container's cgroup, resume thaws it, a second resume fails.
#[test]
fn pause_resume_freeze_and_thaw_the_cgroup() {
    if !require_root() {
        return;
    }
    let c = CgroupContainer::run("pause");
    assert_ok(&c.rt.run(["pause", &c.id]), "pause");
    assert_eq!(c.rt.status(&c.id).as_deref(), Some("paused"));
    assert_eq!(
        cgroup_v1_file("freezer", &c.cg, "freezer.state").as_deref(),
        Some("FROZEN")
    );
    assert_ok(&c.rt.run(["resume", &c.id]), "resume");
    assert_eq!(c.rt.status(&c.id).as_deref(), Some("running"));
    assert_eq!(
        cgroup_v1_file("freezer", &c.cg, "freezer.state").as_deref(),
        Some("THAWED")
    );
    assert!(!c.rt.run(["resume", &c.id]).status.success());
    c.delete();
}
