//! `harness serve`: the endpoints alone, in the foreground, printing every event, for a
//! reproduction driven by hand (with `harness power|press|dial`, or a real phone).

use std::path::Path;

use crate::commands::Paths;
use crate::endpoints::{BenchAccount, Endpoints};
use crate::outcome::exit_code;
use crate::scenario::AccountState;
use crate::scenario::transcript::describe;

/// Serves the endpoints until Ctrl-C; returns the exit code.
pub async fn execute(_paths: &Paths, lab_path: &Path, account: &str, admin_password: &str) -> i32 {
    let lab = match crate::lab::load(lab_path) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::CONFIG_ERROR;
        }
    };
    let endpoints = match Endpoints::start(&lab).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::LAB_FAULT;
        }
    };
    let state = match account {
        "cancelled" => AccountState::Cancelled,
        "v2" => AccountState::V2,
        _ => AccountState::Active,
    };
    for bench in &lab.benches {
        endpoints.accounts.set(
            &bench.name,
            BenchAccount {
                account: state,
                admin_password: admin_password.to_string(),
                provisioning_url: endpoints.provisioning_url(),
                firmware: None,
                syslog: true,
            },
        );
    }
    println!("provisioning  {}", endpoints.provisioning_url());
    println!("foreign       {}", endpoints.foreign_provisioning_url());
    println!("sip           {}", endpoints.addrs.sip);
    println!("syslog        {}", endpoints.addrs.syslog);
    println!("tftp          {}", endpoints.addrs.tftp);
    println!("every bench: account {account}, admin password {admin_password}; Ctrl-C stops");
    let mut events = endpoints.bus.subscribe();
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
    endpoints.shutdown().await;
    exit_code::PASS
}
