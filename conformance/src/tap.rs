//! TAP output of the runner, per-case results and the JSON report.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
    /// A known deviation (runc-compat or spec-version dependent) that failed;
    /// reported as `not ok # TODO`, not counted as a failure.
    Todo,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assertion {
    pub case: String,
    pub name: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub runtime: String,
    /// Case name -> pass / fail / skip (a case fails if any assertion failed).
    pub cases: BTreeMap<String, Status>,
    pub assertions: Vec<Assertion>,
}

#[derive(Default)]
pub struct Reporter {
    /// (substring of an assertion name, reason): failures of matching
    /// assertions in the current case are known deviations (TODO).
    pub todo_names: Vec<(String, String)>,
    pub n: usize,
    pub case: String,
    pub results: Vec<Assertion>,
}

impl Reporter {
    fn emit(&mut self, status: Status, name: &str, detail: &str) {
        if status == Status::Fail {
            if let Some((_, why)) = self
                .todo_names
                .iter()
                .find(|(p, _)| name.contains(p.as_str()))
            {
                let d = format!("{why}\n{detail}");
                return self.emit(Status::Todo, name, &d);
            }
        }
        self.n += 1;
        let full = format!("{}: {}", self.case, name);
        let mut so = std::io::stdout().lock();
        let line = match status {
            Status::Pass => format!("ok {} - {full}", self.n),
            Status::Fail => format!("not ok {} - {full}", self.n),
            Status::Skip => format!("ok {} - {full} # SKIP {detail}", self.n),
            Status::Todo => format!("not ok {} - {full} # TODO {}", self.n, first_line(detail)),
        };
        let _ = writeln!(so, "{line}");
        if matches!(status, Status::Fail | Status::Todo) && !detail.is_empty() {
            for l in detail.lines().take(40) {
                let _ = writeln!(so, "#   {l}");
            }
        }
        let _ = so.flush();
        self.results.push(Assertion {
            case: self.case.clone(),
            name: name.to_string(),
            status,
            detail: detail.to_string(),
        });
    }

    /// One assertion: `cond` true = ok.
    pub fn check(&mut self, name: &str, cond: bool, detail: impl AsRef<str>) -> bool {
        let d = if cond { "" } else { detail.as_ref() };
        self.emit(if cond { Status::Pass } else { Status::Fail }, name, d);
        cond
    }

    /// Assert equality, with expected/actual in the diagnostics.
    pub fn eq<T: PartialEq + std::fmt::Debug>(
        &mut self,
        name: &str,
        expected: T,
        actual: T,
    ) -> bool {
        let ok = expected == actual;
        self.check(
            name,
            ok,
            format!("expected: {expected:?}\nactual:   {actual:?}"),
        )
    }

    /// A known deviation: failure is reported as TODO with `why`.
    pub fn todo(&mut self, name: &str, cond: bool, why: &str, detail: impl AsRef<str>) {
        if cond {
            self.emit(Status::Pass, name, "");
        } else {
            self.emit(Status::Todo, name, &format!("{why}\n{}", detail.as_ref()));
        }
    }

    /// Mark failures of assertions whose name contains `pattern` as TODO.
    pub fn expect_todo(&mut self, pattern: &str, why: &str) {
        self.todo_names.push((pattern.to_string(), why.to_string()));
    }

    pub fn skip(&mut self, name: &str, reason: &str) {
        self.emit(Status::Skip, name, reason);
    }

