//! The console: live progress per bench while a run goes on, a summary table at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::lab::Bench;
use crate::outcome::Outcome;
use crate::report::{CaseListener, CaseReport, RunReport};

/// How a run shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// One live bar per bench (on a terminal).
    Live,
    /// One line per finished case (logs, CI).
    Lines,
    /// Nothing (tests).
    Quiet,
}

impl Progress {
    /// Live on a terminal, lines elsewhere.
    pub fn detect() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::Live
        } else {
            Progress::Lines
        }
    }

    /// Starts the display; `cases` holds the bench name of every planned case.
    pub fn start(self, benches: &[&Bench], cases: &[String]) -> LiveProgress {
        let multi = MultiProgress::with_draw_target(match self {
            Progress::Live => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        let style = ProgressStyle::with_template("{prefix:>8} [{bar:24}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> ");
        let bars = benches
            .iter()
            .map(|bench| {
                let total = cases.iter().filter(|c| **c == bench.name).count() as u64;
                let bar = multi.add(ProgressBar::new(total));
                bar.set_style(style.clone());
                bar.set_prefix(bench.name.clone());
                bar.set_message(format!("{} waiting", bench.model));
                (bench.name.clone(), bar)
            })
            .collect();
        LiveProgress {
            mode: self,
            multi,
            bars,
            listeners: Vec::new(),
        }
    }
}

/// The running display.
pub struct LiveProgress {
    mode: Progress,
    multi: MultiProgress,
    bars: BTreeMap<String, ProgressBar>,
    /// Reporters that see each case as it finishes (the run folder).
    listeners: Vec<Arc<dyn CaseListener>>,
}

impl LiveProgress {
    /// Shows `scenario` as running on `bench`.
    pub fn case_started(&self, bench: &str, scenario: &str) {
        if let Some(bar) = self.bars.get(bench) {
            bar.set_message(scenario.to_string());
        }
    }

    /// A bench's state while it has no case running (waiting for another process's lease).
    pub fn bench_message(&self, bench: &str, message: &str) {
        match self.mode {
            Progress::Live => {
                if let Some(bar) = self.bars.get(bench) {
                    bar.set_message(message.to_string());
                }
            }
            Progress::Lines => eprintln!("{bench:>8}  {message}"),
            Progress::Quiet => {}
        }
    }

    /// Every finished case goes through `case_done`: attaching here reaches them all
    /// without the bench loops knowing who listens.
    pub fn attach(&mut self, listener: Arc<dyn CaseListener>) {
        self.listeners.push(listener);
    }

    /// Shows the verdict and tells every listener (the run folder, the history), so a case
    /// is on disk as soon as it ends.
    pub fn case_done(&self, case: &CaseReport) {
        for listener in &self.listeners {
            listener.case_done(case);
        }
        let line = format!(
            "{:>8}  {:<34} {:<12} {:>6.1} s",
            case.bench,
            case.case_name(),
            case.outcome.word(),
            case.duration.as_secs_f64()
        );
        match self.mode {
            Progress::Live => {
                if let Some(bar) = self.bars.get(&case.bench) {
                    bar.inc(1);
                    if case.outcome != Outcome::Pass {
                        let _ = self.multi.println(line);
                    }
                }
            }
            Progress::Lines => eprintln!("{line}"),
            Progress::Quiet => {}
        }
    }

    /// Stops the bars, so the summary prints below them and not inside.
    pub fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish_with_message("done");
        }
    }
}

fn mark(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::LabFault => "LAB",
        Outcome::ConfigError => "CFG",
        Outcome::Skipped => "skip",
        Outcome::Interrupted => "INT",
    }
}

