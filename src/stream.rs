//! The snapshot stream from the validator to the rtr worker, both ends side
//! by side and sans I/O: [`write`] turns a snapshot into frames for the
//! validator to send, [`Reader`] turns received frames back into a
//! snapshot for the rtr worker to install.
//!
//! The writer runs in the validator, the reader in the rtr worker; both
//! unprivileged and sandboxed. On the wire: `Begin`, any number of bounded
//! `Batch`es, `End` with the item count and a checksum over the batches'
//! bodies ([`msg::Snapshot`]). The reader builds the new snapshot aside
//! and hands it over only after an `End` whose count and checksum match
//! and whose items are sorted and unique: a truncated or reordered stream
//! is an error, never a smaller table. `NoData` stands alone.

use std::fmt;

use privsep::{Frame, FrameError};

use crate::msg::{self, Snapshot as Message, StreamChecksum};
use crate::payload::{Payload, Snapshot};

//------------ Writer --------------------------------------------------------

/// How many items of each type a snapshot holds, for `Begin`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// VRPs.
    pub vrps: u64,
    /// Router keys.
    pub router_keys: u64,
    /// ASPA records.
    pub aspas: u64,
}

/// Write the stream of a snapshot: `Begin` with `counts`, the `items` in
/// batches of about [`msg::BATCH_BYTES`], `End`. Each complete frame is
/// handed to `send`, in order.
pub fn write(
    counts: Counts,
    items: impl Iterator<Item = Payload>,
    mut send: impl FnMut(&[u8]) -> Result<(), FrameError>,
) -> Result<(), FrameError> {
    let mut frame = Vec::new();
    let mut put = |m: &Message, frame: &mut Vec<u8>| {
        frame.clear();
        privsep::frame::encode(m, false, msg::MAX_BODY, frame)?;
        send(frame)
    };
    put(
        &Message::Begin {
            vrps: counts.vrps,
            router_keys: counts.router_keys,
            aspas: counts.aspas,
        },
        &mut frame,
    )?;
    let mut checksum = StreamChecksum::default();
    let mut count = 0u64;
    batches(items, |batch| {
        count += batch.len() as u64;
        frame.clear();
        privsep::frame::encode(&Message::Batch(batch), false, msg::MAX_BODY, &mut frame)?;
        checksum.update(frame.get(privsep::frame::HEADER_LEN..).unwrap_or_default());
        send(&frame)
    })?;
    let end = Message::End {
        count,
        checksum: checksum.value(),
    };
    frame.clear();
    privsep::frame::encode(&end, false, msg::MAX_BODY, &mut frame)?;
    send(&frame)
}

/// Cut `items` into batches of about [`msg::BATCH_BYTES`] of bincode each,
/// in order, and hand each to `flush`: the unit of every payload stream.
pub fn batches<E>(
    items: impl Iterator<Item = Payload>,
    mut flush: impl FnMut(Vec<Payload>) -> Result<(), E>,
) -> Result<(), E> {
    let mut batch = Vec::new();
    let mut size = 0;
    for item in items {
        // An upper bound of the item's bincode size.
        size += match &item {
            Payload::Vrp(_) => 32,
            Payload::RouterKey(k) => 48 + k.spki.len(),
            Payload::Aspa(a) => 16 + 5 * a.providers.len(),
        };
        batch.push(item);
        if size >= msg::BATCH_BYTES {
            flush(std::mem::take(&mut batch))?;
            size = 0;
        }
    }
    if !batch.is_empty() {
        flush(batch)?;
    }
    Ok(())
}

/// Write the stream's other word: serve nothing, because of `reason`.
pub fn write_no_data(
    reason: String,
    send: impl FnOnce(&[u8]) -> Result<(), FrameError>,
) -> Result<(), FrameError> {
    let mut frame = Vec::new();
    privsep::frame::encode(
        &Message::NoData { reason },
        false,
        msg::MAX_BODY,
        &mut frame,
    )?;
    send(&frame)
}

//------------ Reader --------------------------------------------------------

/// What a stream said, once it said something complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Word {
    /// A complete, verified snapshot.
    Snapshot(Snapshot),
    /// Serve nothing, for this reason.
    NoData(String),
}

