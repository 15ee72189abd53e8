//! `rovctl status` and `rovctl reload`: one command over rovd's control
//! socket, as `bgpctl` talks to bgpd. The socket is root's and the group
//! of rovd's `user` (mode 0660); `-s` names another one.
//!
//! Run by the operator, with that user's privileges: it connects, writes
//! one line, reads the answer to its end and prints it — the status as
//! text, or as the JSON it came in.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use rovd::pdu::ErrorCode;
use rovd::rtr::views::status::{duration_text, time_text, Status};

use super::Failed;

/// How long the daemon has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Send `command` on the socket at `path`; the answer.
fn ask(path: &Path, command: &str) -> Result<Vec<u8>, Failed> {
    let fail = |e: std::io::Error| {
        eprintln!("rovctl: {}: {e}", path.display());
        Failed::Trouble
    };
    let mut s = UnixStream::connect(path).map_err(fail)?;
    s.set_read_timeout(Some(TIMEOUT)).map_err(fail)?;
    s.set_write_timeout(Some(TIMEOUT)).map_err(fail)?;
    s.write_all(format!("{command}\n").as_bytes())
        .map_err(fail)?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).map_err(fail)?;
    if answer.starts_with(b"error:") {
        eprint!("rovctl: {}", String::from_utf8_lossy(&answer));
        return Err(Failed::Trouble);
    }
    Ok(answer)
}

/// `rovctl reload`.
pub(crate) fn reload(path: &Path) -> Result<(), Failed> {
    let answer = ask(path, "reload")?;
    print!("{}", String::from_utf8_lossy(&answer));
    Ok(())
}

/// `rovctl status [--json]`.
pub(crate) fn status(path: &Path, json: bool) -> Result<(), Failed> {
    let answer = ask(path, "status")?;
    if json {
        let _ = std::io::stdout().write_all(&answer);
        return Ok(());
    }
    let status: Status = serde_json::from_slice(&answer).map_err(|e| {
        eprintln!("rovctl: {}: not a status: {e}", path.display());
        Failed::Trouble
    })?;
    print!("{}", render(&status));
    Ok(())
}

