//! The phone's syslog client: one RFC 3164 line per boot milestone, sent to the provisioned
//! collector before the phone takes its next network action, so a collector sees causes
//! before effects.

use std::time::{SystemTime, UNIX_EPOCH};

use super::flash::SyslogTarget;
use super::net::Net;

/// Facility local0, the phone's default (public fact: `static.syslog.facility` 16).
const FACILITY_LOCAL0: u8 = 16;

/// How bad a milestone is, as the syslog severity says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something failed (refused image, failed REGISTER, failed call-home).
    Error = 3,
    /// A normal milestone.
    Info = 6,
}

/// Formats one RFC 3164 line: `<PRI>Mmm dd hh:mm:ss HOST TAG: message`.
pub fn format_line(
    severity: Severity,
    now: SystemTime,
    host: &str,
    tag: &str,
    message: &str,
) -> String {
    let pri = u16::from(FACILITY_LOCAL0) * 8 + severity as u16;
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (month, day) = month_day(secs / 86_400);
    let time = secs % 86_400;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "<{pri}>{} {day:>2} {:02}:{:02}:{:02} {host} {tag}: {message}",
        MONTHS[month as usize - 1],
        time / 3600,
        time % 3600 / 60,
        time % 60,
    )
}

/// Month (1-12) and day of month of a day count since 1970-01-01 (civil calendar).
fn month_day(days: u64) -> (u64, u64) {
    // Howard Hinnant's days-to-civil algorithm, unsigned since the clock is after 1970.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (month, day)
}

/// Sends one milestone line if syslog is provisioned and the phone is online; a phone
/// drops its syslog lines silently otherwise, as UDP syslog does.
pub async fn log(
    net: &Net,
    target: &SyslogTarget,
    port: u16,
    tag: &str,
    severity: Severity,
    message: &str,
) {
    tracing::debug!(ip = %net.ip(), "syslog: {message}");
    if !target.enabled || target.server.is_empty() {
        return;
    }
    let Ok(to) = net.resolve(&target.server, port).await else {
        return;
    };
    let Ok(socket) = net.udp(0).await else {
        return;
    };
    let line = format_line(
        severity,
        SystemTime::now(),
        &net.ip().to_string(),
        tag,
        message,
    );
    // Nothing to do when the send fails: the line is lost, as on the wire.
    let _ = net.send_to(&socket, line.as_bytes(), to).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn lines_follow_rfc_3164() {
        // 2021-03-05 07:08:09 UTC
        let at = UNIX_EPOCH + Duration::from_secs(1_614_928_089);
        assert_eq!(
            format_line(
                Severity::Info,
                at,
                "127.0.0.40",
                "T46G",
                "boot: firmware 28.83.0.120 started"
            ),
            "<134>Mar  5 07:08:09 127.0.0.40 T46G: boot: firmware 28.83.0.120 started"
        );
        let leap = UNIX_EPOCH + Duration::from_secs(1_582_934_400); // 2020-02-29 00:00:00
        assert!(
            format_line(Severity::Error, leap, "h", "t", "m").starts_with("<131>Feb 29 00:00:00")
        );
    }
}
