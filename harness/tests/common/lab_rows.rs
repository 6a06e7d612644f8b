//! The lab snippets of the lab-file table tests, as data: a valid base lab, the edits
//! that break it, and the exact message the harness gives for each. `config_lab.rs` checks
//! the messages; `lab_readers_agree.rs` checks that the twin's reader refuses the same
//! labs.

#![allow(dead_code)]

/// A small valid lab: two relay boards, two actuators, one keymap, two benches.
/// Line numbers in the expected messages below refer to this text.
pub const BASE: &str = r#"[lab]
name = "bench-test"
time_scale = 1.0

[endpoints]
provisioning = "127.0.0.1:0"
foreign_provisioning = "127.0.0.1:0"
tftp = "127.0.0.1:0"
sip = "127.0.0.1:0"
syslog = "127.0.0.1:0"

[[relay_board]]
name = "power"
kind = "lcus"
port = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"
channels = 4

[[relay_board]]
name = "net"
kind = "numato"
port = "/dev/serial/by-id/usb-Numato_Systems_4_Channel_USB_Relay_Module-if00"
channels = 4

[[actuator]]
name = "keys"
port = "/dev/serial/by-id/usb-yealink-lab_actuator_keys-if00"
channels = 24

[[actuator]]
name = "keys-2"
port = "/dev/serial/by-id/usb-yealink-lab_actuator_keys-2-if00"
channels = 32

[keymap.t4x]
speaker = 1
ok = 2
cancel = 3
f1 = 4
f2 = 5
f3 = 6
f4 = 7
"0" = 8
"1" = 9
"2" = 10
"3" = 11
"4" = 12
"5" = 13
"6" = 14
"7" = 15
"8" = 16
"9" = 17
star = 18
pound = 19

[[bench]]
name = "one"
model = "T46G"
mac = "00:15:65:00:00:01"
ip = "127.0.0.11"
power = { board = "power", channel = 1 }
network = { board = "net", channel = 0 }
actuator = "keys"
keymap = "t4x"

[[bench]]
name = "two"
model = "T48S"
mac = "00:15:65:00:00:02"
ip = "127.0.0.12"
web_port = 8080
power = { board = "power", channel = 2 }
network = { board = "net", channel = 1 }
actuator = "keys-2"
keymap = "t4x"
safe_power = "on"
approval = "required"
"#;

pub const KEY_NAMES: &str = "`speaker`, `ok`, `cancel`, `f1`, `f2`, `f3`, `f4`, `up`, `down`, `left`, `right`, `1`, \
`2`, `3`, `4`, `5`, `6`, `7`, `8`, `9`, `0`, `star`, `pound`, `mute` or `headset`";

/// Turns actuator `keys-2` into keys pressed by the relays of an LCUS-24 board defined
/// after the benches (channel 24 of that board is left free).
pub const KEYS_ON_RELAYS: &str = "kind = \"relay\"\nrelay_board = \"key-relays\"\nrelays = [1, 2, 3, 4, 5, 6, 7, 8, 9, \
    10, 11, 12, 13, 14, 15, 16, 17, 18, 19]\n\n[[relay_board]]\nname = \"key-relays\"\nkind = \"lcus\"\nport = \
    \"/dev/serial/by-id/usb-1a86_USB_Serial_key-relays-if00-port0\"\nchannels = 24";

/// A table row: what the mistake is, the edits that make it, the exact message.
pub type Row = (&'static str, Vec<(&'static str, &'static str)>, String);

/// The base lab with each `(from, to)` replaced once; `from` must occur in it.
pub fn edited(edits: &[(&str, &str)]) -> String {
    let mut text = BASE.to_string();
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "edit target {from:?} is not in the base lab"
        );
        text = text.replacen(from, to, 1);
    }
    text
}

/// What the refusal of an unsafe name adds to its message.
pub const NAME_RULE: &str = "a name is 1 to 64 characters of A-Z, a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit";

/// What the refusal of a `time_scale` says before the value found.
pub const TIME_SCALE_RANGE: &str = "lab.time_scale: time_scale must be 0.001 to 10 (1.0 on a real rack, 0.01 on the virtual \
    lab; below 0.001 the phones' delays shrink under the timers' millisecond), found";

/// Two benches' USB sticks, the second written differently (`.` and `//` are dropped).
pub fn usb_edits(first: &'static str, second: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("keymap = \"t4x\"\n\n[[bench]]", first),
        ("approval = \"required\"", second),
    ]
}

