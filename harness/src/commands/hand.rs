//! `harness power | network | press | dial`: one action on one bench, by hand. They open the same
//! drivers as a run and nothing else, so they work on a real rack and on a virtual bench
//! started as its own process alike.

use std::path::Path;
use std::time::Duration;

use crate::lab::{Key, Lab};
use crate::outcome::exit_code;
use crate::rack::{BenchRig, Rack};

fn open(lab_path: &Path, bench: &str) -> Result<(Lab, BenchRig), i32> {
    let lab = crate::lab::load(lab_path).map_err(|e| {
        eprintln!("{e}");
        exit_code::CONFIG_ERROR
    })?;
    let Some(b) = lab.benches.iter().find(|b| b.name == bench) else {
        let known: Vec<&str> = lab.benches.iter().map(|b| b.name.as_str()).collect();
        eprintln!(
            "no bench `{bench}` in {} (benches: {})",
            lab_path.display(),
            known.join(", ")
        );
        return Err(exit_code::CONFIG_ERROR);
    };
    let rack = Rack::open(&lab, &[b]);
    let rig = rack.rig(b).map_err(|e| {
        eprintln!("bench {bench}: {e}");
        exit_code::LAB_FAULT
    })?;
    Ok((lab, rig))
}

fn report(result: Result<(), crate::rack::RigError>, done: String) -> i32 {
    match result {
        Ok(()) => {
            println!("{done}");
            exit_code::PASS
        }
        Err(e) => {
            eprintln!("{e}");
            exit_code::LAB_FAULT
        }
    }
}

/// `harness power BENCH on|off|cycle`.
pub async fn power(lab_path: &Path, bench: &str, action: &str) -> i32 {
    let (lab, rig) = match open(lab_path, bench) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let result = match action {
        "on" => rig.power(true).await,
        "off" => rig.power(false).await,
        _ => {
            let off = rig.power(false).await;
            // Five real seconds unpowered, as in a scenario's power cycle.
            tokio::time::sleep(Duration::from_secs_f64(5.0 * lab.time_scale)).await;
            match off {
                Ok(()) => rig.power(true).await,
                Err(e) => Err(e),
            }
        }
    };
    report(result, format!("{bench}: power {action}"))
}

/// `harness network BENCH connect|pull`.
pub async fn network(lab_path: &Path, bench: &str, action: &str) -> i32 {
    let (_, rig) = match open(lab_path, bench) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let result = rig.network(action == "connect").await;
    report(
        result,
        format!(
            "{bench}: network cable {}",
            if action == "connect" {
                "connected"
            } else {
                "pulled"
            }
        ),
    )
}

/// `harness press BENCH KEY [--hold-ms N]`.
pub async fn press(lab_path: &Path, bench: &str, key: &str, hold_ms: u64) -> i32 {
    let (_, rig) = match open(lab_path, bench) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let result = rig.tap(&Key(key.to_string()), hold_ms).await;
    report(result, format!("{bench}: pressed {key} for {hold_ms} ms"))
}

/// `harness dial BENCH DIGITS`.
pub async fn dial(lab_path: &Path, bench: &str, digits: &str) -> i32 {
    let keys: Option<Vec<Key>> = digits.chars().map(Key::for_digit).collect();
    let Some(keys) = keys else {
        eprintln!("cannot dial `{digits}`: only 0-9, * and # can be dialled");
        return exit_code::CONFIG_ERROR;
    };
    let (_, rig) = match open(lab_path, bench) {
        Ok(x) => x,
        Err(code) => return code,
    };
    for key in &keys {
        if let Err(e) = rig.tap(key, 120).await {
            eprintln!("{e}");
            return exit_code::LAB_FAULT;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    println!("{bench}: dialled {digits}");
    exit_code::PASS
}
