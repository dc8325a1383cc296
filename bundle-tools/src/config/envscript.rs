//! A tiny evaluator for SingularityCE's `/.singularity.d/env/*.sh` scripts, so a
//! native SIF's environment can be computed without running a shell. It understands
//! what those scripts use: `export`/`unset`/assignments, quoting and `$VAR`,
//! `${VAR}`, `${VAR:-x}`, `${VAR-x}`, and `if`/`elif`/`else`/`fi` with `[ ]`/`test`
//! (`-z`, `-n`, `=`, `!=`, `-d`, `-f`, `-e`, `!`). A condition it cannot decide makes
//! it skip the whole `if` block, which is the safe choice: nothing guessed is set.

use std::collections::BTreeMap;
use std::path::Path;

/// Shell variables and which are exported.
#[derive(Debug, Default, Clone)]
pub struct ShellEnv {
    vars: BTreeMap<String, (String, bool)>,
    order: Vec<String>,
    /// `set -a`: every assignment exports.
    allexport: bool,
}

impl ShellEnv {
    /// A shell whose variables are `pairs`, none exported: they can be expanded but
    /// are not part of [`exported`](Self::exported) unless assigned or exported by the
    /// script. With `allexport` (`set -a`) every assignment exports; this is how
    /// SingularityCE evaluates an `--env-file` over the host environment.
    pub fn with_unexported<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        allexport: bool,
    ) -> Self {
        let mut env = ShellEnv::default();
        for (k, v) in pairs {
            env.set(k, v.to_string(), false);
        }
        env.allexport = allexport;
        env
    }
    /// Exported variables as `(key, value)`, in first-assignment order.
    pub fn exported_pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.order.iter().filter_map(|k| {
            self.vars
                .get(k)
                .filter(|(_, e)| *e)
                .map(|(v, _)| (k.as_str(), v.as_str()))
        })
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.vars.get(k).map(|(v, _)| v.as_str())
    }
    fn set(&mut self, k: &str, v: String, export: bool) {
        let exp = export || self.allexport || self.vars.get(k).is_some_and(|(_, e)| *e);
        if !self.vars.contains_key(k) {
            self.order.push(k.to_string());
        }
        self.vars.insert(k.to_string(), (v, exp));
    }
    fn export(&mut self, k: &str) {
        match self.vars.get_mut(k) {
            Some(e) => e.1 = true,
            None => {
                // `export X` of an unset var exports nothing.
            }
        }
    }
    fn unset(&mut self, k: &str) {
        self.vars.remove(k);
        self.order.retain(|o| o != k);
    }
    /// Exported variables as `K=V`, in first-assignment order.
    pub fn exported(&self) -> Vec<String> {
        self.exported_pairs()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
}

/// Split a (continuation-joined) line into words, expanding quotes and parameters.
/// Returns None if it contains syntax we do not handle (command substitution …).
/// Also splits on unquoted `;`, yielding several commands.
fn split_commands(line: &str, env: &ShellEnv) -> Option<Vec<Vec<String>>> {
    let mut cmds = vec![];
    let mut words: Vec<String> = vec![];
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' if !in_word => break,
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            ';' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                cmds.push(std::mem::take(&mut words));
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        ch => cur.push(ch),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            ch @ ('"' | '\\' | '$' | '`') => cur.push(ch),
                            ch => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                        },
                        '$' => cur.push_str(&expand_param(&mut chars, env)?),
                        '`' => return None,
                        ch => cur.push(ch),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            '$' => {
                in_word = true;
                cur.push_str(&expand_param(&mut chars, env)?);
            }
            '`' | '|' | '&' | '<' | '>' | '(' | ')' => return None,
            ch => {
                in_word = true;
                cur.push(ch);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    cmds.push(words);
    Some(cmds.into_iter().filter(|c| !c.is_empty()).collect())
}

