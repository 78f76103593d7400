//! The files of a checkpoint: one state file per subtask, and `_metadata`.
//!
//! A state file holds the snapshots of the operators of one subtask's chain. Every
//! section (one key group of one operator, or one operator list) is stored on its own
//! and checksummed, and an index at the end says where each is, so that a subtask of a
//! rescaled job reads only the key groups it now owns:
//!
//! ```text
//! "SPATE-STATE-1\n" | section ... | index | index length (u64 LE) | index checksum (u64 LE) | "SPATE-END"
//! ```
//!
//! `_metadata` names the state files of every operator (paths relative to the
//! checkpoint's directory, so that a savepoint can be moved), and ends in a checksum of
//! its own. A checkpoint without a readable `_metadata` is not complete.

use serde::{Deserialize, Serialize};
use spate_core::codec;

use super::{CheckpointId, CheckpointKind, TaskSnapshot};
#[cfg(test)]
use super::{ListSnapshot, OperatorSnapshot};

const STATE_MAGIC: &[u8] = b"SPATE-STATE-1\n";
const STATE_END: &[u8] = b"SPATE-END";
const METADATA_MAGIC: &[u8] = b"SPATE-METADATA-1\n";
/// The bytes after the index: its length, its checksum and the end marker.
pub const FOOTER_LEN: usize = 16 + STATE_END.len();

/// Why a checkpoint file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// The file is not what it should be (truncated, overwritten, another format).
    #[error("{file}: {reason}")]
    Corrupt {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

fn corrupt(file: &str, reason: impl Into<String>) -> FormatError {
    FormatError::Corrupt { file: file.to_string(), reason: reason.into() }
}

/// The checksum of a section, the index and the metadata: xxh3-64.
pub fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Where one section is in a state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Byte offset from the start of the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Checksum of the bytes.
    pub checksum: u64,
}

/// The index entries of one operator in a state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorIndex {
    /// The operator's uid.
    pub uid: String,
    /// Per key group: its parts, encoded as `Vec<(String, Vec<u8>)>`.
    pub keyed: Vec<(u32, Section)>,
    /// Per operator list: name, union or not, and its elements encoded as `Vec<Vec<u8>>`.
    pub lists: Vec<(String, bool, Section)>,
}

/// Encodes the snapshots of one subtask into the bytes of its state file.
pub fn write_state_file(snapshot: &TaskSnapshot) -> Result<Vec<u8>, spate_core::CoreError> {
    let mut out = STATE_MAGIC.to_vec();
    let mut index = Vec::with_capacity(snapshot.operators.len());
    let section = |out: &mut Vec<u8>, bytes: &[u8]| {
        let offset = out.len() as u64;
        out.extend_from_slice(bytes);
        Section { offset, len: bytes.len() as u64, checksum: checksum(bytes) }
    };
    let mut scratch = Vec::new();
    for (uid, operator) in &snapshot.operators {
        let mut entry = OperatorIndex { uid: uid.clone(), keyed: Vec::new(), lists: Vec::new() };
        for (group, parts) in &operator.keyed {
            scratch.clear();
            codec::encode_into(parts, &mut scratch)?;
            entry.keyed.push((*group, section(&mut out, &scratch)));
        }
        for list in &operator.lists {
            scratch.clear();
            codec::encode_into(&list.elements, &mut scratch)?;
            entry.lists.push((list.name.clone(), list.union, section(&mut out, &scratch)));
        }
        index.push(entry);
    }
    let index = codec::encode(&index)?;
    out.extend_from_slice(&index);
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum(&index).to_le_bytes());
    out.extend_from_slice(STATE_END);
    Ok(out)
}