/// Why a stream cannot be read: fatal for the rtr worker, whose channel
/// to the validator is then out of step.
#[derive(Debug)]
pub enum StreamError {
    /// A frame did not decode.
    Frame(FrameError),
    /// A message that has no place where it came.
    OutOfPlace(&'static str),
    /// `End` does not match what came before it.
    Mismatch {
        /// Items received.
        count: u64,
        /// Checksum of what was received.
        checksum: u64,
        /// What `End` announced.
        announced: (u64, u64),
    },
    /// The items are not sorted and unique.
    NotCanonical,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Frame(e) => e.fmt(f),
            StreamError::OutOfPlace(what) => write!(f, "{what} outside a snapshot"),
            StreamError::Mismatch {
                count,
                checksum,
                announced: (n, c),
            } => write!(
                f,
                "snapshot of {count} items (checksum {checksum:016x}) announced as {n} ({c:016x})"
            ),
            StreamError::NotCanonical => f.write_str("snapshot not sorted and unique"),
        }
    }
}

impl From<FrameError> for StreamError {
    fn from(e: FrameError) -> StreamError {
        StreamError::Frame(e)
    }
}

/// The receiving end: frames in, [`Word`]s out; the sources' state on
/// the side.
#[derive(Debug, Default)]
pub struct Reader {
    incoming: Option<Incoming>,
    sources: Option<Vec<msg::SourceState>>,
}

/// A snapshot being received, built aside.
#[derive(Debug, Default)]
struct Incoming {
    snapshot: Snapshot,
    count: u64,
    checksum: StreamChecksum,
}

impl Reader {
    /// A reader between snapshots.
    pub fn new() -> Reader {
        Reader::default()
    }

    /// Take one frame; a [`Word`] when it completes one.
    pub fn take(&mut self, frame: &Frame) -> Result<Option<Word>, StreamError> {
        match (
            frame.decode::<Message>(msg::MAX_BODY)?,
            self.incoming.as_mut(),
        ) {
            (Message::Begin { .. }, _) => {
                // The counts are the sender's word only: the vectors grow
                // with what arrives.
                self.incoming = Some(Incoming::default());
                Ok(None)
            }
            (Message::Batch(items), Some(inc)) => {
                inc.checksum.update(&frame.body);
                inc.count += items.len() as u64;
                for item in items {
                    match item {
                        Payload::Vrp(v) => inc.snapshot.vrps.push(v),
                        Payload::RouterKey(k) => inc.snapshot.router_keys.push(k),
                        Payload::Aspa(a) => inc.snapshot.aspas.push(a),
                    }
                }
                Ok(None)
            }
            (Message::End { count, checksum }, Some(_)) => {
                let Some(inc) = self.incoming.take() else {
                    return Err(StreamError::OutOfPlace("End"));
                };
                if inc.count != count || inc.checksum.value() != checksum {
                    return Err(StreamError::Mismatch {
                        count: inc.count,
                        checksum: inc.checksum.value(),
                        announced: (count, checksum),
                    });
                }
                if !is_canonical(&inc.snapshot) {
                    return Err(StreamError::NotCanonical);
                }
                Ok(Some(Word::Snapshot(inc.snapshot)))
            }
            (Message::NoData { reason }, _) => {
                self.incoming = None;
                Ok(Some(Word::NoData(reason)))
            }
            (Message::Sources(states), _) => {
                // Between two frames of a snapshot or not: it is no part
                // of one.
                self.sources = Some(states);
                Ok(None)
            }
            (Message::Batch(_), None) => Err(StreamError::OutOfPlace("Batch")),
            (Message::End { .. }, None) => Err(StreamError::OutOfPlace("End")),
        }
    }

    /// The sources' state that came since the last call, if any did.
    pub fn take_sources(&mut self) -> Option<Vec<msg::SourceState>> {
        self.sources.take()
    }

    /// Take up to `budget` frames from `next` (frames already received,
    /// `None` when there are no more) and return the newest word among
    /// them — a later complete snapshot or `NoData` replaces an earlier
    /// one — and whether `next` may hold more.
    pub fn take_some(
        &mut self,
        budget: usize,
        mut next: impl FnMut() -> Result<Option<Frame>, FrameError>,
    ) -> Result<(Option<Word>, bool), StreamError> {
        let mut newest = None;
        for _ in 0..budget {
            let Some(frame) = next()? else {
                return Ok((newest, false));
            };
            if let Some(word) = self.take(&frame)? {
                newest = Some(word);
            }
        }
        Ok((newest, true))
    }
}