/// Each kind of mistake, with the exact message the harness gives.
pub fn mistake_rows() -> Vec<Row> {
    vec![
        (
            "syntax error",
            vec![("name = \"bench-test\"", "name = \"bench-test")],
            "lab.toml:2:19: TOML syntax error: invalid basic string, expected `\"`".into(),
        ),
        (
            "duplicate key is a syntax error",
            vec![("time_scale = 1.0", "time_scale = 1.0\ntime_scale = 2.0")],
            "lab.toml:4:1: TOML syntax error: duplicate key".into(),
        ),
        (
            "unknown top-level key",
            vec![("[lab]\n", "colour = \"red\"\n[lab]\n")],
            "lab.toml:1:1: colour: unknown key `colour`, expected one of `lab`, `endpoints`, `lab_faults`, \
             `relay_board`, `actuator`, `keymap`, `bench` or `twin`"
                .into(),
        ),
        (
            "unknown key in a bench",
            vec![("safe_power = \"on\"", "safe_power = \"on\"\nsafe_pwr = \"off\"")],
            "lab.toml:76:1: bench[1].safe_pwr: unknown field `safe_pwr`, expected one of `name`, `model`, `mac`, \
             `ip`, `web_port`, `power`, `network`, `actuator`, `keymap`, `safe_power`, `approval`, `approved`, `usb`, `dhcp_interface`, `count`"
                .into(),
        ),
        (
            "unknown key in a relay channel",
            vec![("channel = 0 }", "channel = 0, invert = true }")],
            "lab.toml:61:41: bench[0].network.invert: unknown field `invert`, expected `board` or `channel`".into(),
        ),
        (
            "wrong type",
            vec![("channels = 4\n\n[[actuator]]", "channels = \"four\"\n\n[[actuator]]")],
            "lab.toml:22:12: relay_board[1].channels: invalid type: string \"four\", expected u16".into(),
        ),
        (
            "negative channel",
            vec![("channel = 0 }", "channel = -1 }")],
            "lab.toml:61:38: bench[0].network.channel: invalid value: integer `-1`, expected u16".into(),
        ),
        (
            "missing required key",
            vec![("model = \"T46G\"\n", "")],
            "lab.toml:55:1: bench[0]: missing field `model`".into(),
        ),
        (
            "missing [endpoints]",
            vec![(
                "[endpoints]\nprovisioning = \"127.0.0.1:0\"\nforeign_provisioning = \"127.0.0.1:0\"\n\
                 tftp = \"127.0.0.1:0\"\nsip = \"127.0.0.1:0\"\nsyslog = \"127.0.0.1:0\"\n",
                "",
            )],
            "lab.toml:1:1: endpoints: missing table `[endpoints]` (with `provisioning`, `foreign_provisioning`, \
             `tftp`, `sip` and `syslog`)"
                .into(),
        ),
        (
            "empty lock_dir",
            vec![("time_scale = 1.0", "time_scale = 1.0\nlock_dir = \"\"")],
            "lab.toml:4:12: lab.lock_dir: lock_dir must name a folder (e.g. \"/run/yealink-lab\"), found an empty string"
                .into(),
        ),
        (
            "too many retries",
            vec![("time_scale = 1.0\n", "time_scale = 1.0\n\n[lab_faults]\nretries = 9\n")],
            "lab.toml:6:11: lab_faults.retries: retries must be 0 to 5 (attempts of a case after a lab fault; \
             0 never retries), found 9"
                .into(),
        ),
        (
            "negative retries",
            vec![("time_scale = 1.0\n", "time_scale = 1.0\n\n[lab_faults]\nretries = -1\n")],
            "lab.toml:6:11: lab_faults.retries: invalid value: integer `-1`, expected u32".into(),
        ),
        (
            "health check timeout zero",
            vec![(
                "time_scale = 1.0\n",
                "time_scale = 1.0\n\n[lab_faults]\nhealth_check_timeout_s = 0\n",
            )],
            "lab.toml:6:26: lab_faults.health_check_timeout_s: health_check_timeout_s must be 1 to 3600 (real \
             seconds a phone gets to fetch its config after a power cycle), found 0"
                .into(),
        ),
        (
            "unknown key in [lab_faults]",
            vec![("time_scale = 1.0\n", "time_scale = 1.0\n\n[lab_faults]\nretry = 1\n")],
            "lab.toml:6:1: lab_faults.retry: unknown field `retry`, expected `retries` or \
             `health_check_timeout_s`"
                .into(),
        ),
        (
            "time_scale zero",
            vec![("time_scale = 1.0", "time_scale = 0")],
            format!("lab.toml:3:14: {TIME_SCALE_RANGE} 0"),
        ),
        (
            "time_scale too large",
            vec![("time_scale = 1.0", "time_scale = 12.5")],
            format!("lab.toml:3:14: {TIME_SCALE_RANGE} 12.5"),
        ),
        (
            "endpoint that does not parse",
            vec![("sip = \"127.0.0.1:0\"", "sip = \"localhost:5060\"")],
            "lab.toml:9:7: endpoints.sip: `localhost:5060` is not an address `ip:port` such as `127.0.0.1:18080` \
             (host names are not resolved)"
                .into(),
        ),
        (
            "endpoint without port",
            vec![("tftp = \"127.0.0.1:0\"", "tftp = \"127.0.0.1\"")],
            "lab.toml:8:8: endpoints.tftp: `127.0.0.1` is not an address `ip:port` such as `127.0.0.1:18080` \
             (host names are not resolved)"
                .into(),
        ),
        (
            "two UDP endpoints on one fixed port",
            vec![
                ("tftp = \"127.0.0.1:0\"", "tftp = \"127.0.0.1:10514\""),
                ("syslog = \"127.0.0.1:0\"", "syslog = \"127.0.0.1:10514\""),
            ],
            "lab.toml:10:10: endpoints.syslog: `127.0.0.1:10514` is already the address of endpoints.tftp: two \
             UDP servers cannot share one port"
                .into(),
        ),
        (
            "duplicate relay board name",
            vec![(
                "[[actuator]]\nname = \"keys\"\n",
                "[[relay_board]]\nname = \"net\"\nkind = \"lcus\"\nport = \"/dev/ttyUSB3\"\nchannels = 2\n\n\
                 [[actuator]]\nname = \"keys\"\n",
            )],
            "lab.toml:25:8: relay_board[2].name: duplicate relay board name `net` (first defined at line 19)".into(),
        ),
        (
            "duplicate actuator name",
            vec![(
                "approval = \"required\"\n",
                "approval = \"required\"\n\n[[actuator]]\nname = \"keys\"\nport = \"/dev/ttyACM9\"\nchannels = 8\n",
            )],
            "lab.toml:79:8: actuator[2].name: duplicate actuator name `keys` (first defined at line 25)".into(),
        ),
        (
            "duplicate bench name",
            vec![("name = \"two\"", "name = \"one\"")],
            "lab.toml:66:8: bench[1].name: duplicate bench name `one` (bench[0], line 56)".into(),
        ),
        (
            "two benches on one relay channel",
            vec![("power = { board = \"power\", channel = 2 }", "power = { board = \"power\", channel = 1 }")],
            "lab.toml:71:38: bench[1].power.channel: channel 1 of relay board `power` is already used by \
             bench[0].power (line 60)"
                .into(),
        ),
        (
            "power and network on one relay channel",
            vec![("network = { board = \"net\", channel = 0 }", "network = { board = \"power\", channel = 1 }")],
            "lab.toml:61:40: bench[0].network.channel: channel 1 of relay board `power` is already used by \
             bench[0].power (line 60)"
                .into(),
        ),
        (
            "LCUS channel above the board's range",
            vec![("power = { board = \"power\", channel = 1 }", "power = { board = \"power\", channel = 5 }")],
            "lab.toml:60:38: bench[0].power.channel: channel 5 does not exist on relay board `power` (it has \
             channels 1-4)"
                .into(),
        ),
        (
            "LCUS channel 0 (LCUS counts from 1)",
            vec![("power = { board = \"power\", channel = 1 }", "power = { board = \"power\", channel = 0 }")],
            "lab.toml:60:38: bench[0].power.channel: channel 0 does not exist on relay board `power` (it has \
             channels 1-4)"
                .into(),
        ),
        (
            "Numato channel N (Numato counts from 0)",
            vec![("network = { board = \"net\", channel = 0 }", "network = { board = \"net\", channel = 4 }")],
            "lab.toml:61:38: bench[0].network.channel: channel 4 does not exist on relay board `net` (it has \
             channels 0-3)"
                .into(),
        ),
        (
            "unknown relay board",
            vec![("power = { board = \"power\", channel = 1 }", "power = { board = \"pwr\", channel = 1 }")],
            "lab.toml:60:19: bench[0].power.board: no relay board named `pwr` (relay boards: `net`, `power`)".into(),
        ),
        (
            "unknown actuator",
            vec![("actuator = \"keys\"", "actuator = \"keyz\"")],
            "lab.toml:62:12: bench[0].actuator: no actuator named `keyz` (actuators: `keys`, `keys-2`)".into(),
        ),
        (
            "unknown keymap",
            vec![("keymap = \"t4x\"\nsafe_power", "keymap = \"t4y\"\nsafe_power")],
            "lab.toml:74:10: bench[1].keymap: no keymap named `t4y` (keymaps: `t4x`)".into(),
        ),
        (
            "keymap channel outside the actuator's range",
            vec![("pound = 19", "pound = 30")],
            "lab.toml:53:9: keymap.t4x.pound: channel 30 is outside actuator `keys` (it has channels 1-24), which \
             bench `one` (bench[0]) drives with this keymap"
                .into(),
        ),
        (
            "keymap channel 0",
            vec![("speaker = 1", "speaker = 0")],
            "lab.toml:35:11: keymap.t4x.speaker: channel 0 does not exist: actuator channels count from 1".into(),
        ),
        (
            "two keys on one channel",
            vec![("ok = 2", "ok = 1")],
            "lab.toml:36:6: keymap.t4x.ok: channel 1 is already bound to key `speaker` (line 35)".into(),
        ),
        (
            "keymap missing keys the harness presses",
            vec![("star = 18\n", ""), ("f2 = 5\n", "")],
            "lab.toml:34:1: keymap.t4x: missing keys the harness presses: f2, star".into(),
        ),
        (
            "unknown key name in a keymap",
            vec![("pound = 19\n", "pound = 19\nf5 = 20\n")],
            format!("lab.toml:54:1: keymap.t4x.f5: unknown key `f5`, expected one of {KEY_NAMES}"),
        ),
        (
            "two benches pressing the same actuator channels",
            vec![("actuator = \"keys-2\"", "actuator = \"keys\"")],
            "lab.toml:73:12: bench[1].actuator: channel 1 of actuator `keys` already presses a key of bench `one` \
             (bench[0]); benches sharing an actuator need keymaps on distinct channels"
                .into(),
        ),
        (
            "two benches with one MAC",
            vec![("mac = \"00:15:65:00:00:02\"", "mac = \"00:15:65:00:00:01\"")],
            "lab.toml:68:7: bench[1].mac: MAC 00:15:65:00:00:01 is already the MAC of bench `one` (bench[0])".into(),
        ),
        (
            "two benches with one IP",
            vec![("ip = \"127.0.0.12\"", "ip = \"127.0.0.11\"")],
            "lab.toml:69:6: bench[1].ip: IP 127.0.0.11 is already the address of bench `one` (bench[0])".into(),
        ),
        (
            "MAC that does not parse",
            vec![("mac = \"00:15:65:00:00:01\"", "mac = \"00:15:65:00:00\"")],
            "lab.toml:58:7: bench[0].mac: `00:15:65:00:00` is not a MAC address (expected six hex bytes such as \
             `00:15:65:4a:a9:37`)"
                .into(),
        ),
        (
            "IPv6 bench address",
            vec![("ip = \"127.0.0.11\"", "ip = \"::1\"")],
            "lab.toml:59:6: bench[0].ip: `::1` is an IPv6 address: T4x phones are addressed by IPv4".into(),
        ),
        (
            "IP that does not parse",
            vec![("ip = \"127.0.0.11\"", "ip = \"127.0.0.300\"")],
            "lab.toml:59:6: bench[0].ip: `127.0.0.300` is not an IPv4 address such as `192.168.10.41`".into(),
        ),
        (
            "unknown model lists the eight",
            vec![("model = \"T46G\"", "model = \"T49G\"")],
            "lab.toml:57:9: bench[0].model: unknown model `T49G`, expected one of T40P, T41P, T42G, T46G, T48G, \
             T42S, T46S, T48S"
                .into(),
        ),
        (
            "web_port 0",
            vec![("web_port = 8080", "web_port = 0")],
            "lab.toml:70:12: bench[1].web_port: web_port 0 is not a port the phone's web UI can listen on (80 when \
             omitted)"
                .into(),
        ),
        (
            "unknown safe_power",
            vec![("safe_power = \"on\"", "safe_power = \"maybe\"")],
            "lab.toml:75:14: bench[1].safe_power: unknown variant `maybe`, expected `on` or `off`".into(),
        ),
        (
            "usb with both image and device",
            vec![("approval = \"required\"", "approval = \"required\"\nusb = { image = \"a.img\", device = \"/dev/sdz\" }")],
            "lab.toml:77:35: bench[1].usb.device: a stick is either `image` or `device`, not both".into(),
        ),
        (
            "usb device without its size",
            vec![("approval = \"required\"", "approval = \"required\"\nusb = { device = \"/dev/sdz\" }")],
            "lab.toml:77:18: bench[1].usb.size_mb: a block device needs `size_mb`: the stick's size, checked before every write".into(),
        ),
        (
            "usb image with a size",
            vec![("approval = \"required\"", "approval = \"required\"\nusb = { image = \"a.img\", size_mb = 8 }")],
            "lab.toml:77:36: bench[1].usb.size_mb: `size_mb` goes with `device`, not with `image`".into(),
        ),
        (
            "usb with neither image nor device",
            vec![("approval = \"required\"", "approval = \"required\"\nusb = {}")],
            "lab.toml:77:7: bench[1].usb: expected `usb = { image = \"<file>\" }` or `usb = { device = \"<path>\", size_mb = <n> }`".into(),
        ),
        (
            "usb with an unknown key",
            vec![("approval = \"required\"", "approval = \"required\"\nusb = { file = \"a.img\" }")],
            "lab.toml:77:9: bench[1].usb.file: unknown field `file`, expected one of `image`, `device`, `size_mb`".into(),
        ),
        (
            "unknown relay kind",
            vec![("kind = \"numato\"", "kind = \"hid\"")],
            "lab.toml:20:8: relay_board[1].kind: unknown variant `hid`, expected one of `lcus`, `numato`, `usb-hid-relay`, `ykush`, `pdudaemon`".into(),
        ),
        (
            "board with too many channels",
            vec![("channels = 4\n\n[[relay_board]]", "channels = 65\n\n[[relay_board]]")],
            "lab.toml:16:12: relay_board[0].channels: channels must be 1 to 64, found 65".into(),
        ),
        (
            "actuator with no channels",
            vec![("channels = 32", "channels = 0")],
            "lab.toml:32:12: actuator[1].channels: channels must be 1 to 64, found 0".into(),
        ),
        (
            "frame on a Numato board",
            vec![("kind = \"numato\"", "kind = \"numato\"\nframe = { header = 0xA1 }")],
            "lab.toml:21:9: relay_board[1].frame: `frame` applies to LCUS boards only: a `numato` board has its own \
             protocol"
                .into(),
        ),
        (
            "unknown key in an LCUS frame",
            vec![("kind = \"lcus\"", "kind = \"lcus\"\nframe = { header = 0xA1, start = 1 }")],
            "lab.toml:15:26: relay_board[0].frame.start: unknown field `start`, expected one of `header`, `on`, \
             `off`"
                .into(),
        ),
        (
            "a port on a usb-hid-relay board",
            vec![("kind = \"lcus\"", "kind = \"usb-hid-relay\"")],
            "lab.toml:15:8: relay_board[0].port: a `usb-hid-relay` board has no serial port: it is found on the USB bus, by its `serial` when there are several".into(),
        ),
        (
            "more than 8 channels on a usb-hid-relay board",
            vec![
                ("kind = \"lcus\"", "kind = \"usb-hid-relay\""),
                ("port = \"/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0\"\n", ""),
                ("channels = 4\n\n[[relay_board]]", "channels = 9\n\n[[relay_board]]"),
            ],
            "lab.toml:15:12: relay_board[0].channels: channels must be 1 to 8 on a `usb-hid-relay` board (USB-HID relay boards have 1 to 8 relays), found 9".into(),
        ),
        (
            "a pdudaemon board without its url",
            vec![(
                "kind = \"lcus\"\nport = \"/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0\"",
                "kind = \"pdudaemon\"\npdu = \"pdu01\"",
            )],
            "lab.toml:12:1: relay_board[0].url: a `pdudaemon` board needs `url`: pdudaemon's HTTP listener, such as `http://localhost:16421`".into(),
        ),
        (
            "a serial port missing on an LCUS board",
            vec![("port = \"/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0\"\n", "")],
            "lab.toml:12:1: relay_board[0].port: a `lcus` board needs `port`: its serial device (a /dev/serial/by-id link)".into(),
        ),
        (
            "a serial number on an LCUS board",
            vec![("kind = \"lcus\"", "kind = \"lcus\"\nserial = \"QAAMZ\"")],
            "lab.toml:15:10: relay_board[0].serial: `serial` applies to `usb-hid-relay` and `ykush` boards, not to a `lcus` board".into(),
        ),
        (
            "a ykush with other than 3 channels",
            vec![(
                "kind = \"lcus\"\nport = \"/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0\"",
                "kind = \"ykush\"",
            )],
            "lab.toml:15:12: relay_board[0].channels: channels must be 3 on a `ykush` board (a YKUSH has 3 switchable ports; leave it out), found 4".into(),
        ),
        (
            "a pdudaemon url on a Numato board",
            vec![("kind = \"numato\"", "kind = \"numato\"\nurl = \"http://localhost:16421\"")],
            "lab.toml:21:7: relay_board[1].url: `url` applies to `pdudaemon` boards only, not to a `numato` board".into(),
        ),
        (
            "a relay actuator on an unknown board",
            vec![(
                "port = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-2-if00\"\nchannels = 32",
                "kind = \"relay\"\nrelay_board = \"nope\"\nrelays = [1, 2, 3]",
            )],
            "lab.toml:32:15: actuator[1].relay_board: no relay board named `nope` (relay boards: `net`, `power`)".into(),
        ),
        (
            "a relay actuator with a port and no board",
            vec![(
                "port = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-2-if00\"\nchannels = 32",
                "kind = \"relay\"\nport = \"/dev/ttyUSB9\"",
            )],
            ["lab.toml:29:1: actuator[1].relay_board: a relay actuator needs `relay_board`: the name of the `[[relay_board]]` whose relays press the keys", "lab.toml:32:8: actuator[1].port: a relay actuator has no `port`: its relay board is the device"].join("\n"),
        ),
        (
            "a relay board shared by power and keys",
            vec![
                (
                    "port = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-2-if00\"\nchannels = 32",
                    KEYS_ON_RELAYS,
                ),
                ("network = { board = \"net\", channel = 1 }", "network = { board = \"key-relays\", channel = 20 }"),
            ],
            "lab.toml:79:21: bench[1].network.board: relay board `key-relays` presses the keys of actuator `keys-2` (actuator[1]): a board wired to keys must not switch power or network too".into(),
        ),
        (
            "a relay pressing two keys, on a board that also powers the benches",
            vec![(
                "port = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-2-if00\"\nchannels = 32",
                "kind = \"relay\"\nrelay_board = \"power\"\nrelays = [3, 3]",
            )],
            ["lab.toml:33:10: actuator[1].relays: relay 3 is listed twice: one relay presses one key", "lab.toml:61:19: bench[0].power.board: relay board `power` presses the keys of actuator `keys-2` (actuator[1]): a board wired to keys must not switch power or network too", "lab.toml:72:19: bench[1].power.board: relay board `power` presses the keys of actuator `keys-2` (actuator[1]): a board wired to keys must not switch power or network too"].join("\n"),
        ),
        (
            "empty serial port path",
            vec![("port = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-if00\"", "port = \"\"")],
            "lab.toml:26:8: actuator[0].port: the serial port path must not be empty (use the board's \
             /dev/serial/by-id link)"
                .into(),
        ),
    ]
}

