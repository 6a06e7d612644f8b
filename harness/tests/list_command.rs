//! `harness list` on a pipe whose reader has gone (`harness list | head -1`): the listing
//! ends there, quietly, with the listing's exit code and no panic.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};

/// A pipe whose read end is already closed: every write to it fails with EPIPE.
fn pipe_without_reader() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe` writes; each is owned once.
    let (read, write) = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "pipe failed");
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    drop(read);
    write
}

#[test]
fn harness_list_ends_quietly_when_its_reader_has_gone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["list", "--lab"])
        .arg(root.join("lab/virtual.toml"))
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(pipe_without_reader()))
        .stderr(Stdio::piped())
        .output()
        .expect("harness runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "expected no message, got: {stderr}");
}

#[test]
fn harness_list_prints_every_bench_and_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["list", "--lab"])
        .arg(root.join("lab/virtual.toml"))
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .expect("harness runs");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for bench in ["t40p", "t48s"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(bench)),
            "{bench}: {stdout}"
        );
    }
    assert!(
        stdout.lines().any(|l| l.starts_with("usb-recovery ")),
        "{stdout}"
    );
}