/// Whether every vector is strictly increasing (sorted, no duplicates) and
/// ASPA customers are unique with providers.
fn is_canonical(s: &Snapshot) -> bool {
    s.vrps.windows(2).all(|w| w[0] < w[1])
        && s.router_keys.windows(2).all(|w| w[0] < w[1])
        && s.aspas.windows(2).all(|w| w[0].customer < w[1].customer)
        && s.aspas.iter().all(|a| !a.providers.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{self, Spec};

    /// The frames of `snapshot`'s stream.
    fn frames_of(snapshot: &Snapshot) -> Vec<Vec<u8>> {
        let counts = Counts {
            vrps: snapshot.vrps.len() as u64,
            router_keys: snapshot.router_keys.len() as u64,
            aspas: snapshot.aspas.len() as u64,
        };
        let items = snapshot
            .vrps
            .iter()
            .map(|v| Payload::Vrp(*v))
            .chain(snapshot.router_keys.iter().cloned().map(Payload::RouterKey))
            .chain(snapshot.aspas.iter().cloned().map(Payload::Aspa));
        let mut frames = Vec::new();
        write(counts, items, |f| {
            frames.push(f.to_vec());
            Ok(())
        })
        .unwrap();
        frames
    }

    fn frame(bytes: &[u8]) -> Frame {
        let header: &[u8; privsep::frame::HEADER_LEN] = bytes[..12].try_into().unwrap();
        let h = privsep::frame::Header::parse(header, msg::MAX_BODY).unwrap();
        Frame {
            kind: h.kind,
            body: bytes[12..].to_vec(),
            fd: None,
        }
    }

    fn sample() -> Snapshot {
        testdata::generate(&Spec {
            vrps: 5_000,
            ..Spec::small()
        })
    }

    #[test]
    fn a_stream_reads_back_as_the_snapshot_it_was_written_from() {
        let s = sample();
        let frames = frames_of(&s);
        assert!(frames.len() > 3, "batches are bounded");
        assert!(frames
            .iter()
            .all(|f| f.len() <= msg::BATCH_BYTES + 4096 + privsep::frame::HEADER_LEN));
        let mut reader = Reader::new();
        let mut words = Vec::new();
        for f in &frames {
            words.extend(reader.take(&frame(f)).unwrap());
        }
        assert_eq!(words, [Word::Snapshot(s)]);
    }

    #[test]
    fn take_some_stops_at_its_budget_and_keeps_only_the_newest_word() {
        let (a, b) = (sample(), Snapshot::default());
        let mut all: Vec<Frame> = frames_of(&a).iter().map(|f| frame(f)).collect();
        all.extend(frames_of(&b).iter().map(|f| frame(f)));
        let total = all.len();
        let mut queue = all.into_iter();
        let mut reader = Reader::new();
        let (word, more) = reader.take_some(2, || Ok(queue.next())).unwrap();
        assert_eq!((word, more), (None, true));
        let (word, more) = reader.take_some(total, || Ok(queue.next())).unwrap();
        assert_eq!(word, Some(Word::Snapshot(b)), "the later snapshot wins");
        assert!(!more);
    }

    #[test]
    fn a_truncated_or_altered_stream_is_an_error_not_a_smaller_table() {
        let frames = frames_of(&sample());
        // A batch lost: the count and the checksum no longer match.
        let mut reader = Reader::new();
        let mut result = Ok(None);
        for (i, f) in frames.iter().enumerate() {
            if i != 1 {
                result = reader.take(&frame(f));
            }
        }
        assert!(
            matches!(result, Err(StreamError::Mismatch { .. })),
            "{result:?}"
        );
        // A batch without Begin, and End without Begin.
        let mut reader = Reader::new();
        assert!(matches!(
            reader.take(&frame(&frames[1])),
            Err(StreamError::OutOfPlace("Batch"))
        ));
        assert!(matches!(
            reader.take(&frame(frames.last().unwrap())),
            Err(StreamError::OutOfPlace("End"))
        ));
        // A stream cut short leaves nothing to install.
        let mut reader = Reader::new();
        for f in &frames[..frames.len() - 1] {
            assert_eq!(reader.take(&frame(f)).unwrap(), None);
        }
    }

    #[test]
    fn an_unsorted_snapshot_is_refused() {
        let mut s = sample();
        s.vrps.swap(0, 1);
        let mut reader = Reader::new();
        let mut last = Ok(None);
        for f in frames_of(&s) {
            last = reader.take(&frame(&f));
        }
        assert!(matches!(last, Err(StreamError::NotCanonical)), "{last:?}");
    }

    #[test]
    fn no_data_stands_alone_and_drops_a_partial_snapshot() {
        let frames = frames_of(&sample());
        let mut reader = Reader::new();
        reader.take(&frame(&frames[0])).unwrap();
        let mut nd = Vec::new();
        write_no_data("stale".into(), |f| {
            nd = f.to_vec();
            Ok(())
        })
        .unwrap();
        assert_eq!(
            reader.take(&frame(&nd)).unwrap(),
            Some(Word::NoData("stale".into()))
        );
        assert!(matches!(
            reader.take(&frame(&frames[1])),
            Err(StreamError::OutOfPlace("Batch"))
        ));
    }
}
