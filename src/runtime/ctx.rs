//! What every operation needs besides its own arguments: the global flags.

use std::path::PathBuf;

use anyhow::Result;

/// What every command may need besides its own arguments.
pub struct Ctx {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    pub criu: Option<PathBuf>,
    /// `--rootless`: runc's rootless cgroup handling forced on or off; `None` is
    /// auto (not root, or root in a user namespace).
    pub rootless: Option<bool>,
}

/// runc's `--rootless` values: `auto` (or empty), else a Go boolean.
pub fn parse_rootless(value: Option<&str>) -> Result<Option<bool>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("auto") => Ok(None),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
        Some(v) => anyhow::bail!("invalid --rootless value {v:?}: use true, false or auto"),
    }
}

/// Exit codes are a byte; runc reports what the shell would.
pub fn exit_byte(code: i32) -> u8 {
    (code & 0xff) as u8
}

/// A failure that exits with `code` rather than 1 (runc's `exec` exits 255 whenever
/// it could not run the process). It reads as the error it carries.
#[derive(Debug)]
pub struct ExitWith {
    pub code: u8,
    pub error: anyhow::Error,
}

impl ExitWith {
    /// The code to exit with for `err`: its `ExitWith`'s, else 1.
    pub fn code_of(err: &anyhow::Error) -> u8 {
        err.downcast_ref::<ExitWith>().map_or(1, |e| e.code)
    }
}

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for ExitWith {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let inner: &(dyn std::error::Error + 'static) = self.error.as_ref();
        inner.source()
    }
}

/// An error and its causes on one line, without repeating a cause that the outer
/// message already quotes.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        // A cause that restates the outer message and adds to it replaces it.
        if text.starts_with(out.as_str()) && !out.is_empty() {
            out = text;
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_values_are_runcs() {
        assert_eq!(parse_rootless(None).unwrap(), None);
        assert_eq!(parse_rootless(Some("auto")).unwrap(), None);
        assert_eq!(parse_rootless(Some("true")).unwrap(), Some(true));
        assert_eq!(parse_rootless(Some("1")).unwrap(), Some(true));
        assert_eq!(parse_rootless(Some("false")).unwrap(), Some(false));
        assert!(parse_rootless(Some("yes")).is_err());
    }
}
