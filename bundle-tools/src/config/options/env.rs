//! Container environment in SingularityCE's OCI mode (oci-mode.md §1.4, §1.6, §2):
//! the "user env" (`SINGULARITYENV_*`, `--env-file`, `--env`, forced `HOME`), merged
//! with the image's `Env` and the host variables that pass the compat / `--no-compat`
//! filter into `process.env`; for native SIFs also the `98-singularityenv.sh` script
//! that re-applies the user env after the image's own env scripts.
//!
//! Singularity keeps these in Go maps, so its order is random; here every list keeps
//! first-set order (a later source replaces a value in place), which is deterministic.

use std::collections::{HashMap, HashSet};

use crate::config::envscript::{eval_script, ShellEnv};
use crate::error::{Error, Result};

/// What the caller asked for, plus what the environment assembly needs to know.
pub struct EnvInput<'a> {
    /// The caller's environment, in order.
    pub host_env: &'a [(String, String)],
    /// `--env KEY=VAL` items, in command-line order (see [`parse_env_flag`]).
    pub env: &'a [(String, String)],
    /// `--env-file` files, in command-line order.
    pub env_files: &'a [std::path::PathBuf],
    pub cleanenv: bool,
    pub no_compat: bool,
    pub no_eval: bool,
    /// HOME to force (None when the image declares USER).
    pub home: Option<&'a str>,
    /// `SINGULARITY_CONTAINER` value (bundle path).
    pub container: &'a str,
    /// `SINGULARITY_NAME` value (image argument).
    pub name: &'a str,
    /// `SINGULARITY_IMAGE` value for `--env-file` evaluation.
    pub image: &'a str,
}

/// Native SIF in OCI mode: `process.env` and the text of `<bundle>/98-singularityenv.sh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeEnv {
    pub process_env: Vec<String>,
    pub script: String,
}

const ENV_PREFIX: &str = "SINGULARITYENV_";
const LIBS: &str = "/.singularity.d/libs";
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Host variables passed even in compat mode (`env.AlwaysPassKeys`).
const ALWAYS_PASS: [&str; 11] = [
    "TERM",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "ftp_proxy",
    "FTP_PROXY",
];
/// Host variables never passed (`env.AlwaysOmitKeys`).
const ALWAYS_OMIT: [&str; 5] = [
    "HOME",
    "PATH",
    "SINGULARITY_SHELL",
    "SINGULARITY_APPNAME",
    "LD_LIBRARY_PATH",
];
/// Results of an env file that are dropped (`env.ReadOnlyVars`): Singularity's shell
/// interpreter sets these itself, and some are read-only in bash.
const ENV_FILE_DROPPED: [&str; 7] = ["EUID", "GID", "HOME", "IFS", "OPTIND", "PWD", "UID"];
/// User-env keys that are not plain variables: they steer PATH / LD_LIBRARY_PATH.
const PATH_KEYS: [&str; 4] = ["PATH", "APPEND_PATH", "PREPEND_PATH", "LD_LIBRARY_PATH"];

/// Key → value, in first-set order; setting a key again replaces its value in place.
#[derive(Default)]
struct Ordered {
    items: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Ordered {
    fn set(&mut self, k: &str, v: &str) {
        match self.index.get(k) {
            Some(&i) => self.items[i].1 = v.to_string(),
            None => {
                self.index.insert(k.to_string(), self.items.len());
                self.items.push((k.to_string(), v.to_string()));
            }
        }
    }
}

/// `process.env` under construction, with Singularity's generator semantics
/// (`AddProcessEnv`): replace the first `K=` entry in place, else append.
struct EnvList(Vec<String>);

impl EnvList {
    fn add(&mut self, k: &str, v: &str) {
        let entry = format!("{k}={v}");
        match self
            .0
            .iter_mut()
            .find(|e| e.split_once('=').is_some_and(|(ek, _)| ek == k))
        {
            Some(e) => *e = entry,
            None => self.0.push(entry),
        }
    }
}

/// Section 1.4 steps 1-5: the "user env", later sources overriding earlier ones; keys in
/// first-set order (deterministic).
pub fn user_env(input: &EnvInput) -> Result<Vec<(String, String)>> {
    let mut env = Ordered::default();
    env.set("SINGULARITY_CONTAINER", input.container);
    env.set("SINGULARITY_NAME", input.name);
    for (k, v) in input.host_env {
        // An empty key (`SINGULARITYENV_=x`) would become a `=x` entry: dropped.
        if let Some(key) = k.strip_prefix(ENV_PREFIX).filter(|k| !k.is_empty()) {
            env.set(key, v);
        }
    }
    for file in input.env_files {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::Options(format!(
                "could not read environment file {:?}: {e}",
                file.display().to_string()
            ))
        })?;
        // Evaluated like Singularity's `env.FileMap`: host env plus SINGULARITY_IMAGE
        // visible but not exported, `set -a`, and the exported result is what counts.
        // Each file starts from the host env, not from earlier files' results.
        let visible = input
            .host_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("SINGULARITY_IMAGE", input.image)]);
        let mut shell = ShellEnv::with_unexported(visible, true);
        eval_script(&text, &mut shell, None);
        for (k, v) in shell.exported_pairs() {
            if !ENV_FILE_DROPPED.contains(&k) {
                env.set(k, v);
            }
        }
    }
    for (k, v) in input.env {
        if !k.is_empty() {
            env.set(k, v);
        }
    }
    if let Some(home) = input.home {
        env.set("HOME", home);
    }
    Ok(env.items)
}

