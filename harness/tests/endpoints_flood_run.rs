//! A TFTP flood in the middle of a run, with the harness's file limit lowered: the
//! recovery scenario on the virtual lab while requests asking `timeout 255` and reads
//! that are never acknowledged pour in from the phone's own address. Whatever the flood
//! does to the phone's recovery, it is the lab's doing: every case must end as a pass or
//! a lab fault, never a fail, and the run folder must be complete.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The harness's soft file limit for the run. A run of this scenario on the virtual lab
/// peaks near 70 descriptors; the TFTP server adds at most two per transfer
/// (`MAX_TRANSFERS` = 32). Before the limits, each flooded request held a file and a
/// socket for 9 x 255 s, so the flood below exhausted this within a second.
const FILE_LIMIT: libc::rlim_t = 160;

/// Only bounds a run that would otherwise hang the test.
const RUN_GIVE_UP: Duration = Duration::from_secs(600);

/// The file names the recovery reads (`tftp_package` of the scenario).
const FILES: [&str; 3] = ["T46G.bin", "T46G.rfs", "T46G.rom"];

/// The T46G bench's phone address in a private lab file.
fn phone_ip(lab: &std::path::Path) -> Ipv4Addr {
    let text = std::fs::read_to_string(lab).unwrap();
    let bench = text.find("name = \"t46g\"").expect("the t46g bench");
    let line = text[bench..]
        .lines()
        .find(|l| l.starts_with("ip = "))
        .expect("its ip");
    line.split('"').nth(1).unwrap().parse().unwrap()
}

/// Floods `server` from `phone` until `stop`: every millisecond a request asking the
/// longest timeout from a fresh port, and with `readers`, reads that are never
/// acknowledged from ports kept open (so they hold whatever the server grants them).
/// Returns requests sent.
fn flood(server: SocketAddr, phone: Ipv4Addr, readers: bool, stop: Arc<AtomicBool>) -> usize {
    let mut sent = 0;
    let mut holders: Vec<UdpSocket> = Vec::new();
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let file = FILES[round % FILES.len()];
        if let Ok(socket) = UdpSocket::bind((phone, 0)) {
            let long = request(&[file, "octet", "timeout", "255", "tsize", "0"]);
            if socket.send_to(&long, server).is_ok() {
                sent += 1;
            }
        }
        if readers && round % 20 == 0 {
            // A new never-acknowledging reader; the oldest are let go.
            if let Ok(socket) = UdpSocket::bind((phone, 0)) {
                if socket.send_to(&request(&[file, "octet"]), server).is_ok() {
                    sent += 1;
                }
                holders.push(socket);
            }
            if holders.len() > 64 {
                holders.remove(0);
            }
        }
        round += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    sent
}

fn request(fields: &[&str]) -> Vec<u8> {
    let mut bytes = vec![0, 1];
    for field in fields {
        bytes.extend_from_slice(field.as_bytes());
        bytes.push(0);
    }
    bytes
}

fn open_fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

#[test]
fn a_flood_of_long_timeouts_under_a_lowered_file_limit_never_turns_a_case_into_a_fail() {
    run_under_flood(false);
}

#[test]
fn a_flood_of_long_timeouts_and_idle_reads_never_turns_a_case_into_a_fail() {
    run_under_flood(true);
}

/// Runs the recovery scenario while flooding its TFTP server (with never-acknowledged
/// reads too when `readers`), and checks the outcome and the run folder.
fn run_under_flood(readers: bool) {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let ports = common::free_endpoint_ports();
    let lab = common::private_lab_one_per_model(dir.path(), ports, &fixtures);
    let phone = phone_ip(&lab);
    let out = dir.path().join("run");
    let server: SocketAddr = {
        let text = std::fs::read_to_string(&lab).unwrap();
        let line = text.lines().find(|l| l.starts_with("tftp = ")).unwrap();
        line.split('"').nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(server.port(), ports[2]);

    let mut command = Command::new(common::harness_exe());
    command
        .args([
            "run",
            "--bench",
            "t46g",
            "--scenario",
            "tftp-recovery",
            "--lab",
        ])
        .arg(&lab)
        .arg("--out")
        .arg(&out)
        .arg("--no-history")
        .env("RUST_LOG", "harness=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_cur = FILE_LIMIT.min(limit.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut run = common::Reaped(command.spawn().unwrap());
    let pid = run.0.id();
    let stdout = common::lines_of(run.0.stdout.take().unwrap());
    let stderr = common::lines_of(run.0.stderr.take().unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let flooding = {
        let stop = stop.clone();
        std::thread::spawn(move || flood(server, phone, readers, stop))
    };
    let deadline = Instant::now() + RUN_GIVE_UP;
    let mut peak_fds = 0;
    let status = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the run did not end");
        peak_fds = peak_fds.max(open_fds_of(pid));
        std::thread::sleep(Duration::from_millis(20));
    };
    stop.store(true, Ordering::Relaxed);
    let sent = flooding.join().unwrap();
    let printed: Vec<String> = stdout.try_iter().collect();
    let logged: Vec<String> = stderr.try_iter().collect();
    eprintln!(
        "{sent} flood requests; the harness peaked at {peak_fds} descriptors (limit {FILE_LIMIT}); exit {status}"
    );
    let context = || format!("{}\n{}", printed.join("\n"), logged.join("\n"));

    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json"))
            .unwrap_or_else(|e| panic!("no summary.json ({e}):\n{}", context())),
    )
    .unwrap();
    assert_eq!(summary["status"], "complete", "{summary}\n{}", context());
    let cases = summary["cases"].as_array().unwrap();
    assert!(!cases.is_empty(), "{summary}");
    for case in cases {
        let outcome = case["outcome"].as_str().unwrap();
        assert!(
            outcome == "pass" || outcome == "lab-fault",
            "a flood of the lab's TFTP server became a {outcome}: {case}\n{}",
            context()
        );
        let transcript = case["transcript_file"].as_str().unwrap();
        assert!(
            out.join(transcript).is_file(),
            "{transcript} missing from the run folder"
        );
        eprintln!("{}: {outcome} ({})", case["scenario"], case["detail"]);
    }
    assert!(sent > 100, "the flood never got going ({sent} requests)");
    assert!(
        peak_fds < FILE_LIMIT as usize,
        "the harness reached its file limit ({peak_fds})"
    );
}
