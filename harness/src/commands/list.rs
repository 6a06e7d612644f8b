//! `harness list`: the lab's benches and the scenarios that apply to them.

use std::path::Path;

use crate::commands::Paths;
use crate::outcome::exit_code;

pub fn execute(paths: &Paths, lab_path: &Path) -> i32 {
    let lab = match crate::lab::load(lab_path) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    println!(
        "lab `{}` ({}), time scale {}",
        lab.name,
        lab.source.display(),
        lab.time_scale
    );
    println!(
        "bench      model mac               web                   power              network            actuator"
    );
    for b in &lab.benches {
        let network = b
            .network
            .as_ref()
            .map(|n| format!("{}/{}", n.board, n.channel))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<10} {:<5} {:<17} {:<21} {:<18} {:<18} {}",
            b.name,
            b.model,
            b.mac.colons(),
            format!("{}:{}", b.ip, b.web_port),
            format!("{}/{}", b.power.board, b.power.channel),
            network,
            b.actuator
        );
    }
    let scenarios = match crate::scenario::load::load_dir(&paths.scenarios()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    println!("\nscenario                           models summary");
    for s in &scenarios {
        println!("{:<34} {:<6} {}", s.name, s.models.len(), s.summary);
    }
    exit_code::PASS
}