/// Whether a host variable passes (`env.AddHostEnv`): `clean` keeps only TERM and
/// the proxy variables; otherwise everything but HOME, PATH, LD_LIBRARY_PATH and
/// the two SINGULARITY_ control variables.
fn host_passes(k: &str, clean: bool) -> bool {
    ALWAYS_PASS.contains(&k) || !(clean || ALWAYS_OMIT.contains(&k))
}

/// Host variables for the container (`env.HostEnvMap`), in host order, last value of a
/// repeated key winning. `SINGULARITYENV_*` never pass (they became the user env).
fn host_vars(input: &EnvInput) -> Vec<(String, String)> {
    let clean = !input.no_compat || input.cleanenv;
    let mut out = Ordered::default();
    for (k, v) in input.host_env {
        if !k.starts_with(ENV_PREFIX) && host_passes(k, clean) {
            out.set(k, v);
        }
    }
    out.items
}

/// The user env split into the path-related values and the rest, applied to `list`.
#[derive(Default)]
struct Paths {
    path: String,
    append: String,
    prepend: String,
    ld: String,
}

fn apply_user(
    list: &mut EnvList,
    user: &[(String, String)],
    p: &mut Paths,
    added: &mut HashSet<String>,
) {
    for (k, v) in user {
        match k.as_str() {
            "PATH" => p.path = v.clone(),
            "APPEND_PATH" => p.append = v.clone(),
            "PREPEND_PATH" => p.prepend = v.clone(),
            "LD_LIBRARY_PATH" => p.ld = v.clone(),
            _ => {
                list.add(k, v);
                added.insert(k.clone());
            }
        }
    }
}

/// process.env for an OCI-SIF (section 1.4): image Env (its PATH and LD_LIBRARY_PATH
/// entries keep their place but get the computed values), user env except PATH,
/// APPEND_PATH, PREPEND_PATH, LD_LIBRARY_PATH, host vars not yet set (compat: TERM and
/// the proxy vars; --no-compat: all but HOME PATH SINGULARITY_SHELL SINGULARITY_APPNAME
/// LD_LIBRARY_PATH and SINGULARITYENV_*; --cleanenv restores the compat filter), then
/// PATH = user PATH || image PATH || default with APPEND_PATH / PREPEND_PATH, and
/// LD_LIBRARY_PATH with `:/.singularity.d/libs`.
pub fn oci_process_env(image_env: &[String], input: &EnvInput) -> Result<Vec<String>> {
    let user = user_env(input)?;
    let mut list = EnvList(image_env.to_vec());
    let mut p = Paths::default();
    let mut added = HashSet::new();
    for e in image_env {
        match e.split_once('=') {
            Some(("PATH", v)) => p.path = v.to_string(),
            Some(("LD_LIBRARY_PATH", v)) => p.ld = v.to_string(),
            Some((k, _)) => {
                added.insert(k.to_string());
            }
            None => {}
        }
    }
    apply_user(&mut list, &user, &mut p, &mut added);
    // Only keys set as plain variables block a host variable: a user PATH does not,
    // but PATH never passes the host filter anyway. (A host APPEND_PATH does pass with
    // --no-compat, as a plain variable, as in Singularity.)
    for (k, v) in host_vars(input) {
        if added.insert(k.clone()) {
            list.add(&k, &v);
        }
    }
    // setOCIPath: a default so bare CMDs are found when nobody set PATH.
    let mut path = if p.path.is_empty() {
        DEFAULT_PATH.to_string()
    } else {
        p.path
    };
    if !p.append.is_empty() {
        path = format!("{}:{}", path.strip_suffix(':').unwrap_or(&path), p.append);
    }
    if !p.prepend.is_empty() {
        path = format!("{}:{}", p.prepend, path.strip_prefix(':').unwrap_or(&path));
    }
    list.add("PATH", &path);
    let mut ld = p.ld;
    if !ld.contains(LIBS) {
        let joined = format!("{ld}:{LIBS}");
        // One leading ':' goes (Go's TrimPrefix): the libs dir alone if ld was empty.
        ld = joined.strip_prefix(':').unwrap_or(&joined).to_string();
    }
    list.add("LD_LIBRARY_PATH", &ld);
    Ok(list.0)
}

