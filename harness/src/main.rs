//! `harness`: the command line. Parses arguments and calls the library; every subcommand
//! lives in `harness::commands`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use harness::commands::{self, Paths};
use harness::expect::SnapshotWrites;
use harness::outcome::exit_code;
use harness::safety::lock::LockWait;

/// Hardware-in-the-loop lab for Yealink desk-phone recovery.
///
/// With no subcommand: `run` on the virtual lab (lab/virtual.toml).
#[derive(Parser)]
#[command(name = "harness", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where bench leases and crash journals live, shared by every harness process of the
    /// host [default: the lab's `lock_dir`, else $XDG_RUNTIME_DIR/yealink-lab or
    /// /tmp/yealink-lab-locks].
    #[arg(long, global = true)]
    lock_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenario matrix on the lab's benches and check every transcript.
    Run(RunArgs),
    /// List the lab's benches and the scenarios.
    List {
        #[arg(long)]
        lab: Option<PathBuf>,
    },
    /// Switch a bench's power relay.
    Power {
        bench: String,
        #[arg(value_parser = ["on", "off", "cycle"])]
        action: String,
        #[arg(long)]
        lab: Option<PathBuf>,
        #[command(flatten)]
        force: ForceArg,
    },
    /// Connect or pull a bench's network cable through its network-link relay.
    Network {
        bench: String,
        #[arg(value_parser = ["connect", "pull"])]
        action: String,
        #[arg(long)]
        lab: Option<PathBuf>,
        #[command(flatten)]
        force: ForceArg,
    },
    /// Press one key of a bench's phone through the actuator.
    Press {
        bench: String,
        /// A keymap name: speaker, ok, cancel, f1..f4, up, down, 0-9, star, pound, ...
        key: String,
        /// How long the key stays pressed (milliseconds; not scaled).
        #[arg(long, default_value_t = 100)]
        hold_ms: u64,
        #[arg(long)]
        lab: Option<PathBuf>,
        #[command(flatten)]
        force: ForceArg,
    },
    /// Dial digits (0-9, *, #) on a bench's phone through the actuator.
    Dial {
        bench: String,
        digits: String,
        #[arg(long)]
        lab: Option<PathBuf>,
        #[command(flatten)]
        force: ForceArg,
    },
    /// Try the phone's web UI login as admin: prints accepted (exit 0), refused (exit 1)
    /// or unreachable (exit 3).
    Login {
        bench: String,
        /// The password tried for the user `admin`.
        #[arg(long)]
        password: String,
        /// How long a phone that does not answer is retried (seconds; not scaled).
        #[arg(long, default_value_t = 30.0)]
        timeout_s: f64,
        #[arg(long)]
        lab: Option<PathBuf>,
        #[command(flatten)]
        force: ForceArg,
    },
    /// Serve the endpoints (provisioning, foreign provisioning, SIP, syslog) in the
    /// foreground and print what the phones do, for a reproduction driven by hand.
    Serve {
        #[arg(long)]
        lab: Option<PathBuf>,
        /// The account state every bench's MAC gets.
        #[arg(long, default_value = "active", value_parser = ["active", "cancelled", "v2"])]
        account: String,
        /// The admin password provisioned to every bench.
        #[arg(long, default_value = "admin")]
        admin_password: String,
    },
    /// Put a bench's phone into a customer's state, drive it by hand from a prompt on
    /// stdin, and keep the session as a scenario with its snapshot (--save).
    Repro(ReproArgs),
    /// Check a firmware drop (the layout of firmware-fixtures/) before running it.
    Drop {
        #[command(subcommand)]
        action: DropAction,
    },
    /// Benchmarks (figures, not tests): see lab/bench/.
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
    /// Bring up a rack: check its devices, list what is plugged in, print its DHCP setup.
    Lab {
        #[command(subcommand)]
        action: LabAction,
    },
    /// Serve the dashboard over the run history (loopback only unless --bind says so).
    Dashboard {
        /// The history database [default: target/harness-history.sqlite].
        #[arg(long)]
        db: Option<PathBuf>,
        /// Where to listen. Any address other than loopback exposes the pages (no login).
        #[arg(long, default_value = commands::dashboard::DEFAULT_BIND)]
        bind: std::net::SocketAddr,
        /// Also show who holds, waits for or took out each bench of this lab now.
        #[arg(long)]
        lab: Option<PathBuf>,
    },
    /// Write the synthetic firmware fixture set.
    Fixtures {
        #[command(subcommand)]
        action: FixturesAction,
    },
    /// What the recorded runs say: the last runs, flaky cases, lab faults per bench; or
    /// `import` run folders from other lab hosts.
    History(HistoryArgs),
    /// Read each pending snapshot (`*.snap.new`) as a diff and accept, reject or skip it.
    Review {
        /// The snapshots folder [default: scenarios/snapshots].
        #[arg(long)]
        snapshots: Option<PathBuf>,
    },
}

