//! The handshake: the TaskManager greets first, the worker answers; each checks that
//! the other speaks the same protocol and runs the same Spate release.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::frame::{FrameError, FrameReader, FrameWriter};

/// The version of this protocol's messages; raised whenever they change.
pub const PROTOCOL_VERSION: u32 = 7;

/// The first frame each way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol: u32,
    /// The sender's Spate release.
    pub spate_version: String,
}

impl Hello {
    /// This process's greeting.
    pub fn ours() -> Self {
        Hello { protocol: PROTOCOL_VERSION, spate_version: spate_core::launch::VERSION.to_string() }
    }
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The link failed during the handshake.
    #[error("handshake: {0}")]
    Frame(#[from] FrameError),
    /// The peer runs another release or protocol.
    #[error(
        "the peer runs Spate {theirs} (worker protocol {their_protocol}), this process Spate {ours} (protocol {our_protocol})"
    )]
    Mismatch {
        /// This process's release.
        ours: String,
        /// The peer's release.
        theirs: String,
        /// This process's protocol.
        our_protocol: u32,
        /// The peer's protocol.
        their_protocol: u32,
    },
}

fn check(theirs: Hello) -> Result<(), HandshakeError> {
    let ours = Hello::ours();
    if theirs == ours {
        Ok(())
    } else {
        Err(HandshakeError::Mismatch {
            ours: ours.spate_version,
            theirs: theirs.spate_version,
            our_protocol: ours.protocol,
            their_protocol: theirs.protocol,
        })
    }
}

/// The TaskManager's side: greets, then reads the worker's answer.
pub fn greet<R: Read, W: Write>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
) -> Result<(), HandshakeError> {
    writer.send(&Hello::ours())?;
    check(reader.receive()?)
}

/// The worker's side: reads the greeting, answers with its own (also on a mismatch,
/// so that the TaskManager can name both versions), then checks.
pub fn accept<R: Read, W: Write>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
) -> Result<(), HandshakeError> {
    let theirs: Hello = reader.receive()?;
    writer.send(&Hello::ours())?;
    check(theirs)
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    /// One end of a link: its reader and writer.
    type End = (FrameReader<UnixStream>, FrameWriter<UnixStream>);

    fn link() -> (End, End) {
        let (a, b) = UnixStream::pair().unwrap();
        let ends = |s: UnixStream| (FrameReader::new(s.try_clone().unwrap()), FrameWriter::new(s));
        (ends(a), ends(b))
    }

    #[test]
    fn same_release_shakes_hands() {
        let ((mut tr, mut tw), (mut wr, mut ww)) = link();
        let worker = std::thread::spawn(move || accept(&mut wr, &mut ww).map(|()| (wr, ww)));
        greet(&mut tr, &mut tw).unwrap();
        let (mut wr, _ww) = worker.join().unwrap().unwrap();
        // The link carries messages after the handshake.
        tw.send(&"deploy".to_string()).unwrap();
        assert_eq!(wr.receive::<String>().unwrap(), "deploy");
    }

    #[test]
    fn another_release_is_refused_with_both_versions_named() {
        let ((mut tr, mut tw), (mut wr, mut ww)) = link();
        let worker = std::thread::spawn(move || {
            let theirs: Hello = wr.receive().unwrap();
            ww.send(&Hello { protocol: PROTOCOL_VERSION + 1, spate_version: "9.9.9".into() }).unwrap();
            theirs
        });
        let error = greet(&mut tr, &mut tw).unwrap_err();
        assert_eq!(worker.join().unwrap(), Hello::ours());
        let text = error.to_string();
        assert!(text.contains("Spate 9.9.9") && text.contains(spate_core::launch::VERSION), "{text}");
        // A peer that closes instead of answering is a frame error, not a hang.
        let ((mut tr, mut tw), (wr, ww)) = link();
        drop((wr, ww));
        assert!(matches!(greet(&mut tr, &mut tw), Err(HandshakeError::Frame(_))));
    }
}
