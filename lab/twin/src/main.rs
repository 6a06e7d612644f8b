//! `yealink-twin`: runs the virtual bench of a lab file until Ctrl-C or SIGTERM, and takes
//! fault commands (`unplug relay-power`, `pull-cable t46g`, `silent keys-t46g`, ...) on
//! standard input.
//!
//! Standard input is read on a thread of its own, outside the async runtime: a read that
//! waits for a line can never be cancelled, and the bench must stop at once on a signal,
//! not when the operator next presses Enter. Lines are read with a cap, so an input that
//! never ends a line cannot grow without bound.

use std::io::{self, BufRead};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use yealink_twin::bench::{FAULT_HELP, FaultCommand};
use yealink_twin::{BenchOptions, TwinLab, VirtualBench};

/// The longest command line taken; a longer one is refused and skipped up to its end.
const MAX_COMMAND_LINE: usize = 1024;

/// Virtual bench: twin Yealink T4x phones, a virtual relay board and a virtual button actuator.
///
/// Fault commands on standard input: unplug/replug <device>, silent/garbage/heal <device>,
/// pull-cable/plug-cable <bench>, hang/unhang <bench>, probe <bench>, frames <board>,
/// describe, help.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The lab file (the same one the harness reads).
    #[arg(long, default_value = "lab/virtual.toml")]
    lab: PathBuf,
    /// DHCP option 66 for factory-fresh phones (default: from `[endpoints] provisioning`).
    #[arg(long)]
    provisioning_url: Option<String>,
    /// Multiplies every phone delay (default: `[lab] time_scale`).
    #[arg(long)]
    time_scale: Option<f64>,
    /// The recovery TFTP server phones are told about (default: from `[endpoints] tftp`).
    #[arg(long)]
    tftp_server: Option<std::net::SocketAddr>,
}

/// One line of standard input, as the reading thread hands it over.
#[derive(Debug, PartialEq, Eq)]
enum InputLine {
    /// A line within the cap, without its terminator.
    Command(String),
    /// A line longer than the cap: its length in bytes; its text was not kept.
    TooLong(usize),
}

/// Read the next line from `input`, keeping at most `cap` bytes of it. `None` at the end of
/// input; a last line without a terminator still counts.
fn read_line_capped(input: &mut impl BufRead, cap: usize) -> io::Result<Option<InputLine>> {
    let mut kept = Vec::new();
    let mut length = 0usize;
    let mut saw_any = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buf.is_empty() {
            return Ok(saw_any.then(|| finish(kept, length, cap)));
        }
        saw_any = true;
        let (part, used, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..at], at + 1, true),
            None => (buf, buf.len(), false),
        };
        length = length.saturating_add(part.len());
        if length <= cap {
            kept.extend_from_slice(part);
        } else {
            // Past the cap nothing more is kept, and what was kept is let go.
            kept = Vec::new();
        }
        input.consume(used);
        if ended {
            return Ok(Some(finish(kept, length, cap)));
        }
    }
}

fn finish(kept: Vec<u8>, length: usize, cap: usize) -> InputLine {
    if length > cap {
        InputLine::TooLong(length)
    } else {
        InputLine::Command(String::from_utf8_lossy(&kept).into_owned())
    }
}

/// Hand standard input's lines to the bench, until it ends or the bench stops listening.
fn read_stdin(lines: mpsc::Sender<InputLine>) {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    loop {
        match read_line_capped(&mut input, MAX_COMMAND_LINE) {
            Ok(Some(line)) => {
                if lines.blocking_send(line).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(%err, "standard input unreadable; fault commands disabled");
                return;
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let lab = TwinLab::from_file(&args.lab)?;
    let opts = BenchOptions {
        provisioning_url: args.provisioning_url,
        time_scale: args.time_scale,
        tftp_server: args.tftp_server,
    };
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
    let bench = VirtualBench::start(lab, opts)
        .await
        .with_context(|| format!("cannot start the virtual bench of {}", args.lab.display()))?;
    println!("{}", bench.describe());
    println!("type `help` for fault commands; Ctrl-C stops the bench");

    let (line_tx, mut lines) = mpsc::channel(16);
    // Detached on purpose: a thread blocked reading a terminal cannot be stopped, and the
    // process ends without waiting for it.
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || read_stdin(line_tx))
        .context("cannot start the thread that reads standard input")?;
    let mut stdin_open = true;
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            line = lines.recv(), if stdin_open => match line {
                Some(InputLine::Command(line)) => run_command(&bench, &line),
                Some(InputLine::TooLong(length)) => println!(
                    "error: a command line of {length} bytes is longer than {MAX_COMMAND_LINE}; skipped"
                ),
                // No more commands (stdin closed or unreadable): keep serving until a signal.
                None => stdin_open = false,
            },
        }
    }
    bench.shutdown().await;
    Ok(())
}

fn run_command(bench: &VirtualBench, line: &str) {
    match line.trim() {
        "" => {}
        "help" => println!("{FAULT_HELP}"),
        "describe" => println!("{}", bench.describe()),
        command if command.starts_with("probe ") => {
            let name = command["probe ".len()..].trim();
            match bench.probe(name) {
                Ok(line) => println!("probe {name}: {line}"),
                Err(err) => println!("error: {err}"),
            }
        }
        command if command.starts_with("frames ") => {
            let name = command["frames ".len()..].trim();
            match bench.frames(name) {
                Ok(count) => println!("frames {name}: {count}"),
                Err(err) => println!("error: {err}"),
            }
        }
        command => match FaultCommand::parse(command) {
            Ok(fault) => match bench.apply(&fault) {
                Ok(()) => println!("ok: {command}"),
                Err(err) => println!("error: {err}"),
            },
            Err(message) => println!("error: {message}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], cap: usize) -> Vec<InputLine> {
        // A one-byte buffer exercises lines split across every read.
        let mut reader = io::BufReader::with_capacity(1, input);
        let mut out = Vec::new();
        while let Some(line) = read_line_capped(&mut reader, cap).unwrap() {
            out.push(line);
        }
        out
    }

    fn command(text: &str) -> InputLine {
        InputLine::Command(text.into())
    }

    #[test]
    fn lines_within_the_cap_are_commands() {
        assert_eq!(
            lines(b"help\nunplug relay-power\r\n\nlast", 32),
            [
                command("help"),
                command("unplug relay-power\r"),
                command(""),
                command("last")
            ]
        );
        assert_eq!(lines(b"", 32), []);
    }

    #[test]
    fn a_line_past_the_cap_is_refused_and_the_next_one_still_read() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nhelp\n");
        assert_eq!(
            lines(&input, 10),
            [InputLine::TooLong(100), command("help")]
        );
        assert_eq!(lines(&[b'y'; 11], 10), [InputLine::TooLong(11)]);
        assert_eq!(lines(&[b'y'; 10], 10), [command("yyyyyyyyyy")]);
    }
}
