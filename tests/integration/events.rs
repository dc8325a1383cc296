//! `sifrun events`: `--stats` prints one runc event line; without it, one line per
//! `--interval` that ends when the container does; an unknown container is an error.

use std::time::Duration;

use crate::common::*;

/// `events --stats`: one runc-style stats event with the memory usage.
#[test]
fn events_stats_prints_one_line() {
    if !require_root() {
        return;
    }
    let c = CgroupContainer::run("events");
    let o = c.rt.run(["events", "--stats", &c.id]);
    assert_ok(&o, "events --stats");
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    let ev: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ev["type"], "stats", "{ev}");
    assert!(ev["data"]["memory"]["usage"]["usage"].is_u64(), "{ev}");
    c.delete();
}

/// Watchdog: `events` without `--stats` streams one runc-style JSON line per interval
/// and exits 0 once the container is gone; it used to print forever.
#[test]
fn events_streams_and_ends_with_the_container() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let (id, b) = rt.run_sleeper("events");
    let out = b.dir.join("events.out");
    let mut c = rt.cmd(["events", "--interval", "1s", &id]);
    c.stdout(std::fs::File::create(&out).unwrap());
    let mut events = c.spawn().unwrap();
    // Two intervals' worth of lines, then the container goes away.
    let t = std::time::Instant::now();
    while std::fs::read_to_string(&out).unwrap().lines().count() < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "events printed < 2 lines"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ok(&rt.delete_force(&id), "delete --force");
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = events.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(15) {
            let _ = events.kill();
            let _ = events.wait();
            panic!("events did not exit after the container was deleted");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "events exited with {status}");
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let ev: serde_json::Value = serde_json::from_str(line).expect(line);
        assert_eq!(ev["type"], "stats", "{line}");
        assert_eq!(ev["id"], id.as_str(), "{line}");
        assert!(ev["data"]["memory"].is_object(), "{line}");
    }
    // And on a container that no longer exists: an error, at once.
    let o = rt.run(["events", &id]);
    assert_one_line_error(&o, Some("does not exist"));
}
