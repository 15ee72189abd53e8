//! The answer to a Reset Query, collected into a table: Cache Response,
//! announcements only, each once, End of Data (8210bis-27 §8.1).
//!
//! Part of `rovctl`, run by the operator with that user's privileges; the
//! daemon never runs it. Sans I/O: decoded PDUs go in, a [`Table`] comes
//! out. Section numbers are 8210bis-27 unless marked otherwise.

use std::fmt;

use rovd::payload::{Aspa, RouterKey, Snapshot, Vrp};
use rovd::pdu::{ErrorCode, Pdu, Serial, SessionId, Version};

//------------ ResetAnswer ---------------------------------------------------

/// The answer to a Reset Query, being collected: Cache Response, then
/// announcements only, each once, then End of Data (§8.1).
#[derive(Debug)]
pub(crate) struct ResetAnswer {
    version: Version,
    session: Option<SessionId>,
    vrps: Vec<Vrp>,
    router_keys: Vec<RouterKey>,
    aspas: Vec<Aspa>,
}

/// A complete answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Table {
    /// The version the cache answered at.
    pub version: Version,
    /// The session of the data.
    pub session: SessionId,
    /// The serial of the data.
    pub serial: Serial,
    /// The data.
    pub snapshot: Snapshot,
}

/// Why an answer ended without a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AnswerError {
    /// The cache sent an Error Report at `version`.
    Refused {
        version: Version,
        code: u16,
        text: String,
    },
    /// A PDU that has no place in a Reset Query's answer.
    Unexpected(String),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Refused {
                version,
                code,
                text,
            } => {
                let name =
                    ErrorCode::for_version(*code, *version).map_or("unknown code", |c| c.name());
                write!(
                    f,
                    "cache sent Error Report {code} ({name}) at version {version}"
                )?;
                if !text.is_empty() {
                    write!(f, ": {text}")?;
                }
                Ok(())
            }
            AnswerError::Unexpected(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for AnswerError {}

impl ResetAnswer {
    /// Wait for the answer to a Reset Query sent at `version`; the table
    /// says at which version it came.
    pub(crate) fn new(version: Version) -> ResetAnswer {
        ResetAnswer {
            version,
            session: None,
            vrps: Vec::new(),
            router_keys: Vec::new(),
            aspas: Vec::new(),
        }
    }

    /// Take the next PDU, decoded at `version`: `Ok(Some(_))` at End of
    /// Data.
    pub(crate) fn push(
        &mut self,
        version: Version,
        pdu: Pdu<'_>,
    ) -> Result<Option<Table>, AnswerError> {
        let unexpected = |what: String| Err(AnswerError::Unexpected(what));
        if let Pdu::ErrorReport(report) = pdu {
            return Err(AnswerError::Refused {
                version,
                code: report.code,
                text: report.text.to_string(),
            });
        }
        // A cache of a lower version may answer in it instead of with
        // Unsupported Protocol Version (StayRTR does); the answer is then
        // of that version throughout.
        if self.session.is_none()
            && version < self.version
            && matches!(pdu, Pdu::CacheResponse { .. })
        {
            self.version = version;
        }
        if version != self.version {
            return unexpected(format!(
                "cache answered a version {} query at version {version}",
                self.version
            ));
        }
        match (self.session, pdu) {
            // §8.2: a notify may arrive at any time; it changes nothing.
            (_, Pdu::SerialNotify { .. }) => Ok(None),
            (None, Pdu::CacheResponse { session }) => {
                self.session = Some(session);
                Ok(None)
            }
            (None, Pdu::CacheReset) => {
                unexpected("cache answered a Reset Query with Cache Reset".into())
            }
            (None, pdu) => unexpected(format!("{pdu:?} before Cache Response")),
            (
                Some(_),
                Pdu::Prefix {
                    announce: true,
                    vrp,
                },
            ) => {
                self.vrps.push(vrp);
                Ok(None)
            }
            (
                Some(_),
                Pdu::RouterKey {
                    announce: true,
                    key,
                },
            ) => {
                self.router_keys.push(key);
                Ok(None)
            }
            (
                Some(_),
                Pdu::Aspa {
                    announce: true,
                    aspa,
                },
            ) => {
                self.aspas.push(aspa);
                Ok(None)
            }
            (
                Some(ours),
                Pdu::EndOfData {
                    session, serial, ..
                },
            ) => {
                if session != ours {
                    return unexpected(format!(
                        "End of Data for session {session}, Cache Response was for {ours}"
                    ));
                }
                self.finish(session, serial).map(Some)
            }
            (Some(_), pdu) => unexpected(format!("{pdu:?} in a Reset Query's answer")),
        }
    }

    fn finish(&mut self, session: SessionId, serial: Serial) -> Result<Table, AnswerError> {
        let (vrps, keys, aspas) = (
            std::mem::take(&mut self.vrps),
            std::mem::take(&mut self.router_keys),
            std::mem::take(&mut self.aspas),
        );
        let sent = (vrps.len(), keys.len());
        let customers = {
            let mut c: Vec<u32> = aspas.iter().map(|a| a.customer).collect();
            c.sort_unstable();
            c.dedup();
            c.len()
        };
        let aspas_sent = aspas.len();
        // §5.12: one record per customer, providers sorted and unique.
        if let Some(a) = aspas.iter().find(|a| {
            a.providers.windows(2).any(|w| w[0] >= w[1])
                || (a.providers.len() > 1 && a.providers[0] == 0)
        }) {
            return Err(AnswerError::Unexpected(format!(
                "ASPA for AS{} with providers not sorted, unique, or AS0 among others",
                a.customer
            )));
        }
        let (snapshot, _) = Snapshot::build(vrps, keys, aspas);
        // The answer is a set: a record sent twice is a protocol error
        // (§11.2, Duplicate Announcement Received).
        if snapshot.vrps.len() != sent.0
            || snapshot.router_keys.len() != sent.1
            || customers != aspas_sent
        {
            return Err(AnswerError::Unexpected(
                "cache announced a record twice in one answer".into(),
            ));
        }
        Ok(Table {
            version: self.version,
            session,
            serial,
            snapshot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rovd::payload::Prefix;
    use rovd::pdu::{self, Timers};
    use std::net::Ipv4Addr;

    /// Decode one PDU a cache sent: its version, the PDU, its length.
    fn decode(bytes: &[u8]) -> Option<(Version, Pdu<'_>, usize)> {
        Pdu::decode_from_cache(bytes).unwrap()
    }

    #[test]
    fn answer_collects_and_rejects() {
        let timers = Timers {
            refresh: 3600,
            retry: 600,
            expire: 7200,
        };
        let (v1, v2) = (Version::V1, Version::V2);
        let vrp = Vrp::new(Prefix::v4(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap(), 8, 1).unwrap();
        let mut out = Vec::new();
        pdu::cache_response(&mut out, v2, SessionId(9));
        pdu::vrp(&mut out, v2, true, &vrp);
        pdu::aspa_announce(
            &mut out,
            v2,
            &Aspa {
                customer: 5,
                providers: vec![6, 7],
            },
        );
        pdu::end_of_data(&mut out, v2, SessionId(9), Serial(42), &timers);
        let mut answer = ResetAnswer::new(v2);
        let mut at = 0;
        let mut table = None;
        while let Some((v, pdu, n)) = decode(&out[at..]) {
            at += n;
            table = answer.push(v, pdu).unwrap();
        }
        let table = table.unwrap();
        assert_eq!((table.session, table.serial), (SessionId(9), Serial(42)));
        assert_eq!(table.snapshot.vrps, vec![vrp]);
        assert_eq!(table.snapshot.aspas.len(), 1);

        // A withdrawal, and an answer at another version.
        let mut answer = ResetAnswer::new(v1);
        let mut out = Vec::new();
        pdu::cache_response(&mut out, v1, SessionId(9));
        pdu::vrp(&mut out, v1, false, &vrp);
        let (v, r, n) = decode(&out).unwrap();
        assert_eq!(answer.push(v, r), Ok(None));
        let (v, r, _) = decode(&out[n..]).unwrap();
        assert!(matches!(answer.push(v, r), Err(AnswerError::Unexpected(_))));
        // A lower version from the start is the cache's; a change midway
        // is an error.
        let mut answer = ResetAnswer::new(v2);
        let mut out = Vec::new();
        pdu::cache_response(&mut out, v1, SessionId(9));
        pdu::vrp(&mut out, v2, true, &vrp);
        let (v, r, n) = decode(&out).unwrap();
        assert_eq!(answer.push(v, r), Ok(None));
        assert_eq!(answer.version, v1);
        let (v, r, _) = decode(&out[n..]).unwrap();
        assert!(matches!(answer.push(v, r), Err(AnswerError::Unexpected(_))));
    }

    #[test]
    fn error_report_names_the_version() {
        let mut query = Vec::new();
        pdu::reset_query(&mut query, Version::V2);
        let mut out = Vec::new();
        pdu::error_report(
            &mut out,
            Version::V1,
            ErrorCode::UnsupportedVersion,
            &query,
            "v1 only",
        );
        let (v, r, _) = decode(&out).unwrap();
        let err = ResetAnswer::new(Version::V2).push(v, r).unwrap_err();
        assert_eq!(
            err,
            AnswerError::Refused {
                version: Version::V1,
                code: 4,
                text: "v1 only".into()
            }
        );
        assert!(err.to_string().contains("Unsupported Protocol Version"));
    }
}