/// Reads the index from the last bytes of a state file (`tail`, which must hold at
/// least the index and the footer) of a file `file_len` bytes long.
pub fn read_index(file: &str, tail: &[u8], file_len: u64) -> Result<Vec<OperatorIndex>, FormatError> {
    if tail.len() < FOOTER_LEN || !tail.ends_with(STATE_END) {
        return Err(corrupt(file, "the end marker is missing (the file is truncated or not a state file)"));
    }
    let footer = &tail[tail.len() - FOOTER_LEN..];
    let len = u64::from_le_bytes(footer[..8].try_into().unwrap_or_default());
    let expected = u64::from_le_bytes(footer[8..16].try_into().unwrap_or_default());
    let available = (tail.len() - FOOTER_LEN) as u64;
    if len > available || len + FOOTER_LEN as u64 + STATE_MAGIC.len() as u64 > file_len {
        return Err(corrupt(file, format!("the index length {len} does not fit the file")));
    }
    let index = &tail[tail.len() - FOOTER_LEN - len as usize..tail.len() - FOOTER_LEN];
    if checksum(index) != expected {
        return Err(corrupt(file, "the index checksum does not match"));
    }
    codec::decode(index).map_err(|e| corrupt(file, format!("the index cannot be read: {e}")))
}

/// Checks and decodes a keyed section (a key group's parts).
pub fn read_keyed(file: &str, section: &Section, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FormatError> {
    verify(file, section, bytes)?;
    codec::decode(bytes).map_err(|e| corrupt(file, format!("a key group cannot be read: {e}")))
}

/// Checks and decodes a list section.
pub fn read_list(file: &str, section: &Section, bytes: &[u8]) -> Result<Vec<Vec<u8>>, FormatError> {
    verify(file, section, bytes)?;
    codec::decode(bytes).map_err(|e| corrupt(file, format!("an operator list cannot be read: {e}")))
}

fn verify(file: &str, section: &Section, bytes: &[u8]) -> Result<(), FormatError> {
    if bytes.len() as u64 != section.len {
        return Err(corrupt(file, format!("a section at {} is cut short", section.offset)));
    }
    if checksum(bytes) != section.checksum {
        return Err(corrupt(file, format!("the checksum of the section at {} does not match", section.offset)));
    }
    Ok(())
}

/// Decodes a whole state file back into snapshots.
#[cfg(test)]
pub fn read_state_file(file: &str, bytes: &[u8]) -> Result<TaskSnapshot, FormatError> {
    if !bytes.starts_with(STATE_MAGIC) {
        return Err(corrupt(file, "not a Spate state file"));
    }
    let index = read_index(file, bytes, bytes.len() as u64)?;
    let slice = |s: &Section| {
        bytes
            .get(s.offset as usize..(s.offset + s.len) as usize)
            .ok_or_else(|| corrupt(file, "a section lies outside the file"))
    };
    let mut snapshot = TaskSnapshot::default();
    for entry in index {
        let mut operator = OperatorSnapshot::default();
        for (group, section) in &entry.keyed {
            operator.keyed.insert(*group, read_keyed(file, section, slice(section)?)?);
        }
        for (name, union, section) in &entry.lists {
            let elements = read_list(file, section, slice(section)?)?;
            operator.lists.push(ListSnapshot { name: name.clone(), union: *union, elements });
        }
        snapshot.operators.push((entry.uid, operator));
    }
    Ok(snapshot)
}

/// The state file of one subtask of an operator, as `_metadata` names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// The subtask that wrote it.
    pub subtask: u32,
    /// Its name, relative to the checkpoint's directory.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What `_metadata` says about one operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorMetadata {
    /// The operator's uid.
    pub uid: String,
    /// How many subtasks wrote its state.
    pub parallelism: u32,
    /// Its number of key groups.
    pub max_parallelism: u32,
    /// The files holding its state (a file may hold other operators of the same chain).
    pub files: Vec<StateFile>,
}

/// A complete checkpoint or savepoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// The job it belongs to.
    pub job_id: String,
    /// Its number.
    pub checkpoint_id: CheckpointId,
    /// When it was triggered (ms since the epoch).
    pub timestamp: i64,
    /// Checkpoint or savepoint.
    pub kind: CheckpointKind,
    /// The operators that have state.
    pub operators: Vec<OperatorMetadata>,
}

