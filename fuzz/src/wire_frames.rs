//! `wire_frames`: the incremental `FrameDecoder` fed an arbitrary byte stream in arbitrary
//! pieces, against a reference parse of the whole stream with `split_frame`.
//!
//! Invariants:
//! - the frames come out exactly as the reference parse finds them, in order, whatever the
//!   chunking;
//! - `decode` never reports more bytes used than it was given, and when it returns no frame it
//!   used all of its input (the consumed counts add up to the stream position);
//! - memory bound: bytes consumed but not yet handed out never exceed `FRAME_HEADER_LEN + max`,
//!   and no frame body (nor its allocation) exceeds `max`;
//! - the error comes exactly when the reference parse finds an over-limit header, as soon as
//!   the fourth header byte is in (before any body byte is read);
//! - after an error the decoder is poisoned: every later call fails with `Poisoned`, whatever
//!   the input, and it is never idle again;
//! - `is_idle` is true exactly between frames.

use arbitrary::{Arbitrary, Unstructured};
use remit_wire::{DecodeError, FRAME_HEADER_LEN, FrameDecoder, limits::MAX_FRAME_LEN, split_frame};

#[derive(Debug, Arbitrary)]
struct Input {
    /// Selects the body limit.
    max: u16,
    /// Piece sizes; the rest of the stream is fed in one piece at the end.
    pieces: Vec<u8>,
    stream: Vec<u8>,
}

enum Expected {
    Frame(Vec<u8>),
    /// The header ending at this stream offset announces too much.
    Error {
        header_end: usize,
    },
}

/// The reference parse: whole frames off the front of `stream`, then maybe an error.
fn reference(stream: &[u8], max: usize) -> Vec<Expected> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let rest = stream.get(pos..).unwrap_or_default();
        match split_frame(rest, max) {
            Ok(Some((body, used))) => {
                out.push(Expected::Frame(body.to_vec()));
                pos += used;
            }
            Ok(None) => return out,
            Err(DecodeError::TooLarge { .. }) => {
                out.push(Expected::Error {
                    header_end: pos + FRAME_HEADER_LEN,
                });
                return out;
            }
            Err(e) => panic!("split_frame: unexpected error {e:?}"),
        }
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let max = match input.max % 4 {
        0 => usize::from(input.max >> 2) % 64,
        1 => usize::from(input.max >> 2),
        2 => MAX_FRAME_LEN,
        _ => 0,
    };
    let stream = &input.stream;
    let expected = reference(stream, max);
    let mut next_expected = expected.iter();

    let mut decoder = FrameDecoder::new(max);
    let mut consumed = 0usize; // stream position: bytes `decode` reported as used
    let mut handed_out = 0usize; // header + body bytes of the frames returned
    let mut poisoned = false;

    // Piece boundaries: the given sizes, then the rest; an empty piece is a legal call too.
    let mut bounds = Vec::new();
    let mut at = 0usize;
    for &p in &input.pieces {
        at = (at + usize::from(p)).min(stream.len());
        bounds.push(at);
    }
    bounds.push(stream.len());

    let mut piece_start = 0usize;
    for end in bounds {
        let mut piece = stream.get(piece_start..end).unwrap_or_default();
        piece_start = end;
        loop {
            let before = piece.len();
            match decoder.decode(piece) {
                Ok((used, frame)) => {
                    assert!(!poisoned, "decoded after an error");
                    assert!(used <= before, "used more than given");
                    consumed += used;
                    piece = piece.get(used..).unwrap_or_default();
                    match frame {
                        Some(body) => {
                            assert!(body.len() <= max, "frame over the limit");
                            assert!(body.capacity() <= max.max(body.len()));
                            match next_expected.next() {
                                Some(Expected::Frame(b)) => assert_eq!(&body, b),
                                _ => panic!("a frame the reference parse does not have"),
                            }
                            handed_out += FRAME_HEADER_LEN + body.len();
                            assert_eq!(handed_out, consumed, "frame ended mid-input");
                            assert!(decoder.is_idle());
                        }
                        None => {
                            assert_eq!(used, before, "no frame, yet input left unused");
                            assert_eq!(decoder.is_idle(), consumed == handed_out);
                        }
                    }
                    assert!(
                        consumed - handed_out <= FRAME_HEADER_LEN + max,
                        "buffered {} bytes with max {max}",
                        consumed - handed_out
                    );
                    if frame_was_none_or_piece_empty(piece) {
                        break;
                    }
                }
                Err(DecodeError::Poisoned) => {
                    assert!(poisoned, "poisoned without an earlier error");
                    assert!(!decoder.is_idle());
                    break;
                }
                Err(DecodeError::TooLarge { len, max: m, .. }) => {
                    assert!(!poisoned, "a second size error instead of Poisoned");
                    assert!(len > max && m == max);
                    // The header is complete exactly at this piece's consumed position plus
                    // the bytes of it the failing call took.
                    match next_expected.next() {
                        Some(Expected::Error { header_end }) => {
                            assert!(*header_end >= consumed && *header_end <= consumed + before);
                        }
                        _ => panic!("a size error the reference parse does not have"),
                    }
                    poisoned = true;
                    assert!(!decoder.is_idle());
                    // Whatever comes next fails.
                    assert!(matches!(decoder.decode(piece), Err(DecodeError::Poisoned)));
                    assert!(matches!(decoder.decode(&[]), Err(DecodeError::Poisoned)));
                    break;
                }
                Err(e) => panic!("FrameDecoder: unexpected error {e:?}"),
            }
        }
    }
    // Everything the reference parse found came out, except that after an error nothing does.
    if !poisoned {
        assert!(
            next_expected.next().is_none(),
            "the decoder missed a frame or an error"
        );
        // Whatever was not handed out is the partial frame at the end of the stream.
        assert_eq!(consumed, stream.len());
    }
}

fn frame_was_none_or_piece_empty(piece: &[u8]) -> bool {
    piece.is_empty()
}
