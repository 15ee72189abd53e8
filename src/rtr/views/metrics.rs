//! `/metrics`: the status in the `OpenMetrics` text format that Prometheus
//! scrapes, written with the `prometheus-client` crate. Names and units
//! follow Prometheus' conventions (`_total` counters, `_seconds`,
//! `_bytes`, `_timestamp_seconds`); labels have few values each — RTR
//! version, transport, payload type, error code, cause, source, upstream —
//! and none names a router: per-router detail is the status's.
//!
//! Runs in the rtr worker (unprivileged, sandboxed): a registry is filled
//! from a [`Status`] on each scrape, encoded and dropped.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::status::Status;

/// Label sets: name and value pairs.
type Labels = Vec<(String, String)>;

/// One gauge family, filled with `(labels, value)`.
fn gauges<'a>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    values: impl IntoIterator<Item = (Vec<(&'a str, String)>, i64)>,
) {
    let family = Family::<Labels, Gauge>::default();
    for (labels, value) in values {
        let labels: Labels = labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        family.get_or_create(&labels).set(value);
    }
    match unit {
        Some(u) => registry.register_with_unit(name, help, u, family),
        None => registry.register(name, help, family),
    }
}

/// One counter family, filled with `(labels, value)`.
fn counters<'a>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    values: impl IntoIterator<Item = (Vec<(&'a str, String)>, u64)>,
) {
    let family = Family::<Labels, Counter>::default();
    for (labels, value) in values {
        let labels: Labels = labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        family.get_or_create(&labels).inc_by(value);
    }
    match unit {
        Some(u) => registry.register_with_unit(name, help, u, family),
        None => registry.register(name, help, family),
    }
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The exposition of `s`.
#[allow(clippy::too_many_lines)] // one metric family after the other
pub fn render(s: &Status) -> String {
    let mut r = Registry::with_prefix("rovd");
    r.register(
        "build",
        "rovd's version",
        Info::new(vec![("version".to_string(), s.version.clone())]),
    );
    let none = Vec::new;
    gauges(
        &mut r,
        "start_time",
        "When the rtr process started, Unix time",
        Some(Unit::Seconds),
        [(none(), int(s.started))],
    );
    gauges(
        &mut r,
        "ready",
        "1 when data is loaded, no source is stale or expired and the listeners are up",
        None,
        [(none(), i64::from(s.ready.ready))],
    );
    gauges(
        &mut r,
        "serving",
        "1 when data is served; 0 before the first data and while a stale source stops it",
        None,
        [(none(), i64::from(s.serial.is_some() && s.no_data.is_none()))],
    );
    if let Some(serial) = s.serial {
        gauges(
            &mut r,
            "serial",
            "The current serial number",
            None,
            [(none(), i64::from(serial))],
        );
    }
    if let Some(last) = s.serials.first() {
        gauges(
            &mut r,
            "last_update_timestamp",
            "When the current serial came, Unix time",
            Some(Unit::Seconds),
            [(none(), int(last.time))],
        );
    }
    gauges(
        &mut r,
        "payloads",
        "Payloads served, by RTR version and type",
        None,
        s.payloads.iter().flat_map(|p| {
            let v = p.version.to_string();
            [
                ("vrp", p.vrps),
                ("router_key", p.router_keys),
                ("aspa", p.aspas),
            ]
            .into_iter()
            .map(move |(t, n)| (vec![("rtr_version", v.clone()), ("type", t.into())], int(n)))
        }),
    );
    let mut sessions: std::collections::BTreeMap<(String, String), i64> =
        std::collections::BTreeMap::default();
    for v in ["0", "1", "2"] {
        for t in ["tcp", "tls"] {
            sessions.insert((v.into(), t.into()), 0);
        }
    }
    for session in &s.sessions {
        let v = session.version.map_or("none".into(), |v| v.to_string());
        *sessions.entry((v, session.transport.clone())).or_default() += 1;
    }
    gauges(
        &mut r,
        "sessions",
        "Router sessions open, by negotiated RTR version (none before the first query) and transport",
        None,
        sessions
            .into_iter()
            .map(|((v, t), n)| (vec![("rtr_version", v), ("transport", t)], n)),
    );
    let c = &s.counters;
    for (name, help, value) in [
        (
            "sessions_opened",
            "Router sessions opened",
            c.sessions_opened,
        ),
        ("reset_queries", "Reset Queries answered", c.reset_queries),
        (
            "serial_queries",
            "Serial Queries answered with a delta",
            c.serial_queries,
        ),
        (
            "cache_resets",
            "Serial Queries answered with Cache Reset",
            c.cache_resets,
        ),
        ("notifies", "Serial Notify PDUs sent", c.notifies),
        ("sent_pdus", "PDUs sent to routers", c.pdus_sent),
    ] {
        counters(&mut r, name, help, None, [(none(), value)]);
    }
    counters(
        &mut r,
        "sent",
        "Octets sent to routers",
        Some(Unit::Bytes),
        [(none(), c.octets_sent)],
    );
    counters(
        &mut r,
        "error_reports_sent",
        "Error Reports sent to routers, by error code",
        None,
        c.error_reports_sent
            .iter()
            .map(|(code, n)| (vec![("code", code.to_string())], *n)),
    );
    counters(
        &mut r,
        "error_reports_received",
        "Error Reports received from routers, by error code",
        None,
        c.error_reports_received
            .iter()
            .map(|(code, n)| (vec![("code", code.to_string())], *n)),
    );
    counters(
        &mut r,
        "connections_refused",
        "Connections turned away, by cause",
        None,
        c.refused
            .iter()
            .map(|(cause, n)| (vec![("cause", cause.clone())], *n)),
    );
    counters(
        &mut r,
        "sessions_closed",
        "Router sessions closed, by cause",
        None,
        c.closed
            .iter()
            .map(|(cause, n)| (vec![("cause", cause.clone())], *n)),
    );
    sources(&mut r, s);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

/// The per-source families.
#[allow(clippy::too_many_lines)] // one metric family after the other
fn sources(r: &mut Registry, s: &Status) {
    let by_source = |f: &dyn Fn(&crate::msg::SourceState) -> Option<i64>| {
        s.sources
            .iter()
            .filter_map(|src| Some((vec![("source", src.name.clone())], f(src)?)))
            .collect::<Vec<_>>()
    };
    gauges(
        r,
        "source_age",
        "Age of a source's data: since its producer made it, or its last sync",
        Some(Unit::Seconds),
        by_source(&|src| s.age(src).map(int)),
    );
    gauges(
        r,
        "source_last_success_timestamp",
        "When a source's data was last taken in, Unix time",
        Some(Unit::Seconds),
        by_source(&|src| src.last_success.map(int)),
    );
    gauges(
        r,
        "source_last_failure_timestamp",
        "When a source last failed to read, parse or fetch, Unix time",
        Some(Unit::Seconds),
        by_source(&|src| src.last_failure.map(int)),
    );
    gauges(
        r,
        "source_stale",
        "1 when a source's data is older than it may be",
        None,
        by_source(&|src| Some(i64::from(src.stale))),
    );
    gauges(
        r,
        "source_held_back",
        "1 when an update of a source is held back by max-drop until SIGHUP",
        None,
        by_source(&|src| Some(i64::from(src.held_back.is_some()))),
    );
    gauges(
        r,
        "source_all_expired",
        "1 when every payload of a source has expired",
        None,
        by_source(&|src| Some(i64::from(src.all_expired))),
    );
    let typed = |f: &dyn Fn(&crate::msg::SourceState) -> [u64; 3]| {
        s.sources
            .iter()
            .flat_map(|src| {
                let n = f(src);
                ["vrp", "router_key", "aspa"]
                    .into_iter()
                    .zip(n)
                    .map(|(t, n)| {
                        (
                            vec![("source", src.name.clone()), ("type", t.to_string())],
                            int(n),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    gauges(
        r,
        "source_payloads",
        "Payloads of a source's data, by type",
        None,
        typed(&|src| [src.vrps, src.router_keys, src.aspas]),
    );
    gauges(
        r,
        "source_expired_payloads",
        "Payloads of a source's data that have expired and are not served, by type",
        None,
        typed(&|src| [src.expired_vrps, src.expired_router_keys, src.expired_aspas]),
    );
    let upstreams = |f: &dyn Fn(&crate::msg::UpstreamState) -> bool| {
        s.sources
            .iter()
            .flat_map(|src| {
                src.upstreams.iter().map(|u| {
                    (
                        vec![("source", src.name.clone()), ("upstream", u.url.clone())],
                        i64::from(f(u)),
                    )
                })
            })
            .collect::<Vec<_>>()
    };
    gauges(
        r,
        "upstream_healthy",
        "1 when an upstream is healthy: in sync and not stale",
        None,
        upstreams(&|u| u.healthy),
    );
    gauges(
        r,
        "upstream_in_force",
        "1 for the upstream of a source whose data is served",
        None,
        upstreams(&|u| u.in_force),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::SourceState;

    #[test]
    fn the_exposition_names_what_it_counts() {
        let mut s = Status {
            version: "1.2.3".into(),
            serial: Some(7),
            ..Status::default()
        };
        s.sources.push(SourceState {
            name: "/var/db/rpki-client/json \"x\"".into(),
            made: Some(100),
            vrps: 5,
            ..SourceState::default()
        });
        s.now = 160;
        s.counters.error_reports_sent.insert(2, 3);
        s.counters.refused.insert("max-sessions".into(), 1);
        let text = render(&s);
        for line in [
            "rovd_build_info{version=\"1.2.3\"} 1",
            "rovd_serial 7",
            "rovd_serving 1",
            "rovd_source_age_seconds{source=\"/var/db/rpki-client/json \\\"x\\\"\"} 60",
            "rovd_error_reports_sent_total{code=\"2\"} 3",
            "rovd_connections_refused_total{cause=\"max-sessions\"} 1",
            "rovd_sessions{rtr_version=\"2\",transport=\"tls\"} 0",
            "# TYPE rovd_sent_bytes counter",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
