//! `/`: the status as a small HTML page — readiness, sources, the serial
//! history, the sessions — rendered on the server, with its style inline
//! and no script, font or image from anywhere: it works from a phone on a
//! management network as well as from a desk.
//!
//! Runs in the rtr worker (unprivileged, sandboxed), from a [`Status`].

use std::fmt::Write as _;

use super::status::{duration_text, time_text, Condition, Status};

/// Sessions listed at most; the rest are counted.
pub const MAX_SESSIONS: usize = 500;

/// `text` with the characters HTML gives a meaning escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:72em;padding:.5em 1em;color:#111}\
h1{font-size:1.4em;margin:.3em 0}h2{font-size:1.1em;margin:1.2em 0 .3em}\
.ok{color:#0a6b22}.bad{color:#b00020}.warn{color:#8a5a00}\
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #ddd;white-space:nowrap}\
td.n,th.n{text-align:right}small{color:#555}\
@media (prefers-color-scheme:dark){body{background:#111;color:#eee}th,td{border-color:#333}\
.ok{color:#5fd17a}.bad{color:#ff6b81}.warn{color:#f0b040}small{color:#aaa}}";

/// The page.
#[allow(clippy::too_many_lines)] // one section after the other
pub fn render(s: &Status) -> String {
    let mut h = String::new();
    let ago = |t: u64| format!("{} ago", duration_text(s.now.saturating_sub(t)));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>rovd</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = write!(h, "<h1>rovd {}</h1>\n<p>", escape(&s.version));
    if s.ready.ready {
        h.push_str("<strong class=\"ok\">Ready</strong>");
    } else {
        h.push_str("<strong class=\"bad\">Not ready</strong>: ");
        let reasons: Vec<String> = s.ready.reasons.iter().map(|r| escape(r)).collect();
        h.push_str(&reasons.join("; "));
    }
    let _ = write!(
        h,
        "<br>Up {} (since {}); ",
        duration_text(s.now.saturating_sub(s.started)),
        time_text(s.started)
    );
    match (s.serial, s.serials.first()) {
        (Some(serial), Some(last)) => {
            let _ = write!(h, "serial <strong>{serial}</strong>, {}", ago(last.time));
        }
        (Some(serial), None) => {
            let _ = write!(h, "serial <strong>{serial}</strong>");
        }
        _ => h.push_str("no data yet"),
    }
    let _ = writeln!(
        h,
        "<br><small>Session IDs: {}</small></p>",
        s.session_ids_text()
    );

    h.push_str(
        "<h2>Served</h2><div class=\"scroll\"><table><tr><th>RTR version</th>\
                <th class=\"n\">VRPs</th><th class=\"n\">Router keys</th>\
                <th class=\"n\">ASPAs</th></tr>\n",
    );
    for p in &s.payloads {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            p.version, p.vrps, p.router_keys, p.aspas
        );
    }
    h.push_str("</table></div>\n");

    h.push_str(
        "<h2>Sources</h2><div class=\"scroll\"><table><tr><th>Source</th><th>Kind</th>\
                <th>State</th><th>Age</th><th>Last success</th><th class=\"n\">VRPs</th>\
                <th class=\"n\">Keys</th><th class=\"n\">ASPAs</th><th>Problem</th></tr>\n",
    );
    for src in &s.sources {
        let condition = src.condition();
        let class = match condition {
            Condition::AllExpired | Condition::Stale { .. } => "bad",
            Condition::HeldBack | Condition::Failing | Condition::NoData => "warn",
            Condition::Ok => "ok",
        };
        let state = escape(&condition.label());
        let age = s.age(src).map_or_else(String::new, duration_text);
        let last = src.last_success.map_or_else(|| "never".into(), ago);
        let problem = src
            .held_back
            .as_deref()
            .or(src.last_error.as_deref())
            .map(escape)
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{state}</td><td>{age}</td>\
             <td>{last}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td>{problem}</td></tr>",
            escape(&src.name),
            escape(&src.kind),
            src.vrps,
            src.router_keys,
            src.aspas
        );
        for u in &src.upstreams {
            let (class, state) = if u.healthy {
                ("ok", "healthy")
            } else {
                ("warn", "not healthy")
            };
            let mark = if u.in_force { " (served)" } else { "" };
            let _ = writeln!(
                h,
                "<tr><td><small>&nbsp;&nbsp;{}{mark}</small></td><td></td>\
                 <td class=\"{class}\">{state}</td><td></td><td>{}</td><td></td><td></td><td></td>\
                 <td>{}</td></tr>",
                escape(&u.url),
                u.last_success.map_or_else(|| "never".into(), ago),
                u.last_error.as_deref().map(escape).unwrap_or_default()
            );
        }
    }
    h.push_str("</table></div>\n");

    h.push_str(
        "<h2>Serials</h2><div class=\"scroll\"><table><tr><th>Serial</th><th>When</th>\
                <th class=\"n\">Announced</th><th class=\"n\">Withdrawn</th></tr>\n",
    );
    for r in &s.serials {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{} ({})</td><td class=\"n\">+{}</td><td class=\"n\">-{}</td></tr>",
            r.serial,
            time_text(r.time),
            ago(r.time),
            r.announced,
            r.withdrawn
        );
    }
    h.push_str("</table></div>\n");

    let _ = writeln!(
        h,
        "<h2>Sessions ({})</h2><div class=\"scroll\"><table><tr><th>Router</th><th>Transport</th>\
         <th>Version</th><th>Connected</th><th>Last query</th><th class=\"n\">Serial</th>\
         <th class=\"n\">PDUs sent</th><th class=\"n\">Octets sent</th></tr>",
        s.sessions.len()
    );
    for r in s.sessions.iter().take(MAX_SESSIONS) {
        let transport = match &r.tls {
            Some(t) => format!("tls {}", escape(&t.protocol)),
            None => escape(&r.transport),
        };
        let query = match (r.last_query, &r.last_query_kind) {
            (Some(t), Some(k)) => format!("{} {}", escape(k), ago(t)),
            _ => "none".into(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{transport}</td><td>{}</td><td>{}</td><td>{query}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&r.peer),
            r.version.map_or_else(|| "-".into(), |v| v.to_string()),
            ago(r.connected),
            r.serial.map_or_else(|| "-".into(), |v| v.to_string()),
            r.pdus_sent,
            r.octets_sent
        );
    }
    h.push_str("</table></div>\n");
    if s.sessions.len() > MAX_SESSIONS {
        let _ = writeln!(
            h,
            "<p><small>{} more sessions: <code>rovctl status</code> lists them all.</small></p>",
            s.sessions.len() - MAX_SESSIONS
        );
    }
    let _ = write!(
        h,
        "<h2>Since start-up</h2><p>{}.</p>\n\
         <p><small>Also as <a href=\"/status\">JSON</a> and <a href=\"/metrics\">metrics</a>; \
         the data as <a href=\"/json\">JSON</a> and <a href=\"/csv\">CSV</a>.</small></p>\n\
         </body></html>\n",
        s.counters.summary()
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::SourceState;

    #[test]
    fn what_comes_from_outside_is_escaped() {
        let mut s = Status {
            version: "1.0".into(),
            ..Status::default()
        };
        s.sources.push(SourceState {
            name: "/srv/<script>alert(1)</script>.json".into(),
            last_error: Some("line 1: \"bad\" & worse".into()),
            ..SourceState::default()
        });
        let page = render(&s);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("&quot;bad&quot; &amp; worse"));
        assert!(page.contains("name=\"viewport\""));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