/// Values that passed the check and then broke a run, with the exact message.
pub fn run_breaking_rows() -> Vec<Row> {
    let long_name: &'static str = format!("name = \"{}\"", "a".repeat(300)).leak();
    let long_name_message = format!(
        "lab.toml:56:8: bench[0].name: a bench's name `{}...` cannot become a file name: it has 300 characters; {NAME_RULE}",
        "a".repeat(40)
    );
    vec![
        (
            "a bench name that climbs out of the run folder",
            vec![("name = \"one\"", "name = \"x/../../../../tmp/PWNED\"")],
            format!("lab.toml:56:8: bench[0].name: a bench's name `x/../../../../tmp/PWNED` cannot become a file name: `/` (character 2) is not allowed; {NAME_RULE}"),
        ),
        (
            "an absolute bench name",
            vec![("name = \"two\"", "name = \"/tmp/lease\"")],
            format!("lab.toml:66:8: bench[1].name: a bench's name `/tmp/lease` cannot become a file name: `/` (character 1) is not allowed; {NAME_RULE}"),
        ),
        (
            "a bench name with a newline",
            vec![("name = \"one\"", "name = \"one\\ntwo\"")],
            format!("lab.toml:56:8: bench[0].name: a bench's name `one\\ntwo` cannot become a file name: `\\n` (character 4) is not allowed; {NAME_RULE}"),
        ),
        (
            "a bench name of 300 characters",
            vec![("name = \"one\"", long_name)],
            long_name_message,
        ),
        (
            "a hidden-file bench name",
            vec![("name = \"one\"", "name = \"..\"")],
            format!("lab.toml:56:8: bench[0].name: a bench's name `..` cannot become a file name: it starts with `.`; {NAME_RULE}"),
        ),
        (
            "a relay board name with a colon",
            vec![
                ("name = \"net\"", "name = \"n:et\""),
                ("board = \"net\", channel = 0", "board = \"n:et\", channel = 0"),
                ("board = \"net\", channel = 1", "board = \"n:et\", channel = 1"),
            ],
            format!("lab.toml:19:8: relay_board[1].name: a relay board's name `n:et` cannot become a file name: `:` (character 2) is not allowed; {NAME_RULE}"),
        ),
        (
            "an actuator name with a space",
            vec![
                ("name = \"keys-2\"", "name = \"keys 2\""),
                ("actuator = \"keys-2\"", "actuator = \"keys 2\""),
            ],
            format!("lab.toml:30:8: actuator[1].name: an actuator's name `keys 2` cannot become a file name: ` ` (character 5) is not allowed; {NAME_RULE}"),
        ),
        (
            "a lab name on two lines",
            vec![("name = \"bench-test\"", "name = \"bench\\ntest\"")],
            "lab.toml:2:8: lab.name: the lab's name holds the control character `\\n`: it is one line of every report".into(),
        ),
        (
            "two relay boards of different kinds on one port",
            vec![(
                "port = \"/dev/serial/by-id/usb-Numato_Systems_4_Channel_USB_Relay_Module-if00\"",
                "port = \"/dev/serial/by-id//usb-1a86_USB_Serial-if00-port0\"",
            )],
            "lab.toml:21:8: relay_board[1].port: `/dev/serial/by-id//usb-1a86_USB_Serial-if00-port0` is already used by \
             relay_board[0].port (line 15): one serial port is one device, and two drivers on it would mix their frames"
                .into(),
        ),
        (
            "an actuator on a relay board's port",
            vec![(
                "port = \"/dev/serial/by-id/usb-yealink-lab_actuator_keys-if00\"",
                "port = \"/dev/serial/by-id/./usb-1a86_USB_Serial-if00-port0\"",
            )],
            "lab.toml:26:8: actuator[0].port: `/dev/serial/by-id/./usb-1a86_USB_Serial-if00-port0` is already used by \
             relay_board[0].port (line 15): one serial port is one device, and two drivers on it would mix their frames"
                .into(),
        ),
        (
            "two benches on one USB-SD-mux",
            usb_edits(
                "keymap = \"t4x\"\nusb = { device = \"/dev/disk/by-id/usb-mux\", size_mb = 7600 }\n\n[[bench]]",
                "approval = \"required\"\nusb = { device = \"/dev/disk/by-id/./usb-mux\", size_mb = 7600 }",
            ),
            "lab.toml:78:18: bench[1].usb.device: `/dev/disk/by-id/./usb-mux` is already used by bench[0].usb.device \
             (line 64): a stick is in one phone's port, and two benches writing it would overwrite each other's recovery \
             package"
                .into(),
        ),
        (
            "two benches sharing one stick image",
            usb_edits(
                "keymap = \"t4x\"\nusb = { image = \"/tmp/sticks/one.img\" }\n\n[[bench]]",
                "approval = \"required\"\nusb = { image = \"/tmp/sticks//one.img\" }",
            ),
            "lab.toml:78:17: bench[1].usb.image: `/tmp/sticks//one.img` is already used by bench[0].usb.image (line 64): \
             a stick is in one phone's port, and two benches writing it would overwrite each other's recovery package"
                .into(),
        ),
        (
            "two YKUSH hubs that are both the only one plugged in",
            vec![(
                "approval = \"required\"\n",
                "approval = \"required\"\n\n[[relay_board]]\nname = \"hub-a\"\nkind = \"ykush\"\n\n\
                 [[relay_board]]\nname = \"hub-b\"\nkind = \"ykush\"\n",
            )],
            "lab.toml:82:1: relay_board[3]: relay board `hub-b` is found at usb 04d8:f2f7/f11b, the only one plugged in, \
             like relay_board[2] (line 78): one board cannot be two entries (give each its own `serial`, or its own `pdu`)"
                .into(),
        ),
        (
            "an IPv6 endpoint",
            vec![("sip = \"127.0.0.1:0\"", "sip = \"[::1]:5060\"")],
            "lab.toml:9:7: endpoints.sip: `[::1]:5060` is an IPv6 address: the phones reach the lab's servers over IPv4, \
             so bind an IPv4 address such as `127.0.0.1:18080` or `0.0.0.0:18080`"
                .into(),
        ),
        (
            "a broadcast MAC",
            vec![("mac = \"00:15:65:00:00:01\"", "mac = \"FF:FF:FF:FF:FF:FF\"")],
            "lab.toml:58:7: bench[0].mac: MAC ff:ff:ff:ff:ff:ff is the broadcast address: a phone's MAC is the unicast \
             address on its label"
                .into(),
        ),
        (
            "a multicast MAC",
            vec![("mac = \"00:15:65:00:00:02\"", "mac = \"01-00-5e-00-00-fb\"")],
            "lab.toml:68:7: bench[1].mac: MAC 01:00:5e:00:00:fb is a multicast address (the lowest bit of its first byte \
             is set): a phone's MAC is the unicast address on its label"
                .into(),
        ),
        (
            "an all-zero MAC",
            vec![("mac = \"00:15:65:00:00:01\"", "mac = \"000000000000\"")],
            "lab.toml:58:7: bench[0].mac: MAC 00:00:00:00:00:00 is all zeros, no device's address: a phone's MAC is the \
             unicast address on its label"
                .into(),
        ),
        (
            "a broadcast phone IP",
            vec![("ip = \"127.0.0.12\"", "ip = \"255.255.255.255\"")],
            "lab.toml:69:6: bench[1].ip: IP 255.255.255.255 is the broadcast address: a phone's address is one \
             host's (the one its DHCP reservation gives it)"
                .into(),
        ),
        (
            "a multicast phone IP",
            vec![("ip = \"127.0.0.11\"", "ip = \"224.0.0.251\"")],
            "lab.toml:59:6: bench[0].ip: IP 224.0.0.251 is a multicast address: a phone's address is one host's \
             (the one its DHCP reservation gives it)"
                .into(),
        ),
        (
            "an unspecified phone IP",
            vec![("ip = \"127.0.0.11\"", "ip = \"0.0.0.0\"")],
            "lab.toml:59:6: bench[0].ip: IP 0.0.0.0 is the unspecified address: a phone's address is one host's \
             (the one its DHCP reservation gives it)"
                .into(),
        ),
        (
            "a time scale far below a millisecond per second",
            vec![("time_scale = 1.0", "time_scale = 1e-300")],
            format!("lab.toml:3:14: {TIME_SCALE_RANGE} 1e-300"),
        ),
        (
            "a time scale just under the floor",
            vec![("time_scale = 1.0", "time_scale = 0.0009")],
            format!("lab.toml:3:14: {TIME_SCALE_RANGE} 0.0009"),
        ),
        (
            "a time scale that is not a number",
            vec![("time_scale = 1.0", "time_scale = nan")],
            format!("lab.toml:3:14: {TIME_SCALE_RANGE} NaN"),
        ),
        (
            "an infinite time scale",
            vec![("time_scale = 1.0", "time_scale = inf")],
            format!("lab.toml:3:14: {TIME_SCALE_RANGE} inf"),
        ),
        (
            "a negative time scale",
            vec![("time_scale = 1.0", "time_scale = -0.5")],
            format!("lab.toml:3:14: {TIME_SCALE_RANGE} -0.5"),
        ),
    ]
}
