//! The run's log file, `harness.log` in the run folder. Logging starts before the command
//! line is read, when no run folder exists yet, so the file layer writes through a shared
//! slot that `harness run` points at its folder once it knows it. Events before that (or in
//! commands without a run folder) go to the console only.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// Where the file layer writes: nowhere until pointed at a file. Clones share the slot.
#[derive(Clone, Default)]
pub struct RunLog {
    file: Arc<Mutex<Option<File>>>,
}

impl RunLog {
    /// Appends every later event to `path` (creating it and its folder). The file is not
    /// buffered: each event reaches the kernel as it is logged, so a killed run keeps its log.
    pub fn point_at(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        *self.file.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
        Ok(())
    }

    /// Stops writing to the file (events go to the console only again).
    pub fn close(&self) {
        let file = self
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(file) = file {
            let _ = file.sync_all();
        }
    }
}

/// One event's write: the formatter hands over each whole event in one `write_all`.
pub struct RunLogWriter {
    file: Arc<Mutex<Option<File>>>,
}

impl Write for RunLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            Some(file) => file.write(buf),
            // No run folder yet: the event is the console's alone.
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for RunLog {
    type Writer = RunLogWriter;

    fn make_writer(&'a self) -> RunLogWriter {
        RunLogWriter {
            file: self.file.clone(),
        }
    }
}

/// The process's run log, shared by the logging set-up and `harness run`.
pub fn run_log() -> &'static RunLog {
    static RUN_LOG: OnceLock<RunLog> = OnceLock::new();
    RUN_LOG.get_or_init(RunLog::default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_reach_the_file_only_once_it_is_pointed_at() {
        let dir = tempfile::tempdir().unwrap();
        let log = RunLog::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(log.clone())
                .with_ansi(false),
        );
        let path = dir.path().join("run/harness.log");
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before the folder");
            log.point_at(&path).unwrap();
            tracing::info!(bench = "t46g", "bench locked");
            log.close();
            tracing::info!("after the end");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("before the folder"), "{text}");
        assert!(!text.contains("after the end"), "{text}");
        let line = text.lines().find(|l| l.contains("bench locked")).unwrap();
        assert!(
            line.contains("INFO") && line.contains("bench=\"t46g\""),
            "{line}"
        );
        // An RFC 3339 timestamp leads the line: 20xx-..T..
        assert!(
            line.starts_with("20") && line.as_bytes()[10] == b'T',
            "{line}"
        );
    }
}
