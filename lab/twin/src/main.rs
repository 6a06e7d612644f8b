//! `yealink-twin`: runs the virtual bench of a lab file until Ctrl-C or SIGTERM, and takes
//! physical fault commands (`unplug relay-power`, `pull-cable t46g`, ...) on standard input.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use tokio::io::AsyncBufReadExt as _;
use tokio::signal::unix::{SignalKind, signal};
use yealink_twin::bench::{FAULT_HELP, FaultCommand};
use yealink_twin::{BenchOptions, TwinLab, VirtualBench};

/// Virtual bench: twin Yealink T4x phones, a virtual relay board and a virtual button actuator.
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
    let bench = VirtualBench::start(lab, opts)
        .await
        .with_context(|| format!("cannot start the virtual bench of {}", args.lab.display()))?;
    println!("{}", bench.describe());
    println!("type `help` for fault commands; Ctrl-C stops the bench");

    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) => run_command(&bench, &line),
                // No more commands (stdin closed or unreadable): keep serving until a signal.
                Ok(None) => stdin_open = false,
                Err(err) => {
                    tracing::warn!(%err, "standard input unreadable; fault commands disabled");
                    stdin_open = false;
                }
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
        command => match FaultCommand::parse(command) {
            Ok(fault) => match bench.apply(&fault) {
                Ok(()) => println!("ok: {command}"),
                Err(err) => println!("error: {err}"),
            },
            Err(message) => println!("error: {message}"),
        },
    }
}
