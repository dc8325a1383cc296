//! Load and races: 50 containers through their whole life in parallel; 10 parallel
//! `create`s of one id (exactly one wins, the others fail cleanly); parallel
//! `kill`/`state`/`delete` of one container never show a corrupt state.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::common::*;

#[test]
fn fifty_containers_in_parallel() {
    if !require_root() {
        return;
    }
    const N: usize = 50;
    let rt = Arc::new(Runtime::new());
    let b = Arc::new(Bundle::sleeper("par50"));
    let ids: Vec<String> = (0..N).map(|_| unique_id("par50")).collect();
    for id in &ids {
        rt.track(id);
    }
    let barrier = Arc::new(Barrier::new(N));
    let handles: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let (rt, b, barrier) = (rt.clone(), b.clone(), barrier.clone());
            std::thread::spawn(move || -> Result<(), String> {
                barrier.wait();
                let check = |o: std::process::Output, what: &str| {
                    if o.status.success() {
                        Ok(())
                    } else {
                        Err(format!("{id}: {what} failed: {}", stderr(&o).trim()))
                    }
                };
                check(rt.create(&id, b.path()), "create")?;
                check(rt.run(["start", &id]), "start")?;
                match rt.status(&id).as_deref() {
                    Some("running") => {}
                    s => return Err(format!("{id}: status after start {s:?}")),
                }
                check(rt.run(["kill", &id, "KILL"]), "kill")?;
                if !rt.wait_status(&id, "stopped", Duration::from_secs(20)) {
                    return Err(format!("{id}: not stopped 20 s after kill"));
                }
                check(rt.run(["delete", &id]), "delete")?;
                Ok(())
            })
        })
        .collect();
    let errors: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().expect("thread panicked").err())
        .collect();
    assert!(
        errors.is_empty(),
        "{} of {N} failed:\n{}",
        errors.len(),
        errors.join("\n")
    );
    for id in &ids {
        assert_no_leaks(&rt, id);
    }
    let o = rt.run(["list", "-q"]);
    assert_ok(&o, "list");
    assert_eq!(stdout(&o).trim(), "", "containers still listed");
}

#[test]
fn ten_parallel_creates_of_one_id() {
    if !require_root() {
        return;
    }
    const N: usize = 10;
    let rt = Arc::new(Runtime::new());
    let b = Arc::new(Bundle::sleeper("samecreate"));
    for round in 0..3 {
        let id = unique_id("same");
        rt.track(&id);
        let barrier = Arc::new(Barrier::new(N));
        let outs: Vec<_> = (0..N)
            .map(|_| {
                let (rt, b, barrier, id) = (rt.clone(), b.clone(), barrier.clone(), id.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    rt.create(&id, b.path())
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            ok,
            1,
            "round {round}: {ok} creates of one id succeeded; errors: {:?}",
            outs.iter().map(stderr).collect::<Vec<_>>()
        );
        for o in outs.iter().filter(|o| !o.status.success()) {
            let line = assert_one_line_error(o, Some("exists"));
            assert!(line.contains(&id), "{line}");
        }
        // the winner is intact and works
        assert_eq!(rt.status(&id).as_deref(), Some("created"));
        assert_ok(&rt.run(["start", &id]), "start of the winner");
        assert_eq!(rt.status(&id).as_deref(), Some("running"));
        assert_ok(&rt.delete_force(&id), "delete");
        assert_no_leaks(&rt, &id);
    }
}

/// One state output is either valid state JSON of this container or a clean
/// "does not exist".
fn check_state(id: &str, o: &std::process::Output) -> Result<(), String> {
    if o.status.success() {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .map_err(|e| format!("state printed invalid JSON ({e}): {:?}", stdout(o)))?;
        if v["id"] != id {
            return Err(format!("state has the wrong id: {v}"));
        }
        let st = v["status"].as_str().unwrap_or("");
        if !["created", "running", "stopped"].contains(&st) {
            return Err(format!("state has status {st:?}: {v}"));
        }
        if st == "running" && v["pid"].as_i64().unwrap_or(0) <= 0 {
            return Err(format!("running without a pid: {v}"));
        }
        Ok(())
    } else {
        let e = stderr(o);
        let lines = e.lines().filter(|l| !l.trim().is_empty()).count();
        if e.contains("does not exist") && lines == 1 && o.status.code().is_some() {
            Ok(())
        } else {
            Err(format!("state failed uncleanly ({:?}): {e:?}", o.status))
        }
    }
}

#[test]
fn parallel_kill_state_delete_of_one_container() {
    if !require_root() {
        return;
    }
    let rt = Arc::new(Runtime::new());
    let b = Arc::new(Bundle::sleeper("race"));
    let mut problems = Vec::new();
    let mut state_calls = 0;
    for round in 0..5 {
        let id = unique_id("race");
        assert_ok(&rt.create(&id, b.path()), "create");
        if round % 2 == 0 {
            assert_ok(&rt.run(["start", &id]), "start");
        }
        let barrier = Arc::new(Barrier::new(9));
        let mut hs = Vec::new();
        for t in 0..9 {
            let (rt, barrier, id) = (rt.clone(), barrier.clone(), id.clone());
            hs.push(std::thread::spawn(move || {
                barrier.wait();
                let mut res: Vec<(String, std::process::Output)> = Vec::new();
                match t {
                    0..=4 => {
                        for _ in 0..15 {
                            res.push(("state".into(), rt.run(["state", &id])));
                        }
                    }
                    5 | 6 => {
                        for sig in ["TERM", "KILL"] {
                            res.push(("kill".into(), rt.run(["kill", &id, sig])));
                        }
                    }
                    _ => res.push(("delete".into(), rt.delete_force(&id))),
                }
                res
            }));
        }
        for h in hs {
            for (what, o) in h.join().unwrap() {
                let r = match what.as_str() {
                    "state" => {
                        state_calls += 1;
                        check_state(&id, &o)
                    }
                    "delete" if !o.status.success() => {
                        Err(format!("delete --force failed: {}", stderr(&o)))
                    }
                    _ if o.status.success() => Ok(()),
                    _ => {
                        let e = stderr(&o);
                        if e.lines().filter(|l| !l.trim().is_empty()).count() == 1
                            && o.status.code().is_some()
                        {
                            Ok(())
                        } else {
                            Err(format!("{what} failed uncleanly: {e:?}"))
                        }
                    }
                };
                if let Err(e) = r {
                    problems.push(format!("round {round} {id} {what}: {e}"));
                }
            }
        }
        // After both deletes, the container is gone for good.
        let o = rt.run(["state", &id]);
        assert!(!o.status.success(), "state after delete --force succeeded");
        assert_one_line_error(&o, Some("does not exist"));
        assert_no_leaks(&rt, &id);
    }
    eprintln!("{state_calls} state calls raced with kill/delete");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
