//! A bounds-checked reader over received octets: every field of a PDU is
//! taken through it, so no decoder ever indexes a buffer a peer filled.
//!
//! Shared by every side of the protocol; no I/O, no privileges. Each
//! method either returns the whole field or nothing and leaves the reader
//! where it was, so a short PDU can never be half-read.

/// A cursor over a slice of received octets.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, at: 0 }
    }

    /// The next `n` octets, if there are that many.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let field = self.buf.get(self.at..end)?;
        self.at = end;
        Some(field)
    }

    /// The next `N` octets as an array.
    pub fn array<const N: usize>(&mut self) -> Option<&'a [u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// One octet.
    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|a| a[0])
    }

    /// A big-endian 16-bit field.
    pub fn u16(&mut self) -> Option<u16> {
        self.array().map(|a| u16::from_be_bytes(*a))
    }

    /// A big-endian 32-bit field.
    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(|a| u32::from_be_bytes(*a))
    }

    /// A reader over the next `n` octets, which this one skips.
    pub fn sub(&mut self, n: usize) -> Option<Reader<'a>> {
        self.take(n).map(Reader::new)
    }

    /// Everything not read yet, which this reader then skips.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.at..).unwrap_or_default();
        self.at = self.buf.len();
        rest
    }

    /// How many octets are left.
    pub fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.at)
    }

    /// How many octets were read.
    pub fn used(&self) -> usize {
        self.at
    }

    /// `Some(())` if everything was read: a field must not leave octets
    /// behind it.
    pub fn expect_empty(&self) -> Option<()> {
        (self.left() == 0).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_big_endian_and_all_or_nothing() {
        let buf = [1, 2, 3, 4, 5, 6, 7];
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.u16(), Some(0x0203));
        assert_eq!(r.u32(), Some(0x0405_0607));
        assert_eq!(r.used(), 7);
        assert!(r.expect_empty().is_some());
        assert_eq!(r.u8(), None);

        let mut r = Reader::new(&buf[..3]);
        assert_eq!(r.u32(), None, "three octets are no u32");
        assert_eq!(r.used(), 0, "a failed read takes nothing");
        assert_eq!(r.u16(), Some(0x0102));
        assert_eq!(r.left(), 1);
        assert!(r.expect_empty().is_none());
    }

    #[test]
    fn sub_readers_are_bounded_and_skip_their_octets() {
        let buf = [0, 0, 0, 2, 0xaa, 0xbb, 0xcc];
        let mut r = Reader::new(&buf);
        let n = r.u32().unwrap() as usize;
        let mut inner = r.sub(n).unwrap();
        assert_eq!(inner.take(3), None);
        assert_eq!(inner.rest(), [0xaa, 0xbb]);
        assert_eq!(r.rest(), [0xcc]);
        assert_eq!(r.take(usize::MAX), None, "no overflow");
        assert_eq!(Reader::new(&buf).sub(8).map(|s| s.left()), None);
    }
}
