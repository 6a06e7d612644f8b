//! The lab file keys the recovery needs: `[endpoints] tftp` and a bench's `usb`.

use std::net::SocketAddr;
use std::path::Path;

use yealink_twin::lab::{LabError, TwinLab};

/// The real lab file without its sticks, so each test adds the one it is about.
fn virtual_lab_text() -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../virtual.toml"))
            .unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.starts_with("usb = ") && !l.starts_with("# The stick in the phone's USB port")
        })
        .collect();
    kept.join("\n") + "\n"
}

/// The real lab file with the first bench's `approval` line followed by `extra`.
fn with_usb(dir: &Path, extra: &str) -> Result<TwinLab, LabError> {
    let text = virtual_lab_text();
    let anchor = "approval = \"none\"\n";
    assert!(
        text.contains(anchor),
        "the lab file no longer holds {anchor:?}"
    );
    TwinLab::from_str(
        &text.replacen(anchor, &format!("{anchor}{extra}\n"), 1),
        dir,
    )
}

fn invalid_key(result: Result<TwinLab, LabError>) -> String {
    match result {
        Err(LabError::Invalid { key, .. }) => key,
        Err(other) => panic!("expected an invalid-key error, got {other}"),
        Ok(_) => panic!("expected an invalid-key error, the lab parsed"),
    }
}

#[test]
fn the_tftp_endpoint_and_a_stick_image_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let lab = with_usb(dir.path(), "usb = { image = \"usb/t40p.img\" }").unwrap();
    assert_eq!(
        lab.tftp_server(),
        Some("127.0.0.1:10069".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(
        lab.benches[0].usb_image.as_deref(),
        Some(dir.path().join("usb/t40p.img").as_path())
    );
    assert_eq!(lab.bench("t41p").unwrap().usb_image, None);
}

#[test]
fn a_rack_block_device_is_accepted_and_gives_the_twin_no_stick() {
    let dir = tempfile::tempdir().unwrap();
    let lab = with_usb(
        dir.path(),
        "usb = { device = \"/dev/disk/by-id/usb-mux\", size_mb = 7580 }",
    )
    .unwrap();
    assert_eq!(lab.benches[0].usb_image, None);
}

#[test]
fn a_wrong_usb_table_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        invalid_key(with_usb(
            dir.path(),
            "usb = { image = \"a.img\", device = \"/dev/sdz\" }"
        )),
        "bench[0].usb"
    );
    assert_eq!(
        invalid_key(with_usb(dir.path(), "usb = { image = \"\" }")),
        "bench[0].usb.image"
    );
    assert_eq!(
        invalid_key(with_usb(dir.path(), "usb = { size_mb = 10 }")),
        "bench[0].usb"
    );
    assert!(matches!(
        with_usb(dir.path(), "usb = { image = \"a.img\", colour = 1 }"),
        Err(LabError::Syntax { .. })
    ));
}

#[test]
fn a_tftp_port_of_zero_means_no_server_and_a_bad_address_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = virtual_lab_text();
    let lab = TwinLab::from_str(
        &text.replacen("tftp = \"127.0.0.1:10069\"", "tftp = \"127.0.0.1:0\"", 1),
        dir.path(),
    )
    .unwrap();
    assert_eq!(lab.tftp_server(), None);
    assert_eq!(
        invalid_key(TwinLab::from_str(
            &text.replacen("tftp = \"127.0.0.1:10069\"", "tftp = \"tftp-host\"", 1),
            dir.path(),
        )),
        "endpoints.tftp"
    );
}
