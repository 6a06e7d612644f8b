//! Relay-board kinds as the lab file sees them: a board's channel numbering is its kind's,
//! the same for the benches that power phones through it and for the keys pressed by it.

#[path = "common/lab_rows.rs"]
mod lab_rows;

use std::path::Path;

use harness::drivers::power::numato::NUMATO;
use harness::lab::{self, ActuatorKind, RelayKind};
use lab_rows::edited;

/// Actuator `keys-2` as keys pressed by the relays `relays` of a 20-relay Numato module.
fn keys_on_a_numato(relays: &str) -> String {
    let keys_on_numato = format!(
        "kind = \"relay\"\nrelay_board = \"key-relays\"\nrelays = {relays}\n\n[[relay_board]]\n\
         name = \"key-relays\"\nkind = \"numato\"\nport = \"/dev/serial/by-id/usb-Numato_key-relays-if00\"\n\
         channels = 20"
    );
    edited(&[(
        "port = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-2-if00\"\nchannels = 32",
        keys_on_numato.as_str(),
    )])
}

#[test]
fn keys_on_a_numato_module_count_its_relays_from_0() {
    let relays = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19]";
    let lab = lab::parse(&keys_on_a_numato(relays), Path::new("lab.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let keys = lab.actuators.iter().find(|a| a.name == "keys-2").unwrap();
    let ActuatorKind::Relay { board, relays } = &keys.kind else {
        panic!("keys-2 is not on relays: {:?}", keys.kind);
    };
    assert_eq!(board.kind, RelayKind::new(&NUMATO, ()));
    assert_eq!(board.first_channel(), 0);
    assert_eq!(board.channel_numbers(), 0..=19);
    assert_eq!((relays[0], relays[18]), (0, 19));
}

#[test]
fn a_relay_past_a_numato_modules_last_channel_is_refused_with_its_numbering() {
    let relays = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20]";
    let error = lab::parse(&keys_on_a_numato(relays), Path::new("lab.toml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "lab.toml:33:10: actuator[1].relays: relay 20 does not exist on relay board `key-relays` \
         (it has channels 0-19)"
    );
}

#[test]
fn every_board_of_the_example_rack_numbers_its_channels_by_its_kind() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/rack.example.toml");
    let lab = lab::load(&example).unwrap_or_else(|e| panic!("{e}"));
    for board in &lab.relay_boards {
        let numbers = board.channel_numbers();
        assert_eq!(*numbers.start(), board.first_channel(), "{}", board.name);
        assert_eq!(
            numbers.count(),
            usize::from(board.channels),
            "{}",
            board.name
        );
        // The README's numbering: Numato modules count from 0, every other board from 1.
        let first = if board.kind.name() == "numato" { 0 } else { 1 };
        assert_eq!(board.first_channel(), first, "{}", board.name);
    }
}