/// The summary printed at the end of a run: a scenario x model matrix, the counts, each
/// failure's diff, and where the run folder is.
pub fn summary(report: &RunReport) -> String {
    let mut out = String::new();
    if let Some(error) = &report.config_error {
        out.push_str(&format!("configuration error, nothing ran:\n{error}\n"));
        return out;
    }
    let models: BTreeSet<&str> = report.cases.iter().map(|c| c.model.as_str()).collect();
    let scenarios: BTreeSet<&str> = report.cases.iter().map(|c| c.scenario.as_str()).collect();
    let width = scenarios.iter().map(|s| s.len()).max().unwrap_or(8).max(8);
    out.push_str(&format!("{:width$}", "scenario"));
    for model in &models {
        out.push_str(&format!(" {model:>5}"));
    }
    out.push('\n');
    for scenario in &scenarios {
        out.push_str(&format!("{scenario:width$}"));
        for model in &models {
            let cell: Vec<&str> = report
                .cases
                .iter()
                .filter(|c| c.scenario == *scenario && c.model == *model)
                .map(|c| mark(c.outcome))
                .collect();
            out.push_str(&format!(
                " {:>5}",
                if cell.is_empty() { "-" } else { cell[0] }
            ));
        }
        out.push('\n');
    }
    for case in report.cases.iter().filter(|c| {
        matches!(
            c.outcome,
            Outcome::Fail | Outcome::LabFault | Outcome::ConfigError
        )
    }) {
        out.push_str(&format!(
            "\n--- {} on {} ({}):\n{}\n",
            case.case_name(),
            case.bench,
            case.outcome.word(),
            case.detail.trim_end()
        ));
    }
    // Why cases did not run, once per bench and reason: a model without a USB port skips
    // every stick scenario, a disabled, bad or busy bench all its cases.
    let mut skips: Vec<(&str, &str, Vec<String>)> = Vec::new();
    for case in report
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Skipped)
    {
        let name = case.case_name();
        match skips
            .iter_mut()
            .find(|(bench, detail, _)| *bench == case.bench && *detail == case.detail)
        {
            Some((_, _, cases)) => cases.push(name),
            None => skips.push((&case.bench, &case.detail, vec![name])),
        }
    }
    for (bench, detail, cases) in skips {
        let on = if bench.is_empty() {
            String::new()
        } else {
            format!(" on {bench}")
        };
        out.push_str(&format!(
            "\n--- skipped ({}){on}: {}\n{}\n",
            cases.len(),
            cases.join(" "),
            detail.trim_end()
        ));
    }
    for recovery in &report.recoveries {
        out.push_str(&format!("\n{recovery}\n"));
    }
    if let Some(approval) = &report.approval {
        out.push_str(&format!(
            "\napproval: {approval} (destructive scenarios on benches requiring approval)\n"
        ));
    }
    let unhealthy: Vec<&crate::report::BenchHealth> = report
        .bench_health
        .iter()
        .filter(|h| h.state != crate::report::HealthState::Healthy)
        .collect();
    if !unhealthy.is_empty() {
        out.push_str("\nbench health:\n");
        for health in unhealthy {
            let state = match health.state {
                crate::report::HealthState::Healthy => "healthy",
                crate::report::HealthState::Recovered => "recovered",
                crate::report::HealthState::Bad => "BAD",
            };
            out.push_str(&format!(
                "  {} ({}): {state}, {} lab fault(s), {} retried: {}\n",
                health.bench, health.model, health.lab_faults, health.retries, health.detail
            ));
        }
    }
    out.push_str(&format!(
        "\n{} cases: {} pass, {} fail, {} lab-fault, {} config-error, {} skipped{} in {:.1} s\nrun folder: {}\n",
        report.cases.len(),
        report.count(Outcome::Pass),
        report.count(Outcome::Fail),
        report.count(Outcome::LabFault),
        report.count(Outcome::ConfigError),
        report.count(Outcome::Skipped),
        if report.count(Outcome::Interrupted) > 0 { ", interrupted" } else { "" },
        report.duration.as_secs_f64(),
        report.run_dir.display()
    ));
    out
}
