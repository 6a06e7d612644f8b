//! `harness list`: the lab's benches and the scenarios that apply to them.

use std::io::{self, Write};
use std::path::Path;

use crate::commands::Paths;
use crate::lab::Lab;
use crate::outcome::exit_code;
use crate::scenario::model::Scenario;

/// Prints the lab's benches and the scenarios; returns the exit code (2 for a bad lab
/// or scenario file, so a typo shows before a run is started).
pub fn execute(paths: &Paths, lab_path: &Path) -> i32 {
    let lab = match crate::lab::load(lab_path) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let scenarios = match crate::scenario::load::load_dir(&paths.scenarios()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let mut out = io::stdout().lock();
    match print_listing(&mut out, &lab, &scenarios).and_then(|()| out.flush()) {
        Ok(()) => exit_code::PASS,
        // The reader stopped reading (`harness list | head -1`): it has what it wanted, and
        // the listing ends there without a panic or a message.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => exit_code::PASS,
        Err(e) => {
            // The host, not the firmware, failed (a full disk behind a redirect).
            eprintln!("cannot write the listing to standard output: {e}");
            exit_code::LAB_FAULT
        }
    }
}

/// Writes the listing; stops at the first write that fails and returns its error.
pub fn print_listing(out: &mut impl Write, lab: &Lab, scenarios: &[Scenario]) -> io::Result<()> {
    writeln!(
        out,
        "lab `{}` ({}), time scale {}",
        lab.name,
        lab.source.display(),
        lab.time_scale
    )?;
    writeln!(
        out,
        "bench      model mac               web                   power              network            actuator"
    )?;
    for b in &lab.benches {
        let network = b
            .network
            .as_ref()
            .map(|n| format!("{}/{}", n.board, n.channel))
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<10} {:<5} {:<17} {:<21} {:<18} {:<18} {}",
            b.name,
            b.model,
            b.mac.colons(),
            format!("{}:{}", b.ip, b.web_port),
            format!("{}/{}", b.power.board, b.power.channel),
            network,
            b.actuator
        )?;
    }
    writeln!(out, "\nscenario                           models summary")?;
    for s in scenarios {
        writeln!(out, "{:<34} {:<6} {}", s.name, s.models.len(), s.summary)?;
    }
    Ok(())
}
