//! Frames: a 4-byte little-endian length, then that many bytes of one value in Spate's
//! binary encoding (`spate_core::codec`).

use std::io::{Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest frame either side accepts (64 MiB): a deployment with its JobGraph is far
/// smaller; a length above it is a broken or hostile peer.
pub const MAX_FRAME: u32 = 64 << 20;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the link between frames: the orderly end.
    #[error("the peer closed the link")]
    Closed,
    /// The link broke, or closed inside a frame.
    #[error("the link broke: {0}")]
    Io(#[from] std::io::Error),
    /// A frame announced more bytes than allowed.
    #[error("a frame of {len} bytes exceeds the limit of {MAX_FRAME} bytes")]
    TooLarge {
        /// The announced length.
        len: u32,
    },
    /// A frame's bytes are not a value of the expected type.
    #[error("a frame does not decode: {0}")]
    Decode(#[source] spate_core::CoreError),
    /// A value could not be encoded.
    #[error("a value does not encode: {0}")]
    Encode(#[source] spate_core::CoreError),
}

/// Writes frames.
pub struct FrameWriter<W> {
    inner: W,
    buffer: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    /// Frames onto `inner`.
    pub fn new(inner: W) -> Self {
        FrameWriter { inner, buffer: Vec::new() }
    }

    /// Writes `value` as one frame and flushes it.
    pub fn send<T: Serialize>(&mut self, value: &T) -> Result<(), FrameError> {
        self.buffer.clear();
        self.buffer.extend_from_slice(&[0; 4]);
        spate_core::codec::encode_into(value, &mut self.buffer).map_err(FrameError::Encode)?;
        let len = u32::try_from(self.buffer.len() - 4).ok().filter(|l| *l <= MAX_FRAME);
        let Some(len) = len else {
            return Err(FrameError::TooLarge { len: u32::try_from(self.buffer.len() - 4).unwrap_or(u32::MAX) });
        };
        self.buffer[..4].copy_from_slice(&len.to_le_bytes());
        self.inner.write_all(&self.buffer)?;
        self.inner.flush()?;
        Ok(())
    }
}

/// Reads frames.
pub struct FrameReader<R> {
    inner: R,
    buffer: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    /// Frames from `inner`.
    pub fn new(inner: R) -> Self {
        FrameReader { inner, buffer: Vec::new() }
    }

    /// What it reads from (to set a timeout, say).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The next frame's value; [`FrameError::Closed`] at an orderly end.
    pub fn receive<T: DeserializeOwned>(&mut self) -> Result<T, FrameError> {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.inner.read(&mut len[got..]) {
                Ok(0) if got == 0 => return Err(FrameError::Closed),
                Ok(0) => return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge { len });
        }
        self.buffer.resize(len as usize, 0);
        self.inner.read_exact(&mut self.buffer)?;
        spate_core::codec::decode(&self.buffer).map_err(FrameError::Decode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Message {
        Deploy { job: String, tasks: Vec<u32> },
        Cancel,
    }

    #[test]
    fn frames_round_trip_and_an_end_between_frames_is_closed() {
        let mut bytes = Vec::new();
        let mut writer = FrameWriter::new(&mut bytes);
        writer.send(&Message::Deploy { job: "j".into(), tasks: vec![1, 2] }).unwrap();
        writer.send(&Message::Cancel).unwrap();
        let mut reader = FrameReader::new(bytes.as_slice());
        assert_eq!(reader.receive::<Message>().unwrap(), Message::Deploy { job: "j".into(), tasks: vec![1, 2] });
        assert_eq!(reader.receive::<Message>().unwrap(), Message::Cancel);
        assert!(matches!(reader.receive::<Message>(), Err(FrameError::Closed)));
    }

    #[test]
    fn truncated_oversized_and_garbled_frames_are_errors() {
        let mut bytes = Vec::new();
        FrameWriter::new(&mut bytes).send(&Message::Deploy { job: "job".into(), tasks: vec![7] }).unwrap();
        for cut in [2, bytes.len() - 1] {
            let error = FrameReader::new(&bytes[..cut]).receive::<Message>().unwrap_err();
            assert!(matches!(error, FrameError::Io(ref e) if e.kind() == std::io::ErrorKind::UnexpectedEof), "{error}");
        }
        let huge = (MAX_FRAME + 1).to_le_bytes();
        let error = FrameReader::new(&huge[..]).receive::<Message>().unwrap_err();
        assert!(error.to_string().contains("exceeds the limit"), "{error}");
        let garbled = [3u8, 0, 0, 0, 0xff, 0xff, 0xff];
        assert!(matches!(FrameReader::new(&garbled[..]).receive::<Message>(), Err(FrameError::Decode(_))));
    }
}
