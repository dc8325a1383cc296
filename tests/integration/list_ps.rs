//! `sifrun list`: `-q`, `--format json` and the table. (`sifrun ps`, table and
//! `--format json`, is tried in exec, where it must show the exec'd process.)

use crate::common::*;

/// `list` of one running container, as ids, JSON and a table.
#[test]
fn list_quiet_json_and_table() {
    if !require_root() {
        return;
    }
    let c = CgroupContainer::run("list");
    let o = c.rt.run(["list", "-q"]);
    assert_eq!(stdout(&o), format!("{}\n", c.id));
    let o = c.rt.run(["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["id"], c.id.as_str());
    assert_eq!(list[0]["status"], "running");
    assert_eq!(list[0]["owner"], "root");
    let o = c.rt.run(["list"]);
    assert!(stdout(&o).starts_with("ID "));
    assert!(stdout(&o).contains(&c.id));
    c.delete();
}