impl CheckpointMetadata {
    /// The bytes of `_metadata`.
    pub fn encode(&self) -> Result<Vec<u8>, spate_core::CoreError> {
        let body = codec::encode(self)?;
        let mut out = METADATA_MAGIC.to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(&checksum(&body).to_le_bytes());
        Ok(out)
    }

    /// Reads `_metadata`.
    pub fn decode(file: &str, bytes: &[u8]) -> Result<CheckpointMetadata, FormatError> {
        let body =
            bytes.strip_prefix(METADATA_MAGIC).ok_or_else(|| corrupt(file, "not a Spate checkpoint metadata file"))?;
        if body.len() < 8 {
            return Err(corrupt(file, "the file is cut short"));
        }
        let (body, sum) = body.split_at(body.len() - 8);
        if checksum(body) != u64::from_le_bytes(sum.try_into().unwrap_or_default()) {
            return Err(corrupt(file, "the checksum does not match"));
        }
        codec::decode(body).map_err(|e| corrupt(file, format!("cannot be read: {e}")))
    }

    /// The total size of the state files, in bytes.
    pub fn state_size(&self) -> u64 {
        let mut names: Vec<(&str, u64)> =
            self.operators.iter().flat_map(|o| &o.files).map(|f| (f.name.as_str(), f.size)).collect();
        names.sort();
        names.dedup();
        names.iter().map(|(_, s)| s).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Redistribution;

    fn sample() -> TaskSnapshot {
        let mut a = OperatorSnapshot::default();
        a.add_keyed(3, "table", vec![1, 2, 3]);
        a.add_keyed(3, "timers", vec![4]);
        a.add_keyed(9, "table", vec![5]);
        a.add_list("splits", Redistribution::EvenSplit, vec![vec![7], vec![8, 9]]);
        let mut b = OperatorSnapshot::default();
        b.add_list("rules", Redistribution::Union, vec![vec![1]]);
        TaskSnapshot { operators: vec![("source".into(), a), ("map".into(), b)] }
    }

    #[test]
    fn state_files_round_trip_and_index_their_sections() {
        let snapshot = sample();
        let bytes = write_state_file(&snapshot).unwrap();
        assert_eq!(read_state_file("f", &bytes).unwrap(), snapshot);
        let index = read_index("f", &bytes[bytes.len() - 200.min(bytes.len())..], bytes.len() as u64).unwrap();
        assert_eq!(index[0].keyed.iter().map(|(g, _)| *g).collect::<Vec<_>>(), vec![3, 9]);
        let (_, nine) = &index[0].keyed[1];
        let section = &bytes[nine.offset as usize..(nine.offset + nine.len) as usize];
        assert_eq!(read_keyed("f", nine, section).unwrap(), vec![("table".to_string(), vec![5])]);
    }

    #[test]
    fn damage_anywhere_is_detected() {
        let bytes = write_state_file(&sample()).unwrap();
        let truncated = &bytes[..bytes.len() - 3];
        assert!(read_state_file("f", truncated).unwrap_err().to_string().contains("end marker"));
        for at in [STATE_MAGIC.len() + 1, bytes.len() - FOOTER_LEN - 2] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x40;
            let err = read_state_file("f", &flipped).unwrap_err().to_string();
            assert!(err.contains("checksum"), "byte {at}: {err}");
        }
        let metadata = CheckpointMetadata {
            job_id: "j".into(),
            checkpoint_id: 4,
            timestamp: 1,
            kind: CheckpointKind::Checkpoint,
            operators: vec![OperatorMetadata {
                uid: "source".into(),
                parallelism: 2,
                max_parallelism: 128,
                files: vec![StateFile { subtask: 0, name: "a".into(), size: 10 }],
            }],
        };
        let encoded = metadata.encode().unwrap();
        assert_eq!(CheckpointMetadata::decode("m", &encoded).unwrap(), metadata);
        let mut flipped = encoded.clone();
        flipped[METADATA_MAGIC.len() + 2] ^= 1;
        assert!(CheckpointMetadata::decode("m", &flipped).unwrap_err().to_string().contains("checksum"));
        assert!(CheckpointMetadata::decode("m", b"hello").is_err());
    }
}