/// Native SIF in OCI mode (section 1.6): process.env and the text of
/// `<bundle>/98-singularityenv.sh`.
///
/// `process.env` is the image env (PATH included, as a plain entry: the image's env
/// scripts set the real PATH), the user env except the path keys, user PATH /
/// PREPEND_PATH / APPEND_PATH as `SING_USER_DEFINED_*` for `99-runtimevars.sh`, and
/// LD_LIBRARY_PATH (user || image) if non-empty; no host variables, no libs dir.
///
/// The script re-assigns every user-env variable except the path keys (they are in
/// `process.env`, so already exported), then exports each host variable that passes
/// the filter unless the container already set it.
pub fn native_env(image_env: &[String], input: &EnvInput) -> Result<NativeEnv> {
    let user = user_env(input)?;
    let mut list = EnvList(image_env.to_vec());
    let mut p = Paths::default();
    for e in image_env {
        if let Some(("LD_LIBRARY_PATH", v)) = e.split_once('=') {
            p.ld = v.to_string();
        }
    }
    apply_user(&mut list, &user, &mut p, &mut HashSet::new());
    for (k, v) in [
        ("SING_USER_DEFINED_PREPEND_PATH", &p.prepend),
        ("SING_USER_DEFINED_PATH", &p.path),
        ("SING_USER_DEFINED_APPEND_PATH", &p.append),
    ] {
        if !v.is_empty() {
            list.add(k, v);
        }
    }
    if !p.ld.is_empty() {
        list.add("LD_LIBRARY_PATH", &p.ld);
    }

    let eval = input.no_compat && !input.no_eval;
    let mut script = String::new();
    // A key that is not a shell name cannot be assigned in sh, and written as is it
    // would be a command line (`--env 'x;rm -rf ~;y=1'`) or a syntax error that stops
    // the whole env sourcing; such keys are left out of the script. They still reach
    // the process through process.env where a key can be anything.
    for (k, v) in user.iter().filter(|(k, _)| is_shell_name(k)) {
        if PATH_KEYS.contains(&k.as_str()) {
            continue;
        }
        let q = if eval {
            double_quote(v)
        } else {
            single_quote(v)
        };
        script.push_str(&format!("{k}={q}\n"));
    }
    // Host variables: same block as Singularity, set only if still unset at source
    // time. Host keys such as bash's `BASH_FUNC_f%%` are skipped for the same reason.
    for (k, v) in host_vars(input).iter().filter(|(k, _)| is_shell_name(k)) {
        script.push_str(&format!(
            "\nif [ ! \"${{{k}+1}}\" ]; then\n\texport {k}={}\nfi\n\t",
            single_quote(v)
        ));
    }
    Ok(NativeEnv {
        process_env: list.0,
        script,
    })
}

