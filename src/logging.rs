//! Logging in runc's formats: logrus text (`time="…" level=… msg="…"`) or JSON lines
//! (`{"level":…,"msg":…,"time":…}`), to `--log FILE` or stderr.
//!
//! containerd's shim and podman read the last `error` line of the log file to report
//! why a runtime call failed, so a fatal error always goes there too. Without `--log`,
//! stderr gets exactly one plain line per failure (plus debug lines with `--debug`).

pub use sifrun::runtime::ctx::one_line;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// The `--log` file and the (device, inode) it had when opened.
struct LogFile {
    file: Mutex<File>,
    id: (u64, u64),
}

#[derive(Clone)]
struct Sink {
    /// `None` means stderr.
    file: Option<Arc<LogFile>>,
    format: Format,
}

impl Sink {
    fn write(&self, level: &str, msg: &str) {
        let line = format_line(self.format, level, msg);
        // One write(2) per line: with O_APPEND, concurrent writers never interleave.
        match &self.file {
            Some(log) => {
                if let Ok(mut f) = log.file.lock() {
                    // The container's init is a clone of this process and closes the fds
                    // it inherited before it waits for `start`; its late log lines must not
                    // land in whatever file reuses the number.
                    if f.metadata().is_ok_and(|m| (m.dev(), m.ino()) == log.id) {
                        let _ = f.write_all(line.as_bytes());
                    }
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

fn format_line(format: Format, level: &str, msg: &str) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    match format {
        Format::Json => {
            let mut line =
                serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string();
            line.push('\n');
            line
        }
        Format::Text => format!(
            "time={:?} level={} msg={:?}\n",
            time,
            level,
            msg.replace('\n', " ")
        ),
    }
}

/// What `main` keeps to report a fatal error.
pub struct Log {
    sink: Option<Sink>,
}

impl Log {
    /// Reports the error that ends this invocation: one line in the log file (if any)
    /// and one plain line on stderr, as runc does.
    pub fn fatal(&self, err: &anyhow::Error) {
        let msg = one_line(err);
        if let Some(sink) = &self.sink {
            if sink.file.is_some() {
                sink.write("error", &msg);
            }
        }
        eprintln!("sifrun: {msg}");
    }
}

pub fn init(global: &liboci_cli::GlobalOpts) -> Result<Log> {
    let format = match global.log_format.as_deref() {
        None | Some("text") => Format::Text,
        Some("json") => Format::Json,
        Some(other) => anyhow::bail!("invalid log format {other:?}: expected 'text' or 'json'"),
    };
    let file = match &global.log {
        Some(path) if path.as_os_str() != "/dev/stderr" => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("failed to open log file {}", path.display()))?;
            let m = file.metadata()?;
            Some(Arc::new(LogFile {
                file: Mutex::new(file),
                id: (m.dev(), m.ino()),
            }))
        }
        _ => None,
    };
    // Without a log file and without --debug nothing is subscribed: the hot paths
    // (state, kill, delete) pay nothing for logging.
    if file.is_none() && !global.debug {
        return Ok(Log { sink: None });
    }
    let sink = Sink { file, format };
    let max = if global.debug {
        Level::DEBUG
    } else {
        Level::WARN
    };
    let subscriber = Registry::default().with(RuncLayer {
        sink: sink.clone(),
        max,
    });
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(Log { sink: Some(sink) })
}

struct RuncLayer {
    sink: Sink,
    max: Level,
}

impl<S: Subscriber> Layer<S> for RuncLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: LayerContext<'_, S>) -> bool {
        *metadata.level() <= self.max
    }

    fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
        if *event.metadata().level() > self.max {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        self.sink.write(level, &visitor.text);
    }
}

#[derive(Default)]
struct MessageVisitor {
    text: String,
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let fields = std::mem::take(&mut self.text);
            let _ = write!(self.text, "{value:?}");
            self.text.push_str(&fields);
        } else {
            let _ = write!(self.text, " {}={:?}", field.name(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_keys() {
        let line = format_line(Format::Json, "error", "container \"x\" does not exist");
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert!(chrono::DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).is_ok());
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
    }

    #[test]
    fn text_line_is_logrus_style_and_single_line() {
        let line = format_line(Format::Text, "warning", "a\nb");
        assert!(line.starts_with("time=\""), "{line}");
        assert!(line.contains(" level=warning msg=\"a b\""), "{line}");
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn one_line_drops_repeated_causes() {
        let err = anyhow::anyhow!("inner").context("outer");
        assert_eq!(one_line(&err), "outer: inner");
        let err = anyhow::anyhow!("inner").context("outer: inner");
        assert_eq!(one_line(&err), "outer: inner");
    }
}