fn expand_param(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    env: &ShellEnv,
) -> Option<String> {
    match chars.peek() {
        Some('{') => {
            chars.next();
            let mut inner = String::new();
            loop {
                match chars.next()? {
                    '}' => break,
                    ch => inner.push(ch),
                }
            }
            let (name, op, word) = if let Some(i) = inner.find(":-") {
                (&inner[..i], ":-", &inner[i + 2..])
            } else if let Some(i) = inner.find('-') {
                (&inner[..i], "-", &inner[i + 1..])
            } else {
                (inner.as_str(), "", "")
            };
            if !is_name(name) {
                return None;
            }
            let v = env.get(name);
            Some(match op {
                ":-" => match v {
                    Some(s) if !s.is_empty() => s.to_string(),
                    _ => word.to_string(),
                },
                "-" => v.map(str::to_string).unwrap_or_else(|| word.to_string()),
                _ => v.unwrap_or("").to_string(),
            })
        }
        Some(c) if *c == '_' || c.is_ascii_alphabetic() => {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c == '_' || c.is_ascii_alphanumeric() {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            Some(env.get(&name).unwrap_or("").to_string())
        }
        // $1, $@, $$, $? … : not knowable here.
        Some(_) => None,
        None => Some("$".into()),
    }
}

/// Evaluate a `test` expression; None = cannot decide.
fn eval_test(args: &[String], root: Option<&Path>) -> Option<bool> {
    if let Some(("!", rest)) = args.split_first().map(|(a, r)| (a.as_str(), r)) {
        return eval_test(rest, root).map(|b| !b);
    }
    let file = |p: &str| root.map(|r| r.join(p.trim_start_matches('/')));
    match args {
        [a] => Some(!a.is_empty()),
        [op, a] => match op.as_str() {
            "-z" => Some(a.is_empty()),
            "-n" => Some(!a.is_empty()),
            "-d" => file(a).map(|p| p.is_dir()),
            "-f" => file(a).map(|p| p.is_file()),
            "-e" => file(a).map(|p| p.exists()),
            _ => None,
        },
        [a, op, b] => match op.as_str() {
            "=" | "==" => Some(a == b),
            "!=" => Some(a != b),
            _ => None,
        },
        _ => None,
    }
}

fn eval_cond(words: &[String], root: Option<&Path>) -> Option<bool> {
    match words.first().map(String::as_str) {
        Some("[") if words.last().map(String::as_str) == Some("]") => {
            eval_test(&words[1..words.len() - 1], root)
        }
        Some("test") => eval_test(&words[1..], root),
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Branch {
    /// Executing this branch.
    Active,
    /// Looking for a later branch to take.
    Pending,
    /// A branch was taken, or the condition is unknown: skip to `fi`.
    Done,
}

/// Run one script's text over `env`. `root` resolves file tests (`-d` …) inside the
/// image; without it such tests are undecidable.
pub fn eval_script(text: &str, env: &mut ShellEnv, root: Option<&Path>) {
    // Join backslash-newline continuations first.
    let joined = text.replace("\\\n", " ");
    let mut stack: Vec<Branch> = Vec::new();
    for line in joined.lines() {
        // Expansion uses the current env; in skipped regions expansion errors do not matter.
        let Some(cmds) = split_commands(line, env) else {
            // Unsupported syntax: run nothing from this line, but keep if/fi nesting
            // balanced; an `if` whose condition we cannot read is skipped whole.
            for tok in line.split(|c: char| c.is_whitespace() || c == ';') {
                match tok {
                    "if" => stack.push(Branch::Done),
                    "elif" | "else" => {
                        if let Some(t) = stack.last_mut() {
                            *t = Branch::Done;
                        }
                    }
                    "fi" => {
                        stack.pop();
                    }
                    _ => {}
                }
            }
            continue;
        };
        // `then cmd` / `else cmd`: the keyword and the command are separate steps.
        let cmds = cmds.into_iter().flat_map(|w| {
            if matches!(w[0].as_str(), "then" | "else") && w.len() > 1 {
                vec![vec![w[0].clone()], w[1..].to_vec()]
            } else {
                vec![w]
            }
        });
        for words in cmds {
            let active_now = stack.iter().all(|b| *b == Branch::Active);
            let first = words[0].as_str();
            match first {
                "if" => {
                    let new = if !active_now {
                        Branch::Done
                    } else {
                        match eval_cond(&words[1..], root) {
                            Some(true) => Branch::Active,
                            Some(false) => Branch::Pending,
                            None => Branch::Done,
                        }
                    };
                    stack.push(new);
                }
                "elif" => {
                    if let Some(top) = stack.last_mut() {
                        *top = match *top {
                            Branch::Pending => match eval_cond(&words[1..], root) {
                                Some(true) => Branch::Active,
                                Some(false) => Branch::Pending,
                                None => Branch::Done,
                            },
                            _ => Branch::Done,
                        };
                    }
                }
                "then" => {}
                "else" => {
                    if let Some(top) = stack.last_mut() {
                        *top = if *top == Branch::Pending {
                            Branch::Active
                        } else {
                            Branch::Done
                        };
                    }
                }
                "fi" => {
                    stack.pop();
                }
                _ if !active_now => {}
                "export" | "readonly" => {
                    for w in &words[1..] {
                        if let Some((k, v)) = w.split_once('=') {
                            if is_name(k) {
                                env.set(k, v.to_string(), true);
                            }
                        } else if is_name(w) {
                            env.export(w);
                        }
                    }
                }
                "unset" => {
                    for w in &words[1..] {
                        env.unset(w);
                    }
                }
                _ => {
                    // Leading assignments `A=B C=D` (a command after them is ignored).
                    for w in &words {
                        match w.split_once('=') {
                            Some((k, v)) if is_name(k) => env.set(k, v.to_string(), false),
                            _ => break,
                        }
                    }
                }
            }
        }
    }
}

/// Environment a native SIF's env scripts produce: reads `/.singularity.d/env/*.sh`
/// under `rootfs` in lexical order, starting from `initial`.
pub fn image_env(rootfs: &Path, initial: &[(&str, &str)]) -> Vec<String> {
    let mut env = ShellEnv::default();
    for (k, v) in initial {
        env.set(k, v.to_string(), true);
    }
    let dir = rootfs.join(".singularity.d/env");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sh"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for f in files {
        // Scripts are small; cap what we read in case of a hostile image.
        if let Ok(t) = read_capped(&f, 1 << 20) {
            eval_script(&t, &mut env, Some(rootfs));
        }
    }
    env.exported()
}

/// A text file, cut at `cap` bytes, read in as few syscalls as its size allows: on a
/// FUSE rootfs every read is a round trip to the daemon, and behind `take` std no
/// longer sees the file size and starts with 32-byte reads.
pub(crate) fn read_capped(p: &Path, cap: u64) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(p)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0).min(cap);
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
    f.take(cap).read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Vec<String> {
        let mut e = ShellEnv::default();
        eval_script(s, &mut e, None);
        e.exported()
    }

    #[test]
    fn basics() {
        assert_eq!(run("export A=1\nB=2\nexport B"), ["A=1", "B=2"]);
        assert_eq!(run("export P=\"/x:$P\" Q='$lit'"), ["P=/x:", "Q=$lit"]);
        assert_eq!(run("X=a; export X; unset X"), Vec::<String>::new());
        assert_eq!(run("export A=${NOPE:-dflt}"), ["A=dflt"]);
        assert_eq!(run("A=1 # c\n# x\nexport A"), ["A=1"]);
    }

    #[test]
    fn conditionals() {
        let s = r#"
if [ -z "$LD_LIBRARY_PATH" ]; then
    LD_LIBRARY_PATH="/.singularity.d/libs"
else
    LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/.singularity.d/libs"
fi
PS1="Singularity> "
export LD_LIBRARY_PATH PS1
if [ -n "${SING_USER_DEFINED_PATH:-}" ]; then
	PATH="${SING_USER_DEFINED_PATH}"
fi
unset SING_USER_DEFINED_PREPEND_PATH \
	  SING_USER_DEFINED_PATH
if test -n "${SINGULARITY_APPNAME:-}"; then
    export SINGULARITY_APPNAME
    if test -d "/scif/apps/x"; then
        export BAD=1
    fi
fi
if some_command; then export BAD=2; else export BAD=3; fi
"#;
        assert_eq!(
            run(s),
            ["LD_LIBRARY_PATH=/.singularity.d/libs", "PS1=Singularity> "]
        );
        assert_eq!(
            run("if [ a = b ]; then export R=1\nelif [ a = a ]; then export R=2\nelse export R=3\nfi"),
            ["R=2"]
        );
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for s in [
            "${",
            "\"unterminated",
            "if\nfi\nfi\nelse",
            "$(rm -rf /)",
            "export =x ==",
            "elif x",
        ] {
            run(s);
        }
        assert_eq!(
            run("if [ -n \"$1\" ]; then\nexport A=1\nfi\nexport B=2"),
            ["B=2"]
        );
    }
}