fn is_shell_name(s: &str) -> bool {
    let mut c = s.bytes();
    matches!(c.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && c.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// `'v'` with each `'` written as `'\''`: sh reads it back byte for byte.
fn single_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// `"v"` for evaluation when sourced. As Singularity (`shell.EscapeDoubleQuotes`), only
/// `"` is escaped: `$`, backquotes and backslashes keep their shell meaning, so
/// `$HOME`, `$(cmd)` and `\$` work as the user wrote them. One repair: a run of an odd
/// number of backslashes just before a `"` of the value or before the closing quote
/// would escape that quote and leave the string open (Singularity then writes a
/// script that fails to parse); such a run gets one more backslash, so its last
/// backslash is literal. Values Singularity quotes correctly are quoted identically.
fn double_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    let mut run = 0;
    for c in v.chars() {
        match c {
            '\\' => {
                run += 1;
                out.push(c);
                continue;
            }
            '"' => {
                if run % 2 == 1 {
                    out.push('\\');
                }
                out.push_str("\\\"");
            }
            _ => out.push(c),
        }
        run = 0;
    }
    if run % 2 == 1 {
        out.push('\\');
    }
    out.push('"');
    out
}

/// `--env` value parser: `KEY=VAL[,KEY=VAL...]`, as pflag's string-to-string flag. A
/// value with a single `=` is one item, commas included, surrounding `"` trimmed; with
/// more, the value is read as one CSV record (Go's encoding/csv: `"…"` quotes an item,
/// `""` is a quote inside it, a bare `"` elsewhere is an error, only the first line
/// counts). Each item must contain `=`; an empty name is refused too (it would make a
/// `=VAL` entry).
pub fn parse_env_flag(s: &str) -> Result<Vec<(String, String)>> {
    let items = match s.matches('=').count() {
        0 => vec![s.to_string()],
        1 => vec![s.trim_matches('"').to_string()],
        _ => {
            csv_record(s).map_err(|e| Error::Options(format!("invalid --env value {s:?}: {e}")))?
        }
    };
    items
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some(("", _)) => Err(Error::Options(format!(
                "--env item {item:?} has an empty variable name"
            ))),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(Error::Options(format!(
                "--env item {item:?} must be formatted as key=value"
            ))),
        })
        .collect()
}

