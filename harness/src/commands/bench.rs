//! `harness bench tftp` and `harness bench tftp-serve`: how fast the recovery TFTP server
//! delivers an image, measured the same way against any other TFTP server (tftpd-hpa), so
//! a regression or a slow option shows up as a number rather than as a slow lab.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::bench::tftp_client::{FetchOptions, Fetched, timed_fetch};
use crate::endpoints::{BenchDirectory, TftpRecovery, event_bus};
use crate::outcome::exit_code;
use crate::scenario::transcript::describe;

/// What `harness bench tftp` measures.
#[derive(Debug, Clone)]
pub struct TftpBench {
    /// The server to fetch from.
    pub server: SocketAddr,
    /// The file name to ask for.
    pub file: String,
    /// `blksize` to ask for; none = RFC 1350's 512 without options.
    pub block_size: Option<u16>,
    /// `windowsize` to ask for; none = lock-step.
    pub window_size: Option<u16>,
    /// Timed fetches (the median is the result).
    pub runs: usize,
    /// Send from this address (the harness serves only benches' addresses).
    pub from: Option<IpAddr>,
}

/// Fetches `runs` times, prints each run, the median and the throughput. Exit code 0, or
/// `LAB_FAULT` when a fetch fails or the sizes of two runs differ.
pub fn tftp(bench: &TftpBench) -> i32 {
    let options = FetchOptions {
        block_size: bench.block_size,
        window_size: bench.window_size,
        transfer_size: bench.block_size.is_some() || bench.window_size.is_some(),
        local_ip: bench.from,
        ..FetchOptions::default()
    };
    let mut times = Vec::with_capacity(bench.runs);
    let mut first: Option<Fetched> = None;
    for run in 1..=bench.runs.max(1) {
        match timed_fetch(bench.server, &bench.file, &options) {
            Ok((fetched, elapsed)) => {
                println!(
                    "run {run}: {} bytes in {:.3} s ({:.1} MB/s), blksize {}, windowsize {}, {}{}",
                    fetched.bytes,
                    elapsed.as_secs_f64(),
                    mb_per_s(fetched.bytes, elapsed),
                    fetched.block_size,
                    fetched.window_size,
                    if fetched.options_acknowledged {
                        "options acknowledged"
                    } else {
                        "no options (RFC 1350)"
                    },
                    if fetched.repeats > 0 {
                        format!(", {} repeats", fetched.repeats)
                    } else {
                        String::new()
                    },
                );
                if let Some(first) = &first
                    && first.bytes != fetched.bytes
                {
                    eprintln!(
                        "run {run} got {} bytes, run 1 got {}: the server or the file changed",
                        fetched.bytes, first.bytes
                    );
                    return exit_code::LAB_FAULT;
                }
                first.get_or_insert(fetched);
                times.push(elapsed);
            }
            Err(error) => {
                eprintln!("run {run}: {error}");
                return exit_code::LAB_FAULT;
            }
        }
    }
    let median = median(&mut times);
    let bytes = first.map_or(0, |f| f.bytes);
    println!(
        "median {:.3} s, {:.1} MB/s ({} runs, {bytes} bytes)",
        median.as_secs_f64(),
        mb_per_s(bytes, median),
        times.len()
    );
    exit_code::PASS
}

/// Serves `files` (each under its own file name) to the phone of `bench` of the lab file,
/// through the same server, staging and bench lookup a lab run uses, until Ctrl-C. Prints
/// the bound address on the first line (`tftp <addr>`) and then one line per transfer.
pub async fn tftp_serve(lab_path: &Path, bench: &str, files: &[PathBuf], bind: SocketAddr) -> i32 {
    let lab = match crate::lab::load(lab_path) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let Some(phone_ip) = lab.benches.iter().find(|b| b.name == bench).map(|b| b.ip) else {
        eprintln!(
            "{}: no bench named {bench:?} (benches: {})",
            lab_path.display(),
            lab.benches
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return exit_code::CONFIG_ERROR;
    };
    let mut staged = Vec::with_capacity(files.len());
    for file in files {
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            eprintln!("{}: not a file name", file.display());
            return exit_code::CONFIG_ERROR;
        };
        staged.push((name.to_owned(), file.clone()));
    }
    let bus = event_bus();
    let server = match TftpRecovery::start(bind, Arc::new(BenchDirectory::new(&lab)), bus.clone()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::LAB_FAULT;
        }
    };
    if let Err(e) = server.stage(bench, &staged) {
        eprintln!("cannot stage the files for {bench}: {e}");
        return exit_code::LAB_FAULT;
    }
    println!("tftp {}", server.addr());
    println!(
        "serving {} file(s) to {bench} (requests from {phone_ip}); Ctrl-C stops",
        staged.len()
    );
    let mut events = bus.subscribe();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(e) => println!("{:<10} {}", e.bench.as_deref().unwrap_or("(unknown)"), describe(&e.event)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => println!("({n} events not shown)"),
                Err(_) => break,
            },
            _ = crate::safety::stop::stop_requested() => break,
        }
    }
    drop(server);
    exit_code::PASS
}

pub(crate) fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    match times.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => times[n / 2],
        n => (times[n / 2 - 1] + times[n / 2]) / 2,
    }
}

fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_runs() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(30), ms(10), ms(20)]), ms(20));
        assert_eq!(median(&mut [ms(40), ms(10), ms(20), ms(30)]), ms(25));
        assert_eq!(median(&mut []), Duration::ZERO);
    }
}