/// `--force` of the hand commands.
#[derive(clap::Args, Debug, Clone, Copy)]
struct ForceArg {
    /// Use the bench even though a person disabled it (recorded in its journal).
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
enum LabAction {
    /// Open every device of every bench and read its state; switches and presses nothing.
    /// Exits 0 when every device was found, 3 otherwise. With --bench, only that bench;
    /// a bench marked bad by a health check that passes is back in service.
    Check {
        #[arg(long)]
        lab: Option<PathBuf>,
        /// Check only this bench.
        #[arg(long)]
        bench: Option<String>,
    },
    /// One line per bench: free, leased (by whom, until when, who waits), bad or disabled.
    Status {
        #[arg(long)]
        lab: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Take a bench out of service: runs skip it with the reason, hand commands refuse it
    /// without --force.
    Disable {
        bench: String,
        /// Why, for everyone who finds it disabled.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        lab: Option<PathBuf>,
    },
    /// Put a disabled or bad bench back in service.
    Enable {
        bench: String,
        #[arg(long)]
        lab: Option<PathBuf>,
    },
    /// List serial ports (with their /dev/serial/by-id links) and USB devices.
    Ports,
    /// Print (never run) a dnsmasq configuration for the lab VLAN.
    Dnsmasq {
        #[arg(long)]
        lab: Option<PathBuf>,
        /// The lab VLAN's interface, such as `enp3s0.50`.
        #[arg(long)]
        interface: String,
        /// The DHCP range, `START,END`.
        #[arg(long)]
        range: String,
    },
}

#[derive(Subcommand)]
enum BenchAction {
    /// Time the frames switching one bench's power relay (median, p90): run it beside a
    /// second copy on another bench of the same board to see what sharing a board costs.
    Relay {
        #[arg(long)]
        lab: Option<PathBuf>,
        #[arg(long)]
        bench: String,
        /// How many frames are timed.
        #[arg(long, default_value_t = 200)]
        count: usize,
    },
    /// Fetch one file from a TFTP server several times; print each time and the median.
    Tftp {
        #[arg(long)]
        server: std::net::SocketAddr,
        #[arg(long)]
        file: String,
        /// RFC 2348 block size (512 when omitted: plain lock-step).
        #[arg(long)]
        blksize: Option<u16>,
        /// RFC 7440 window size.
        #[arg(long)]
        windowsize: Option<u16>,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// The source address to fetch from (a bench's IP, for the harness's own server).
        #[arg(long)]
        from: Option<std::net::IpAddr>,
    },
    /// Serve files to one bench from the harness's TFTP recovery server, for the benchmark.
    TftpServe {
        #[arg(long)]
        lab: Option<PathBuf>,
        #[arg(long)]
        bench: String,
        #[arg(long = "file", required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        bind: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum DropAction {
    /// Read every image's header and check it against its file name and the manifest.
    Check { dir: PathBuf },
}

#[derive(Subcommand)]
enum FixturesAction {
    /// Rewrite the committed fixture set (small images) into firmware-fixtures/.
    Write {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the same images at a realistic size, outside git, for benchmarks.
    Synth {
        #[arg(long)]
        out: PathBuf,
        /// Image size in MiB (real images are 7 to 27).
        #[arg(long, default_value_t = 20)]
        size_mb: usize,
    },
}

#[derive(clap::Args, Default)]
struct RunArgs {
    /// The lab file [default: lab/virtual.toml].
    #[arg(long)]
    lab: Option<PathBuf>,
    /// The scenarios folder (its snapshots in `<folder>/snapshots`) [default: scenarios].
    #[arg(long = "scenarios")]
    scenarios_dir: Option<PathBuf>,
    /// Only scenarios whose name matches (glob; repeatable).
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Only these benches (repeatable).
    #[arg(long = "bench")]
    benches: Vec<String>,
    /// Also write JUnit XML here (the run folder always has junit.xml).
    #[arg(long)]
    junit: Option<PathBuf>,
    /// The run folder [default: target/harness-runs/<time>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Ticket or approver allowing destructive scenarios on benches that require approval.
    #[arg(long)]
    approval: Option<String>,
    /// Run with this firmware drop instead of firmware-fixtures/ (same layout).
    #[arg(long)]
    drop: Option<PathBuf>,
    /// Do not start the in-process virtual bench: the twin runs as its own process.
    #[arg(long)]
    external_bench: bool,
    /// How long to wait for a bench another harness process drives, in seconds
    /// [default: 3600].
    #[arg(long)]
    lock_timeout_s: Option<u64>,
    /// Do not wait for a busy bench: its cases are skipped, naming who holds it.
    #[arg(long)]
    no_wait: bool,
    /// Rewrite every differing or missing snapshot with this run's transcript (each such
    /// case still fails; read the change with `git diff`). Refused under CI.
    #[arg(long)]
    update_snapshots: bool,
    #[command(flatten)]
    history: HistoryChoice,
}

/// Whether and where a run is recorded into the history.
#[derive(clap::Args, Debug, Clone, Default)]
struct HistoryChoice {
    /// The history database the run is recorded into
    /// [default: target/harness-history.sqlite].
    #[arg(long = "history", value_name = "PATH", conflicts_with = "no_history")]
    path: Option<PathBuf>,
    /// Do not record the run into the history.
    #[arg(long)]
    no_history: bool,
}

/// The command line of `harness repro`.
#[derive(Debug, Clone, clap::Args)]
struct ReproArgs {
    /// The bench whose phone plays the customer's.
    bench: String,
    /// The customer's state as `key=value` words, the keys and values of a scenario's
    /// [given]: 'firmware=below-min account=cancelled admin_password=random
    /// provisioning=foreign network=up' (`password` for `admin_password`).
    #[arg(long)]
    given: String,
    /// The lab file [default: lab/virtual.toml].
    #[arg(long)]
    lab: Option<PathBuf>,
    /// Keep the session as this scenario file, its snapshot in `snapshots/` beside it.
    #[arg(long)]
    save: Option<PathBuf>,
    /// The saved scenario's summary (asked at the prompt when missing).
    #[arg(long)]
    summary: Option<String>,
    /// Replace an existing scenario of that name.
    #[arg(long)]
    force: bool,
    /// Take the firmware from this drop instead of firmware-fixtures/ (same layout).
    #[arg(long)]
    drop: Option<PathBuf>,
    /// Do not start the in-process virtual bench: the twin runs as its own process.
    #[arg(long)]
    external_bench: bool,
    /// Ticket or approver, required on benches marked approval = "required".
    #[arg(long)]
    approval: Option<String>,
}

/// The arguments of `harness history`.
#[derive(clap::Args, Debug)]
struct HistoryArgs {
    #[command(subcommand)]
    action: Option<HistoryAction>,
    /// The history database [default: target/harness-history.sqlite].
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// How many runs to look back over.
    #[arg(long, default_value_t = 10)]
    last: u32,
}

/// What `harness history` does besides printing.
#[derive(clap::Subcommand, Debug)]
enum HistoryAction {
    /// Record run folders (from this host or published by others) into the history. A
    /// folder is untrusted: links, special files, oversized files and bad fields are
    /// refused, and a refused folder records nothing. A run already recorded (same host
    /// and run id) is refused unless --replace is given.
    Import {
        #[arg(required = true, value_name = "RUNDIR")]
        dirs: Vec<PathBuf>,
        /// Replace a run already recorded under the same host and run id (a folder
        /// recorded while partial and again once complete, or imported again on purpose).
        #[arg(long)]
        replace: bool,
    },
}

impl RunArgs {
    fn request(self, lock_dir: Option<PathBuf>) -> commands::run::RunRequest {
        commands::run::RunRequest {
            lab: self.lab,
            scenarios_dir: self.scenarios_dir,
            scenario_globs: self.scenarios,
            benches: self.benches,
            junit: self.junit,
            out: self.out,
            approval: self.approval,
            drop: self.drop,
            start_virtual_bench: !self.external_bench,
            lock_dir,
            lock_wait: if self.no_wait {
                LockWait::NoWait
            } else {
                LockWait::UpTo(Duration::from_secs(self.lock_timeout_s.unwrap_or(3600)))
            },
            snapshot_writes: if self.update_snapshots {
                SnapshotWrites::Update
            } else {
                SnapshotWrites::Pending
            },
        }
    }
}

impl HistoryChoice {
    fn choice(self) -> commands::run::HistoryChoice {
        commands::run::HistoryChoice {
            path: self.path,
            no_history: self.no_history,
        }
    }
}

impl ReproArgs {
    fn request(self, lock_dir: Option<PathBuf>) -> commands::repro::ReproRequest {
        commands::repro::ReproRequest {
            bench: self.bench,
            given: self.given,
            lab: self.lab,
            save: self.save,
            summary: self.summary,
            force: self.force,
            drop: self.drop,
            start_virtual_bench: !self.external_bench,
            approval: self.approval,
            lock_dir,
        }
    }
}

impl HistoryArgs {
    fn request(self) -> commands::history::HistoryRequest {
        commands::history::HistoryRequest {
            action: self.action.map(|action| match action {
                HistoryAction::Import { dirs, replace } => {
                    commands::history::HistoryAction::Import { dirs, replace }
                }
            }),
            db: self.db,
            last: self.last,
        }
    }
}

fn main() -> ExitCode {
    commands::init_logging();
    let cli = Cli::parse();
    let paths = Paths::detect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("harness: cannot start the async runtime: {e}");
            return ExitCode::from(exit_code::LAB_FAULT as u8);
        }
    };
    let lab = |lab: Option<PathBuf>| lab.unwrap_or_else(|| paths.default_lab());
    let lock_dir = cli.lock_dir.clone();
    let locks = lock_dir.as_deref();
    let hand = |force: ForceArg| commands::hand::HandOptions {
        lock_dir: locks,
        force: force.force,
    };
    let code = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
            Command::Run(args) => {
                let database = args.history.clone().choice().database(&paths);
                let options = commands::run::options(&paths, args.request(lock_dir.clone()));
                commands::run::execute(options, database).await
            }
            Command::List { lab: l } => commands::list::execute(&paths, &lab(l)),
            Command::Power {
                bench,
                action,
                lab: l,
                force,
            } => commands::hand::power(&lab(l), hand(force), &bench, &action).await,
            Command::Network {
                bench,
                action,
                lab: l,
                force,
            } => commands::hand::network(&lab(l), hand(force), &bench, &action).await,
            Command::Press {
                bench,
                key,
                hold_ms,
                lab: l,
                force,
            } => commands::hand::press(&lab(l), hand(force), &bench, &key, hold_ms).await,
            Command::Dial {
                bench,
                digits,
                lab: l,
                force,
            } => commands::hand::dial(&lab(l), hand(force), &bench, &digits).await,
            Command::Login {
                bench,
                password,
                timeout_s,
                lab: l,
                force,
            } => match Duration::try_from_secs_f64(timeout_s) {
                Ok(timeout) => {
                    commands::hand::login(&lab(l), hand(force), &bench, &password, timeout).await
                }
                Err(_) => {
                    eprintln!("--timeout-s {timeout_s}: not a number of seconds (0 or more)");
                    exit_code::CONFIG_ERROR
                }
            },
            Command::Serve {
                lab: l,
                account,
                admin_password,
            } => commands::serve::execute(&paths, &lab(l), &account, &admin_password).await,
            Command::Repro(args) => {
                commands::repro::execute(args.request(lock_dir.clone()).options(&paths)).await
            }
            Command::Drop {
                action: DropAction::Check { dir },
            } => commands::drop::execute(&dir),
            Command::Bench { action } => match action {
                BenchAction::Relay {
                    lab: l,
                    bench,
                    count,
                } => {
                    let lab = lab(l);
                    commands::bench_relay::relay(&commands::bench_relay::RelayBench {
                        lab: &lab,
                        lock_dir: locks,
                        bench: &bench,
                        count,
                    })
                    .await
                }
                BenchAction::Tftp {
                    server,
                    file,
                    blksize,
                    windowsize,
                    runs,
                    from,
                } => commands::bench::tftp(&commands::bench::TftpBench {
                    server,
                    file,
                    block_size: blksize,
                    window_size: windowsize,
                    runs,
                    from,
                }),
                BenchAction::TftpServe {
                    lab: l,
                    bench,
                    files,
                    bind,
                } => commands::bench::tftp_serve(&lab(l), &bench, &files, bind).await,
            },
            Command::Lab { action } => match action {
                LabAction::Check { lab: l, bench } => {
                    commands::lab::check(&lab(l), locks, bench.as_deref()).await
                }
                LabAction::Status { lab: l, json } => commands::lab::status(&lab(l), locks, json),
                LabAction::Disable {
                    bench,
                    reason,
                    lab: l,
                } => commands::lab::disable(&lab(l), locks, &bench, &reason),
                LabAction::Enable { bench, lab: l } => {
                    commands::lab::enable(&lab(l), locks, &bench)
                }
                LabAction::Ports => commands::lab::ports(),
                LabAction::Dnsmasq {
                    lab: l,
                    interface,
                    range,
                } => commands::lab::dnsmasq(&lab(l), &interface, &range),
            },
            Command::Dashboard { db, bind, lab: l } => {
                commands::dashboard::execute(&paths, db, bind, l.as_deref(), locks).await
            }
            Command::Fixtures { action } => match action {
                FixturesAction::Write { out } => {
                    commands::fixtures::write(&out.unwrap_or_else(|| paths.fixtures()), None)
                }
                FixturesAction::Synth { out, size_mb } => {
                    commands::fixtures::write(&out, Some(size_mb))
                }
            },
            Command::History(args) => commands::history::execute(&paths, args.request()),
            Command::Review { snapshots } => {
                commands::review::execute(&snapshots.unwrap_or_else(|| paths.snapshots()))
            }
        }
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