/// The status as text.
#[allow(clippy::too_many_lines)] // one section after the other
pub(crate) fn render(s: &Status) -> String {
    let mut o = String::new();
    let ago = |t: u64| format!("{} ago", duration_text(s.now.saturating_sub(t)));
    let when = |t: u64| format!("{} ({})", time_text(t), ago(t));
    let _ = writeln!(
        o,
        "rovd {}, up {} (since {})",
        s.version,
        duration_text(s.now.saturating_sub(s.started)),
        time_text(s.started)
    );
    if s.ready.ready {
        o.push_str("ready\n");
    } else {
        let _ = writeln!(o, "not ready: {}", s.ready.reasons.join("; "));
    }
    match (s.serial, s.serials.first()) {
        (Some(serial), Some(r)) => {
            let _ = writeln!(o, "serial {serial}, {}", when(r.time));
        }
        (Some(serial), None) => {
            let _ = writeln!(o, "serial {serial}");
        }
        _ => o.push_str("no data yet\n"),
    }
    if let Some(why) = &s.no_data {
        let _ = writeln!(o, "serving no data: {why}");
    }
    let _ = writeln!(o, "session IDs: {}", s.session_ids_text());
    for p in &s.payloads {
        let _ = writeln!(
            o,
            "version {}: {} VRPs, {} router keys, {} ASPAs",
            p.version, p.vrps, p.router_keys, p.aspas
        );
    }

    let _ = writeln!(o, "\nsources ({}):", s.sources.len());
    for src in &s.sources {
        let _ = writeln!(o, "  {} ({}): {}", src.name, src.kind, src.condition());
        let age = s.age(src).map_or_else(|| "-".into(), duration_text);
        let _ = writeln!(
            o,
            "    {} VRPs, {} router keys, {} ASPAs; age {age}{}",
            src.vrps,
            src.router_keys,
            src.aspas,
            if src.limit > 0 {
                format!(" (at most {})", duration_text(src.limit))
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            o,
            "    last success: {}",
            src.last_success.map_or_else(|| "never".into(), when)
        );
        if let Some(e) = &src.last_error {
            let at = src.last_failure.map(when).unwrap_or_default();
            let _ = writeln!(o, "    last error: {e} {at}");
        }
        if let Some(h) = &src.held_back {
            let _ = writeln!(
                o,
                "    update held back: {h} (SIGHUP or rovctl reload accepts it)"
            );
        }
        let expired = src.expired_vrps + src.expired_router_keys + src.expired_aspas;
        if expired > 0 {
            let newest = src
                .expired_newest
                .map(|t| format!(", the newest {}", time_text(t)))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "    expired: {} VRPs, {} router keys, {} ASPAs{newest}",
                src.expired_vrps, src.expired_router_keys, src.expired_aspas
            );
        }
        for u in &src.upstreams {
            let _ = writeln!(
                o,
                "    {}: {}{}, last success {}{}",
                u.url,
                if u.healthy { "healthy" } else { "not healthy" },
                if u.in_force { ", served" } else { "" },
                u.last_success.map_or_else(|| "never".into(), ago),
                u.last_error
                    .as_ref()
                    .map(|e| format!("; {e}"))
                    .unwrap_or_default()
            );
        }
    }

    let _ = writeln!(o, "\nserials:");
    for r in &s.serials {
        let _ = writeln!(
            o,
            "  {:>10}  {}  +{} -{}",
            r.serial,
            when(r.time),
            r.announced,
            r.withdrawn
        );
    }

    let _ = writeln!(o, "\nsessions ({}):", s.sessions.len());
    for r in &s.sessions {
        let transport = match &r.tls {
            Some(t) => {
                let cert = t
                    .client_certificate
                    .as_ref()
                    .map(|c| format!(", client certificate SHA-256 {c}"))
                    .unwrap_or_default();
                format!("tls {} {}{cert}", t.protocol, t.cipher)
            }
            None => r.transport.clone(),
        };
        let query = match (r.last_query, &r.last_query_kind) {
            (Some(t), Some(k)) => format!("last {k} query {}", ago(t)),
            _ => "no query yet".into(),
        };
        let _ = writeln!(
            o,
            "  {} {transport}, version {}, connected {}; {query}; serial {}; {} PDUs, {} octets sent",
            r.peer,
            r.version.map_or_else(|| "-".into(), |v| v.to_string()),
            when(r.connected),
            r.serial.map_or_else(|| "-".into(), |v| v.to_string()),
            r.pdus_sent,
            r.octets_sent
        );
    }

    let c = &s.counters;
    let _ = writeln!(o, "\nsince start-up: {}", c.summary());
    let codes = |m: &std::collections::BTreeMap<u16, u64>| {
        m.iter()
            .map(|(code, n)| format!("{} x{n}", ErrorCode::describe(*code)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !c.error_reports_sent.is_empty() {
        let _ = writeln!(o, "error reports sent: {}", codes(&c.error_reports_sent));
    }
    if !c.error_reports_received.is_empty() {
        let _ = writeln!(
            o,
            "error reports received: {}",
            codes(&c.error_reports_received)
        );
    }
    for (name, map) in [("refused", &c.refused), ("closed", &c.closed)] {
        if !map.is_empty() {
            let list: Vec<String> = map.iter().map(|(k, n)| format!("{k} x{n}")).collect();
            let _ = writeln!(o, "sessions {name}: {}", list.join(", "));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use rovd::msg::SourceState;

    #[test]
    fn a_failing_source_that_still_has_data_is_shown_failing() {
        let mut s = Status {
            now: 1_700_000_100,
            ..Status::default()
        };
        s.sources.push(SourceState {
            name: "upstream".into(),
            kind: "rtr".into(),
            last_success: Some(1_700_000_000),
            last_error: Some("connection refused".into()),
            vrps: 10,
            ..SourceState::default()
        });
        let text = render(&s);
        assert!(
            text.contains("  upstream (rtr): failing\n"),
            "not failing in\n{text}"
        );
        assert!(
            text.contains("    last error: connection refused"),
            "{text}"
        );
    }
}