    /// Re-emit the checker's TAP lines as assertions of the current case.
    pub fn absorb_checker(&mut self, output: &str) {
        let mut pending: Option<(Status, String)> = None;
        let mut detail = String::new();
        let mut done = false;
        let flush = |me: &mut Self, p: &mut Option<(Status, String)>, d: &mut String| {
            if let Some((st, name)) = p.take() {
                match st {
                    Status::Pass => {
                        me.emit(Status::Pass, &name, "");
                    }
                    Status::Skip => {
                        let (n, r) = name.split_once(" # SKIP ").unwrap_or((&name, ""));
                        me.emit(Status::Skip, &format!("in: {n}"), r);
                        return d.clear();
                    }
                    _ => {
                        me.emit(Status::Fail, &name, d);
                    }
                }
            }
            d.clear();
        };
        for raw in output.lines() {
            let l = raw.trim_end_matches('\r');
            if let Some(rest) = l.strip_prefix("not ok - ") {
                flush(self, &mut pending, &mut detail);
                pending = Some((Status::Fail, format!("in: {rest}")));
            } else if let Some(rest) = l.strip_prefix("ok - ") {
                flush(self, &mut pending, &mut detail);
                if rest.contains(" # SKIP ") {
                    pending = Some((Status::Skip, rest.to_string()));
                } else {
                    pending = Some((Status::Pass, format!("in: {rest}")));
                }
            } else if l == crate::checker::DONE_MARKER {
                done = true;
            } else if let Some(d) = l.strip_prefix("#   ") {
                detail.push_str(d);
                detail.push('\n');
            }
        }
        flush(self, &mut pending, &mut detail);
        let tail: String = output.lines().rev().take(15).collect::<Vec<_>>().join("\n");
        self.check(
            "checker ran to completion",
            done,
            format!("checker output tail (reversed):\n{tail}"),
        );
    }

    pub fn report(&self, runtime: &str) -> Report {
        let mut cases: BTreeMap<String, Status> = BTreeMap::new();
        for a in &self.results {
            let e = cases.entry(a.case.clone()).or_insert(Status::Skip);
            *e = match (*e, a.status) {
                (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
                (Status::Todo, _) | (_, Status::Todo) => Status::Todo,
                (Status::Pass, _) | (_, Status::Pass) => Status::Pass,
                _ => Status::Skip,
            };
        }
        Report {
            runtime: runtime.to_string(),
            cases,
            assertions: self.results.clone(),
        }
    }

    /// Print the plan and the closing lines; returns the failure count.
    pub fn finish(&self) -> usize {
        let count = |s| self.results.iter().filter(|a| a.status == s).count();
        let (p, f, s, t) = (
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Skip),
            count(Status::Todo),
        );
        println!("1..{}", self.n);
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for a in self.results.iter().filter(|a| a.status == Status::Skip) {
            *reasons.entry(first_line(&a.detail)).or_default() += 1;
        }
        for (r, n) in &reasons {
            println!("# skip reason ({n}): {r}");
        }
        println!("# skipped: {s}");
        println!("# todo (known deviations, not counted as failures): {t}");
        println!("{p} passed, {f} failed");
        f
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// `compare A B`: regressions are assertions that pass in the reference
/// report `a` and fail in the candidate `b`. Reference-passing assertions
/// missing from a failed candidate case (it stopped early) count once per case.
pub fn compare(a: &Report, b: &Report) -> usize {
    let key = |x: &Assertion| format!("{}: {}", x.case, x.name);
    let bmap: BTreeMap<String, Status> = b.assertions.iter().map(|x| (key(x), x.status)).collect();
    let mut regress = 0;
    let mut n = 0;
    let mut missing: BTreeMap<String, usize> = BTreeMap::new();
    println!("# reference: {}  candidate: {}", a.runtime, b.runtime);
    for x in &a.assertions {
        if x.status != Status::Pass {
            continue;
        }
        match bmap.get(&key(x)) {
            Some(Status::Pass) | Some(Status::Skip) => {
                n += 1;
                println!("ok {n} - {}", key(x));
            }
            Some(st) => {
                n += 1;
                regress += 1;
                println!("not ok {n} - {} # candidate: {st:?}", key(x));
            }
            None if b.cases.get(&x.case) == Some(&Status::Fail) => {
                *missing.entry(x.case.clone()).or_default() += 1;
            }
            None => {
                n += 1;
                println!("ok {n} - {} # SKIP not run by the candidate", key(x));
            }
        }
    }
    for (c, k) in &missing {
        n += 1;
        regress += 1;
        println!("not ok {n} - {c}: {k} reference-passing assertions not reached by the candidate");
    }
    for (c, st) in &a.cases {
        if *st == Status::Pass && b.cases.get(c) == Some(&Status::Fail) {
            println!("# case regressed: {c}");
        }
    }
    println!("1..{n}");
    println!("{} passed, {} failed", n - regress, regress);
    regress
}
