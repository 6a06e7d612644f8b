//! Keeping benches safe across processes: one owner per bench at a time (a lease file per
//! bench), and a crash journal of every action that leaves state behind, replayed by the
//! next owner when the previous one died holding a key or power.

pub mod journal;
pub mod lock;
pub mod owned;
pub mod service;
pub mod stop;

use std::path::{Path, PathBuf};

/// Where leases and journals live when neither `--lock-dir` nor the lab's `lock_dir` says:
/// the per-user runtime folder when there is one (cleared at logout, private to the user),
/// else a folder under `/tmp` that every process of the host sees.
pub fn default_lock_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => Path::new(&dir).join("yealink-lab"),
        _ => PathBuf::from("/tmp/yealink-lab-locks"),
    }
}

/// The lock folder: the command line wins over the lab file, the lab file over the default.
pub fn resolve_lock_dir(cli: Option<&Path>, lab: Option<&Path>) -> PathBuf {
    cli.or(lab)
        .map(Path::to_path_buf)
        .unwrap_or_else(default_lock_dir)
}
