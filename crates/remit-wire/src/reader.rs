//! A bounded reader for the fixed byte layouts of spec/ (session records, signed statements).
//!
//! Every read is checked: running past the end is [`DecodeError::Truncated`], bytes left after
//! the last field are [`DecodeError::TrailingData`]. No slice is ever indexed directly.

use crate::DecodeError;

/// Reads a fixed layout front to back. `what` names the object in every error.
#[derive(Debug)]
pub struct Reader<'a> {
    what: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes` as the object `what`.
    #[must_use]
    pub fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Self { what, rest: bytes }
    }

    /// Takes the next `n` bytes.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than `n` bytes are left.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(DecodeError::Truncated {
                what: self.what,
                needed: n.saturating_sub(self.rest.len()),
            }),
        }
    }

    /// Takes the next `N` bytes as an array.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than `N` bytes are left.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] at the end of the input.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u16`.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than 2 bytes are left.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than 4 bytes are left.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u64`.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than 8 bytes are left.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a flag byte that must be 0 or 1.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] at the end, [`DecodeError::OutOfRange`] for any other value.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::OutOfRange {
                what: self.what,
                field,
                got: u64::from(other),
                min: 0,
                max: 1,
            }),
        }
    }

    /// Reads a big-endian `u16` count and checks it against `max` before anything is allocated
    /// for the items it announces.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`], or [`DecodeError::OutOfRange`] if the count exceeds `max`.
    pub fn count(&mut self, field: &'static str, max: usize) -> Result<usize, DecodeError> {
        let n = usize::from(self.u16()?);
        if n > max {
            return Err(DecodeError::OutOfRange {
                what: self.what,
                field,
                got: n as u64,
                min: 0,
                max: max as u64,
            });
        }
        Ok(n)
    }

    /// Reads a `u32` length prefix (checked against `max`) and that many bytes.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`], or [`DecodeError::TooLarge`] if the length exceeds `max`.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        if len > max {
            return Err(DecodeError::TooLarge {
                what: self.what,
                len,
                max,
            });
        }
        self.take(len)
    }

    /// How many bytes are left.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Ends the read: the layout must have consumed every byte.
    ///
    /// # Errors
    /// [`DecodeError::TrailingData`] if bytes are left.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingData {
                what: self.what,
                extra: self.rest.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_in_order_and_finishes() {
        let bytes = [1, 0, 2, 0, 0, 0, 3, 9, 9, 0, 0, 0, 2, 7, 7];
        let mut r = Reader::new("t", &bytes);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 2);
        assert_eq!(r.u32().unwrap(), 3);
        assert_eq!(r.array::<2>().unwrap(), [9, 9]);
        assert_eq!(r.bytes(2).unwrap(), &[7, 7]);
        r.finish().unwrap();
    }

    #[test]
    fn truncated_read_says_how_much_is_missing() {
        let mut r = Reader::new("t", &[1, 2]);
        assert_eq!(
            r.u32(),
            Err(DecodeError::Truncated {
                what: "t",
                needed: 2
            })
        );
    }

    #[test]
    fn trailing_data_is_rejected() {
        let mut r = Reader::new("t", &[1, 2, 3]);
        r.u8().unwrap();
        assert_eq!(
            r.finish(),
            Err(DecodeError::TrailingData {
                what: "t",
                extra: 2
            })
        );
    }

    #[test]
    fn length_prefix_is_checked_before_reading() {
        let mut r = Reader::new("t", &[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(r.bytes(10), Err(DecodeError::TooLarge { len, max: 10, .. }) if len > 10));
    }

    #[test]
    fn count_and_bool_are_bounded() {
        let mut r = Reader::new("t", &[0, 5, 2]);
        assert!(matches!(
            r.count("n", 4),
            Err(DecodeError::OutOfRange { got: 5, max: 4, .. })
        ));
        assert!(matches!(
            r.bool("f"),
            Err(DecodeError::OutOfRange { got: 2, .. })
        ));
    }
}
