//! The frame codec of relay streams: a 4-byte big-endian length, then that many bytes of an
//! encoded `ClientFrame` or `ServerFrame` (spec/relay.md).
//!
//! The length is checked against the limit as soon as its four bytes are in, before a buffer is
//! allocated for the body, so a peer cannot make the receiver reserve more than `max` bytes.

use crate::{
    DecodeError, EncodeError,
    decode::{TopLevel, check_encoded_len},
};

/// Length of the frame header (the big-endian body length).
pub const FRAME_HEADER_LEN: usize = 4;

/// Appends `message` to `out` as one frame.
///
/// # Errors
/// [`EncodeError::TooLarge`] if the body would exceed `M::MAX_LEN` (the receiver's limit).
pub fn encode_frame<M: TopLevel>(message: &M, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = check_encoded_len(message)?;
    let header = u32::try_from(len).map_err(|_| EncodeError::TooLarge {
        what: M::NAME,
        len,
        max: M::MAX_LEN,
    })?;
    out.reserve(FRAME_HEADER_LEN + len);
    out.extend_from_slice(&header.to_be_bytes());
    message.encode_raw(out);
    Ok(())
}

/// Reads a frame header and checks the announced length against `max`.
///
/// # Errors
/// [`DecodeError::TooLarge`] if the announced length exceeds `max`.
pub fn frame_len(header: [u8; FRAME_HEADER_LEN], max: usize) -> Result<usize, DecodeError> {
    let len = usize::try_from(u32::from_be_bytes(header)).unwrap_or(usize::MAX);
    if len > max {
        return Err(DecodeError::TooLarge {
            what: "frame",
            len,
            max,
        });
    }
    Ok(len)
}

/// Splits one whole frame off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole frame, and `Ok(Some((body, used)))`
/// when it does, `used` being the header plus body length.
///
/// # Errors
/// [`DecodeError::TooLarge`] as soon as the header announces more than `max` bytes.
pub fn split_frame(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let Some((header, rest)) = buf.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return Ok(None);
    };
    let len = frame_len(*header, max)?;
    Ok(rest.get(..len).map(|body| (body, FRAME_HEADER_LEN + len)))
}

/// An incremental frame decoder for a byte stream that arrives in arbitrary pieces.
///
/// Memory is bounded by `max`: [`FrameDecoder::decode`] consumes input only up to the end of
/// the frame it is assembling, and allocates the body buffer only after the header passed the
/// limit. After an error the decoder is poisoned, because the frame boundaries are lost; the
/// connection should send an error and close.
#[derive(Debug)]
pub struct FrameDecoder {
    max: usize,
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    body: Option<Vec<u8>>,
    body_len: usize,
    poisoned: bool,
}

impl FrameDecoder {
    /// A decoder that accepts frame bodies of at most `max` bytes.
    #[must_use]
    pub fn new(max: usize) -> Self {
        Self {
            max,
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            body: None,
            body_len: 0,
            poisoned: false,
        }
    }

    /// Feeds bytes from the stream. Returns how many bytes of `input` were consumed and, when a
    /// frame was completed, its body. Call again with the unconsumed rest.
    ///
    /// # Errors
    /// [`DecodeError::TooLarge`] for a header over the limit; [`DecodeError::Poisoned`] after any
    /// earlier error.
    ///
    /// ```
    /// use remit_wire::{FrameDecoder, limits::MAX_FRAME_LEN};
    ///
    /// // Two frames ("hi", "yo") arrive split across reads at arbitrary points.
    /// let stream = [0, 0, 0, 2, b'h', b'i', 0, 0, 0, 2, b'y', b'o'];
    /// let mut decoder = FrameDecoder::new(MAX_FRAME_LEN);
    /// let mut frames = Vec::new();
    /// for chunk in [&stream[..3], &stream[3..9], &stream[9..]] {
    ///     let mut rest = chunk;
    ///     while !rest.is_empty() {
    ///         let (used, frame) = decoder.decode(rest)?;
    ///         rest = &rest[used..];
    ///         frames.extend(frame);
    ///     }
    /// }
    /// assert_eq!(frames, [b"hi".to_vec(), b"yo".to_vec()]);
    /// assert!(decoder.is_idle());
    ///
    /// // A header over the limit is refused before anything is allocated.
    /// let mut small = FrameDecoder::new(16);
    /// assert!(small.decode(&[0, 0, 1, 0]).is_err());
    /// # Ok::<(), remit_wire::DecodeError>(())
    /// ```
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Vec<u8>>), DecodeError> {
        if self.poisoned {
            return Err(DecodeError::Poisoned);
        }
        let mut used = 0;
        if self.body.is_none() {
            let want = FRAME_HEADER_LEN - self.header_len;
            let take = want.min(input.len());
            if let (Some(dst), Some(src)) = (
                self.header.get_mut(self.header_len..self.header_len + take),
                input.get(..take),
            ) {
                dst.copy_from_slice(src);
            }
            self.header_len += take;
            used += take;
            if self.header_len < FRAME_HEADER_LEN {
                return Ok((used, None));
            }
            match frame_len(self.header, self.max) {
                Ok(len) => {
                    self.body_len = len;
                    self.body = Some(Vec::with_capacity(len));
                }
                Err(e) => {
                    self.poisoned = true;
                    return Err(e);
                }
            }
        }
        let rest = input.get(used..).unwrap_or_default();
        let Some(body) = self.body.as_mut() else {
            return Ok((used, None));
        };
        let take = (self.body_len - body.len()).min(rest.len());
        body.extend_from_slice(rest.get(..take).unwrap_or_default());
        used += take;
        if body.len() < self.body_len {
            return Ok((used, None));
        }
        self.header_len = 0;
        Ok((used, self.body.take()))
    }

    /// Whether the decoder is between frames (nothing partial is buffered).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        !self.poisoned && self.header_len == 0 && self.body.is_none()
    }
}