/// The first record of `s` read as CSV with Go's encoding/csv defaults.
fn csv_record(s: &str) -> std::result::Result<Vec<String>, &'static str> {
    let s = s.replace("\r\n", "\n");
    let s = s.strip_suffix('\r').unwrap_or(&s);
    // Blank lines before the record are skipped.
    let mut chars = s.trim_start_matches('\n').chars().peekable();
    let mut fields = Vec::new();
    loop {
        let mut f = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => match chars.peek() {
                        Some('"') => {
                            chars.next();
                            f.push('"');
                        }
                        Some(',') => {
                            chars.next();
                            break;
                        }
                        None | Some('\n') => {
                            fields.push(f);
                            return Ok(fields);
                        }
                        Some(_) => return Err("extraneous or missing \" in quoted field"),
                    },
                    Some(c) => f.push(c),
                    None => return Err("extraneous or missing \" in quoted field"),
                }
            }
        } else {
            loop {
                match chars.next() {
                    Some(',') => break,
                    None | Some('\n') => {
                        fields.push(f);
                        return Ok(fields);
                    }
                    Some('"') => return Err("bare \" in non-quoted field"),
                    Some(c) => f.push(c),
                }
            }
        }
        fields.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn input<'a>(
        host: &'a [(String, String)],
        env: &'a [(String, String)],
        files: &'a [PathBuf],
    ) -> EnvInput<'a> {
        EnvInput {
            host_env: host,
            env,
            env_files: files,
            cleanenv: false,
            no_compat: false,
            no_eval: false,
            home: Some("/home/u"),
            container: "/b",
            name: "img.sif",
            image: "/abs/img.sif",
        }
    }

    fn get<'a>(env: &'a [String], k: &str) -> Option<&'a str> {
        env.iter()
            .find_map(|e| e.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
    }

    #[test]
    fn precedence() {
        let dir = tempfile::tempdir().unwrap();
        let f1 = dir.path().join("a.env");
        std::fs::write(
            &f1,
            "# comment\nA=file\nB=\"file $HOSTV ${SINGULARITY_IMAGE}\"\nHOME=/nope\nUID=5\nPWD=/x\nexport HOSTV\nunset Z\n",
        )
        .unwrap();
        let f2 = dir.path().join("b.env");
        std::fs::write(&f2, "C='second file'\nSEEN=\"${A:-unset}\"\n").unwrap();
        let host = pairs(&[
            ("SINGULARITYENV_A", "senv"),
            ("SINGULARITYENV_B", "senv"),
            ("SINGULARITYENV_C", "senv"),
            ("SINGULARITYENV_D", "senv"),
            ("SINGULARITYENV_HOME", "/senv-home"),
            ("SINGULARITYENV_", "empty key"),
            ("HOSTV", "hv"),
            ("Z", "z"),
            ("OTHER", "o"),
        ]);
        let env = pairs(&[("C", "flag"), ("E", "1"), ("E", "2")]);
        let files = [f1, f2];
        let inp = input(&host, &env, &files);
        assert_eq!(
            user_env(&inp).unwrap(),
            pairs(&[
                ("SINGULARITY_CONTAINER", "/b"),
                ("SINGULARITY_NAME", "img.sif"),
                ("A", "file"),
                ("B", "file hv /abs/img.sif"),
                ("C", "flag"),
                ("D", "senv"),
                ("HOME", "/home/u"),
                ("HOSTV", "hv"),
                // The second file does not see the first one's results.
                ("SEEN", "unset"),
                ("E", "2"),
            ])
        );
        // The image declares USER: HOME is not forced, SINGULARITYENV_HOME stays.
        let inp = EnvInput {
            home: None,
            ..input(&host, &env, &files)
        };
        let u = user_env(&inp).unwrap();
        assert!(u.contains(&("HOME".into(), "/senv-home".into())));
        let inp = EnvInput {
            home: None,
            ..input(&[], &[], &[])
        };
        assert!(!user_env(&inp).unwrap().iter().any(|(k, _)| k == "HOME"));

        let missing = [dir.path().join("missing.env")];
        let e = user_env(&input(&[], &[], &missing))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("could not read environment file \""), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn oci_env_assembly() {
        let image = vec![
            "PATH=/img/bin".to_string(),
            "IMG=1".to_string(),
            "LD_LIBRARY_PATH=/img/lib".to_string(),
            "TERM=image-term".to_string(),
        ];
        let host = pairs(&[
            ("TERM", "xterm"),
            ("http_proxy", "http://p"),
            ("NO_PROXY", "localhost"),
            ("SHELLVAR", "s"),
            ("HOME", "/hosthome"),
            ("PATH", "/host/bin"),
            ("SINGULARITYENV_IMG", "user"),
        ]);
        let env = pairs(&[("NEW", "n")]);
        let inp = input(&host, &env, &[]);
        assert_eq!(
            oci_process_env(&image, &inp).unwrap(),
            [
                "PATH=/img/bin",
                "IMG=user",
                "LD_LIBRARY_PATH=/img/lib:/.singularity.d/libs",
                // The image's TERM wins over the host's.
                "TERM=image-term",
                "SINGULARITY_CONTAINER=/b",
                "SINGULARITY_NAME=img.sif",
                "NEW=n",
                "HOME=/home/u",
                "http_proxy=http://p",
                "NO_PROXY=localhost",
            ]
        );
        // --cleanenv changes nothing in compat.
        let inp_c = EnvInput {
            cleanenv: true,
            ..input(&host, &env, &[])
        };
        assert_eq!(
            oci_process_env(&image, &inp_c).unwrap(),
            oci_process_env(&image, &inp).unwrap()
        );
        // No image env at all: default PATH, libs dir alone.
        let bare = oci_process_env(&[], &input(&[], &[], &[])).unwrap();
        assert_eq!(
            bare,
            [
                "SINGULARITY_CONTAINER=/b",
                "SINGULARITY_NAME=img.sif",
                "HOME=/home/u",
                &format!("PATH={DEFAULT_PATH}"),
                "LD_LIBRARY_PATH=/.singularity.d/libs",
            ]
        );
    }

    #[test]
    fn no_compat_host_filter() {
        let host = pairs(&[
            ("TERM", "xterm"),
            ("FOO", "bar"),
            ("HOME", "/hosthome"),
            ("PATH", "/host/bin"),
            ("LD_LIBRARY_PATH", "/host/lib"),
            ("SINGULARITY_SHELL", "/bin/zsh"),
            ("SINGULARITY_APPNAME", "app"),
            ("SINGULARITY_BIND", "/x"),
            ("SINGULARITYENV_X", "y"),
            ("IMG", "host"),
            ("APPEND_PATH", "/host-append"),
            ("FOO", "bar2"),
        ]);
        let image = vec!["IMG=1".to_string()];
        let inp = EnvInput {
            no_compat: true,
            ..input(&host, &[], &[])
        };
        let e = oci_process_env(&image, &inp).unwrap();
        assert_eq!(
            e,
            [
                "IMG=1",
                "SINGULARITY_CONTAINER=/b",
                "SINGULARITY_NAME=img.sif",
                "X=y",
                "HOME=/home/u",
                "TERM=xterm",
                "FOO=bar2",
                "SINGULARITY_BIND=/x",
                // A host APPEND_PATH is a plain variable, not a PATH edit.
                "APPEND_PATH=/host-append",
                &format!("PATH={DEFAULT_PATH}"),
                "LD_LIBRARY_PATH=/.singularity.d/libs",
            ]
        );
        // --cleanenv restores the compat filter.
        let inp = EnvInput {
            no_compat: true,
            cleanenv: true,
            ..input(&host, &[], &[])
        };
        let e = oci_process_env(&image, &inp).unwrap();
        assert_eq!(get(&e, "TERM"), Some("xterm"));
        assert_eq!(get(&e, "FOO"), None);
        assert_eq!(get(&e, "SINGULARITY_BIND"), None);
        // Compat: only TERM and proxies.
        let e = oci_process_env(&image, &input(&host, &[], &[])).unwrap();
        assert_eq!(get(&e, "TERM"), Some("xterm"));
        assert_eq!(get(&e, "FOO"), None);
        assert_eq!(get(&e, "APPEND_PATH"), None);
    }

    #[test]
    fn path_rules() {
        let path = |image: &[&str], user: &[(&str, &str)]| {
            let image: Vec<String> = image.iter().map(|s| s.to_string()).collect();
            let env = pairs(user);
            let e = oci_process_env(&image, &input(&[], &env, &[])).unwrap();
            assert_eq!(e.iter().filter(|e| e.starts_with("PATH=")).count(), 1);
            get(&e, "PATH").unwrap().to_string()
        };
        assert_eq!(path(&[], &[]), DEFAULT_PATH);
        assert_eq!(path(&["PATH=/img"], &[]), "/img");
        assert_eq!(path(&["PATH=/img"], &[("PATH", "/user")]), "/user");
        assert_eq!(
            path(&[], &[("APPEND_PATH", "/app")]),
            format!("{DEFAULT_PATH}:/app")
        );
        assert_eq!(
            path(
                &["PATH=/img"],
                &[("APPEND_PATH", "/a"), ("PREPEND_PATH", "/p")]
            ),
            "/p:/img:/a"
        );
        assert_eq!(path(&["PATH=/img:"], &[("APPEND_PATH", "/a")]), "/img:/a");
        assert_eq!(path(&["PATH=:/img"], &[("PREPEND_PATH", "/p")]), "/p:/img");
        assert_eq!(
            path(
                &["PATH=/img"],
                &[
                    ("PATH", "/u"),
                    ("PREPEND_PATH", "/p"),
                    ("APPEND_PATH", "/a")
                ]
            ),
            "/p:/u:/a"
        );
        // The path keys themselves are not variables in the container.
        let env = pairs(&[("APPEND_PATH", "/a"), ("PREPEND_PATH", "/p")]);
        let e = oci_process_env(&[], &input(&[], &env, &[])).unwrap();
        assert_eq!(get(&e, "APPEND_PATH"), None);
        assert_eq!(get(&e, "PREPEND_PATH"), None);
    }

    #[test]
    fn ld_library_path_rules() {
        let ld = |image: &[&str], user: &[(&str, &str)]| {
            let image: Vec<String> = image.iter().map(|s| s.to_string()).collect();
            let env = pairs(user);
            let e = oci_process_env(&image, &input(&[], &env, &[])).unwrap();
            assert_eq!(
                e.iter()
                    .filter(|e| e.starts_with("LD_LIBRARY_PATH="))
                    .count(),
                1
            );
            get(&e, "LD_LIBRARY_PATH").unwrap().to_string()
        };
        assert_eq!(ld(&[], &[]), "/.singularity.d/libs");
        assert_eq!(ld(&["LD_LIBRARY_PATH=/i"], &[]), "/i:/.singularity.d/libs");
        assert_eq!(
            ld(&["LD_LIBRARY_PATH=/i"], &[("LD_LIBRARY_PATH", "/u")]),
            "/u:/.singularity.d/libs"
        );
        assert_eq!(
            ld(&[], &[("LD_LIBRARY_PATH", "/.singularity.d/libs:/u")]),
            "/.singularity.d/libs:/u"
        );
        assert_eq!(ld(&["LD_LIBRARY_PATH="], &[]), "/.singularity.d/libs");
        // Only one leading ':' is trimmed, as Go's TrimPrefix.
        assert_eq!(
            ld(&[], &[("LD_LIBRARY_PATH", ":")]),
            ":/.singularity.d/libs"
        );
    }

    #[test]
    fn native_process_env() {
        let image = vec![
            "PATH=/img/bin".to_string(),
            "LD_LIBRARY_PATH=/il".to_string(),
        ];
        let host = pairs(&[("TERM", "xterm"), ("SINGULARITYENV_FOO", "f")]);
        let env = pairs(&[
            ("PATH", "/u"),
            ("PREPEND_PATH", "/p"),
            ("APPEND_PATH", "/a"),
        ]);
        let n = native_env(&image, &input(&host, &env, &[])).unwrap();
        assert_eq!(
            n.process_env,
            [
                "PATH=/img/bin",
                "LD_LIBRARY_PATH=/il",
                "SINGULARITY_CONTAINER=/b",
                "SINGULARITY_NAME=img.sif",
                "FOO=f",
                "HOME=/home/u",
                "SING_USER_DEFINED_PREPEND_PATH=/p",
                "SING_USER_DEFINED_PATH=/u",
                "SING_USER_DEFINED_APPEND_PATH=/a",
            ]
        );
        assert_eq!(
            n.script,
            "SINGULARITY_CONTAINER='/b'\nSINGULARITY_NAME='img.sif'\nFOO='f'\nHOME='/home/u'\n\
             \nif [ ! \"${TERM+1}\" ]; then\n\texport TERM='xterm'\nfi\n\t"
        );
        let n = native_env(&[], &input(&[], &[], &[])).unwrap();
        assert!(!n
            .process_env
            .iter()
            .any(|e| e.starts_with("LD_LIBRARY_PATH=")));
    }

    /// Source `script` in sh with `env`, print `$key`.
    fn sh(script: &str, key: &str, env: &[(&str, &str)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("98-singularityenv.sh");
        std::fs::write(&f, script).unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!(". {}; printf %s \"${key}\"", f.display()))
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            script,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    const TRICKY: [&str; 16] = [
        "plain",
        "it's",
        "'",
        "''",
        "a'b'c'",
        "$(echo hi)",
        "`echo hi`",
        "$HOME",
        "\\",
        "a\\",
        "\"",
        "a\"b\"",
        "\\\"",
        "line1\nline2",
        "*; rm -rf x &",
        "ünï ~ !",
    ];

    #[test]
    fn native_script_compat_quoting() {
        for v in TRICKY {
            let env = pairs(&[("KEY", v)]);
            let n = native_env(&[], &input(&[], &env, &[])).unwrap();
            assert_eq!(sh(&n.script, "KEY", &[("HOME", "/h")]), v, "{v:?}");
            // --no-eval with --no-compat: no evaluation either.
            let inp = EnvInput {
                no_compat: true,
                no_eval: true,
                ..input(&[], &env, &[])
            };
            let n = native_env(&[], &inp).unwrap();
            assert_eq!(sh(&n.script, "KEY", &[("HOME", "/h")]), v, "{v:?}");
        }
        // Host values are single-quoted too, and only set if unset.
        let host = pairs(&[("TERM", "it's \"x\" $HOME")]);
        let n = native_env(&[], &input(&host, &[], &[])).unwrap();
        assert_eq!(sh(&n.script, "TERM", &[]), "it's \"x\" $HOME");
        assert_eq!(sh(&n.script, "TERM", &[("TERM", "already")]), "already");
    }

    #[test]
    fn native_script_eval_quoting() {
        let cases = [
            ("plain", "plain"),
            ("it's", "it's"),
            ("$HOME/x", "/h/x"),
            ("${HOME}", "/h"),
            ("$(echo hi)", "hi"),
            ("`echo hi`", "hi"),
            ("\\$HOME", "$HOME"),
            ("a\"b\"", "a\"b\""),
            ("\"", "\""),
            // Backslash runs Singularity would leave open: last backslash made literal.
            ("\\", "\\"),
            ("a\\", "a\\"),
            ("\\\"", "\\\""),
            ("\\\\\\", "\\\\"),
            // An even run Singularity quotes fine: unchanged (\\ is one backslash).
            ("\\\\", "\\"),
            ("\\\\\"", "\\\""),
            ("line1\nline2", "line1\nline2"),
        ];
        for (v, want) in cases {
            let env = pairs(&[("KEY", v)]);
            let inp = EnvInput {
                no_compat: true,
                ..input(&[], &env, &[])
            };
            let n = native_env(&[], &inp).unwrap();
            assert_eq!(sh(&n.script, "KEY", &[("HOME", "/h")]), want, "{v:?}");
        }
        assert_eq!(double_quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(double_quote("\\\\\""), "\"\\\\\\\"\"");
    }

    #[test]
    fn native_script_no_compat_host_and_bad_keys() {
        let host = pairs(&[
            ("FOO", "bar"),
            ("BASH_FUNC_f%%", "() { echo; }"),
            ("HOME", "/hh"),
            ("SINGULARITYENV_bad-key", "1"),
        ]);
        let env = pairs(&[("x;touch /tmp/pwned;y", "1"), ("OK", "1")]);
        let inp = EnvInput {
            no_compat: true,
            ..input(&host, &env, &[])
        };
        let n = native_env(&[], &inp).unwrap();
        assert!(!n.script.contains("pwned"));
        assert!(!n.script.contains("BASH_FUNC"));
        assert!(!n.script.contains("bad-key"));
        assert!(!n.script.contains("/hh"));
        assert_eq!(sh(&n.script, "FOO", &[]), "bar");
        assert_eq!(sh(&n.script, "OK", &[]), "1");
        // The odd keys still reach process.env.
        assert!(n.process_env.contains(&"bad-key=1".to_string()));
        // --cleanenv: compat filter.
        let inp = EnvInput {
            no_compat: true,
            cleanenv: true,
            ..input(&host, &env, &[])
        };
        assert!(!native_env(&[], &inp).unwrap().script.contains("FOO"));
    }

    #[test]
    fn env_flag() {
        let p = |s: &str| parse_env_flag(s).unwrap();
        assert_eq!(p("A=1"), pairs(&[("A", "1")]));
        assert_eq!(p("A="), pairs(&[("A", "")]));
        // One '=': one item, commas and all; quotes trimmed.
        assert_eq!(p("A=1,2"), pairs(&[("A", "1,2")]));
        assert_eq!(p("\"A=x\""), pairs(&[("A", "x")]));
        assert_eq!(p("A=1,B=2"), pairs(&[("A", "1"), ("B", "2")]));
        assert_eq!(p("A=x=y"), pairs(&[("A", "x=y")]));
        assert_eq!(p("\"A=1,2\",B=3"), pairs(&[("A", "1,2"), ("B", "3")]));
        assert_eq!(
            p("\"A=say \"\"hi\"\"\",B=3"),
            pairs(&[("A", "say \"hi\""), ("B", "3")])
        );
        assert_eq!(p("\"A=l1\nl2\",B=2"), pairs(&[("A", "l1\nl2"), ("B", "2")]));
        assert_eq!(p("A=1,B=2\nC=3"), pairs(&[("A", "1"), ("B", "2")]));
        assert_eq!(p("\nA=1,B=2\r\n"), pairs(&[("A", "1"), ("B", "2")]));
        assert_eq!(p("A=1,A=2"), pairs(&[("A", "1"), ("A", "2")]));
        let e = |s: &str| parse_env_flag(s).unwrap_err().to_string();
        assert_eq!(
            e("FOO"),
            "--env item \"FOO\" must be formatted as key=value"
        );
        assert_eq!(
            e("A=1,B,C=2"),
            "--env item \"B\" must be formatted as key=value"
        );
        assert_eq!(
            e("A=1,B=2,"),
            "--env item \"\" must be formatted as key=value"
        );
        assert_eq!(e("=x"), "--env item \"=x\" has an empty variable name");
        assert_eq!(
            e("A=1,B=\"2\""),
            "invalid --env value \"A=1,B=\\\"2\\\"\": bare \" in non-quoted field"
        );
        assert_eq!(
            e("\"A=1\"x,B=2"),
            "invalid --env value \"\\\"A=1\\\"x,B=2\": extraneous or missing \" in quoted field"
        );
        assert_eq!(
            e("\"A=1,B=2"),
            "invalid --env value \"\\\"A=1,B=2\": extraneous or missing \" in quoted field"
        );
        assert!(!e("A=1,B=\"2\"\n").contains('\n'));
    }
}
