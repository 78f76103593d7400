//! The data plane's wire format: one frame is a 17-byte header — a kind, the logical
//! channel (edge, producing subtask, consuming subtask) as three little-endian `u32`s,
//! and a `u32` that is the payload's length for data and the number of credits for a
//! credit — followed by the payload.

use std::io::{Read, Write};

use super::ChannelKey;

/// The largest payload accepted (256 MiB): a buffer holds whole records, so one record
/// larger than a segment makes a larger buffer; beyond this the peer is broken.
pub(crate) const MAX_PAYLOAD: u32 = 256 << 20;

const DATA: u8 = 1;
const CREDIT: u8 = 2;
const HEADER: usize = 17;

/// What travels on a connection between two workers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// One buffer of a channel: serialized records, or one control event.
    Data {
        /// The channel.
        key: ChannelKey,
        /// The buffer.
        payload: Vec<u8>,
    },
    /// The receiver of a channel has room for `credits` more buffers.
    Credit {
        /// The channel.
        key: ChannelKey,
        /// How many.
        credits: u32,
    },
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// The connection broke, or closed inside a frame.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a frame of this protocol.
    #[error("a frame of unknown kind {0}")]
    Kind(u8),
    /// A payload above [`MAX_PAYLOAD`].
    #[error("a buffer of {0} bytes exceeds the limit of {MAX_PAYLOAD} bytes")]
    TooLarge(u32),
}

/// Writes `frame` (buffered by `out`; the caller flushes).
pub(crate) fn write(out: &mut impl Write, frame: &Frame) -> std::io::Result<()> {
    let (kind, key, n, payload): (u8, &ChannelKey, u32, &[u8]) = match frame {
        Frame::Data { key, payload } => (DATA, key, payload.len() as u32, payload),
        Frame::Credit { key, credits } => (CREDIT, key, *credits, &[]),
    };
    let mut header = [0u8; HEADER];
    header[0] = kind;
    header[1..5].copy_from_slice(&key.edge.to_le_bytes());
    header[5..9].copy_from_slice(&key.from.to_le_bytes());
    header[9..13].copy_from_slice(&key.to.to_le_bytes());
    header[13..17].copy_from_slice(&n.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(payload)
}

/// Reads the next frame; `Ok(None)` when the peer closed the connection between frames.
pub(crate) fn read(input: &mut impl Read) -> Result<Option<Frame>, FrameError> {
    let mut header = [0u8; HEADER];
    let mut filled = 0;
    while filled < HEADER {
        match input.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let word = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let key = ChannelKey { edge: word(1), from: word(5), to: word(9) };
    let n = word(13);
    match header[0] {
        DATA if n > MAX_PAYLOAD => Err(FrameError::TooLarge(n)),
        DATA => {
            let mut payload = vec![0u8; n as usize];
            input.read_exact(&mut payload)?;
            Ok(Some(Frame::Data { key, payload }))
        }
        CREDIT => Ok(Some(Frame::Credit { key, credits: n })),
        other => Err(FrameError::Kind(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_ones_are_refused() {
        let key = ChannelKey { edge: 3, from: 1, to: 70000 };
        let frames = vec![
            Frame::Data { key, payload: vec![1, 2, 3] },
            Frame::Credit { key, credits: 9 },
            Frame::Data { key, payload: Vec::new() },
        ];
        let mut bytes = Vec::new();
        for f in &frames {
            write(&mut bytes, f).unwrap();
        }
        let mut input = &bytes[..];
        for f in frames {
            assert_eq!(read(&mut input).unwrap(), Some(f));
        }
        assert_eq!(read(&mut input).unwrap(), None);

        // Cut inside a frame, an unknown kind, an oversized buffer.
        let mut input = &bytes[..5];
        assert!(matches!(read(&mut input), Err(FrameError::Io(_))));
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(matches!(read(&mut &bad[..]), Err(FrameError::Kind(9))));
        let mut huge = bytes[..HEADER].to_vec();
        huge[13..17].copy_from_slice(&(MAX_PAYLOAD + 1).to_le_bytes());
        assert!(matches!(read(&mut &huge[..]), Err(FrameError::TooLarge(_))));
    }
}
