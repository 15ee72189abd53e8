//! What the fetcher hands the validator, framed as [`Fetched`] messages:
//! an RTR upstream's whole table or its changes, an HTTP body in parts,
//! "still current", "failed". Items go in batches of about
//! [`msg::BATCH_BYTES`] with a count and a checksum at the end, as the
//! snapshot stream does, so that the validator takes nothing cut short.
//!
//! Runs in the fetcher (unprivileged, sandboxed). Writes block until the
//! validator takes them: a validator busy with a large table holds the
//! fetcher back rather than letting it buffer without bound.

use privsep::FrameError;

use crate::config::Upstream;
use crate::msg::{self, Fetched, StreamChecksum};
use crate::payload::{Delta, Payload, Snapshot};

/// Octets of a body per `Body` frame.
const BODY_PART: usize = 256 * 1024;

/// The fetcher's end of the channel to the validator.
pub(super) struct Sink {
    channel: privsep::Channel,
    frame: Vec<u8>,
}

impl Sink {
    /// Send on `channel`.
    pub(super) fn new(channel: privsep::Channel) -> Sink {
        Sink {
            channel,
            frame: Vec::new(),
        }
    }

    /// The channel, for the event loop to read what the validator asks.
    pub(super) fn channel(&mut self) -> &mut privsep::Channel {
        &mut self.channel
    }

    fn send(&mut self, m: &Fetched) -> Result<&[u8], FrameError> {
        self.frame.clear();
        privsep::frame::encode(m, false, msg::MAX_BODY, &mut self.frame)?;
        self.channel.send_encoded(&self.frame)?;
        Ok(self
            .frame
            .get(privsep::frame::HEADER_LEN..)
            .unwrap_or_default())
    }

    /// Send `items` in batches; their count and checksum are added to
    /// `tally`.
    fn items(
        &mut self,
        url: &Upstream,
        announce: bool,
        items: impl Iterator<Item = Payload>,
        tally: &mut (u64, StreamChecksum),
    ) -> Result<(), FrameError> {
        crate::stream::batches(items, |batch| {
            tally.0 += batch.len() as u64;
            let m = Fetched::Items {
                url: url.clone(),
                announce,
                items: batch,
            };
            let body = self.send(&m)?;
            tally.1.update(body);
            Ok(())
        })
    }

    /// An RTR upstream's whole table, good for `expire` seconds.
    pub(super) fn table(
        &mut self,
        url: &Upstream,
        table: &Snapshot,
        expire: u32,
    ) -> Result<(), FrameError> {
        let mut tally = (0, StreamChecksum::default());
        self.items(url, true, all(table), &mut tally)?;
        self.send(&Fetched::Synced {
            url: url.clone(),
            full: true,
            count: tally.0,
            checksum: tally.1.value(),
            expire,
        })?;
        Ok(())
    }

    /// An RTR upstream's changes; "current" if there are none.
    pub(super) fn delta(
        &mut self,
        url: &Upstream,
        delta: &Delta,
        expire: u32,
    ) -> Result<(), FrameError> {
        if delta.is_empty() {
            return self.current(url, Some(expire));
        }
        let mut tally = (0, StreamChecksum::default());
        self.items(url, false, all(&delta.withdraw), &mut tally)?;
        self.items(url, true, all(&delta.announce), &mut tally)?;
        self.send(&Fetched::Synced {
            url: url.clone(),
            full: false,
            count: tally.0,
            checksum: tally.1.value(),
            expire,
        })?;
        Ok(())
    }

    /// An HTTP body, whole.
    pub(super) fn body(
        &mut self,
        url: &Upstream,
        body: &[u8],
        last_modified: Option<u64>,
    ) -> Result<(), FrameError> {
        for part in body.chunks(BODY_PART) {
            self.send(&Fetched::Body {
                url: url.clone(),
                octets: part.to_vec(),
            })?;
        }
        self.send(&Fetched::Downloaded {
            url: url.clone(),
            length: body.len() as u64,
            last_modified,
        })?;
        Ok(())
    }

    /// The data held is still current.
    pub(super) fn current(
        &mut self,
        url: &Upstream,
        expire: Option<u32>,
    ) -> Result<(), FrameError> {
        self.send(&Fetched::Current {
            url: url.clone(),
            expire,
        })?;
        Ok(())
    }

    /// The upstream failed, for `reason`.
    pub(super) fn failed(&mut self, url: &Upstream, reason: String) -> Result<(), FrameError> {
        self.send(&Fetched::Failed {
            url: url.clone(),
            reason,
        })?;
        Ok(())
    }
}

//------------ Reported ------------------------------------------------------

/// The failure last reported to the validator for one upstream: a link
/// that fails the same way on every retry reports it once, and again only
/// when the reason changes or after a success.
#[derive(Debug, Default)]
pub(super) struct Reported(Option<String>);

impl Reported {
    /// Report that `url` failed for `why`, unless that was the last
    /// report: whether it was sent.
    pub(super) fn report(
        &mut self,
        sink: &mut Sink,
        url: &Upstream,
        why: &str,
    ) -> Result<bool, FrameError> {
        if self.0.as_deref() == Some(why) {
            return Ok(false);
        }
        sink.failed(url, why.to_string())?;
        self.0 = Some(why.to_string());
        Ok(true)
    }

    /// The upstream succeeded: its next failure is reported, whatever it
    /// is.
    pub(super) fn clear(&mut self) {
        self.0 = None;
    }
}

/// Every item of `s`, VRPs first.
fn all(s: &Snapshot) -> impl Iterator<Item = Payload> + '_ {
    s.vrps
        .iter()
        .copied()
        .map(Payload::Vrp)
        .chain(s.router_keys.iter().cloned().map(Payload::RouterKey))
        .chain(s.aspas.iter().cloned().map(Payload::Aspa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_reported_once_until_it_changes_or_the_upstream_succeeds() {
        let (ours, mut theirs) = privsep::Channel::pair(msg::MAX_BODY).unwrap();
        let mut sink = Sink::new(ours);
        let url = Upstream::parse("https://cache.example.net/rpki.json").unwrap();
        let mut reported = Reported::default();
        let mut report =
            |reported: &mut Reported, why: &str| reported.report(&mut sink, &url, why).unwrap();
        assert!(report(&mut reported, "connection refused"));
        assert!(!report(&mut reported, "connection refused"));
        assert!(report(&mut reported, "server answered 500"));
        assert!(!report(&mut reported, "server answered 500"));
        reported.clear();
        assert!(report(&mut reported, "server answered 500"));
        drop(sink);
        let mut sent = Vec::new();
        while let Some(frame) = theirs.recv().unwrap() {
            match frame.decode::<Fetched>(msg::MAX_BODY).unwrap() {
                Fetched::Failed { url: u, reason } => {
                    assert_eq!(u, url);
                    sent.push(reason);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            sent,
            [
                "connection refused",
                "server answered 500",
                "server answered 500"
            ]
        );
    }
}
