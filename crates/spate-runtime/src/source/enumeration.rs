//! The splits of an attempt's sources, listed once and handed to every subtask.
//!
//! A source that lists its input (the files under a directory, say) must give every
//! subtask a share of one listing: subtasks in two processes that each listed the input
//! would skip or repeat the files that came or went between the two listings. So the
//! listing is made once per attempt — by the embedded mini-cluster's deployer, or on a
//! cluster by the attempt's first worker, whose answer to its deployment carries it to
//! the JobManager and from there to every worker with its peers' addresses — and each
//! subtask reads its share of it.

use serde::{Deserialize, Serialize};

/// The listings of every source of an attempt that enumerates splits, by vertex.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttemptSplits {
    /// One entry per enumerating source vertex.
    pub sources: Vec<SourceSplits>,
}

/// The listing of one source vertex.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceSplits {
    /// The vertex's id in the job graph.
    pub vertex: u32,
    /// What the listing found.
    pub listing: SplitListing,
}

/// What listing a source's input found.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum SplitListing {
    /// The splits, encoded as the source's readers encode their positions, in the order
    /// in which they are dealt out (base64 strings in JSON, where the listing crosses
    /// the JobManager's RPC: arrays of numbers would take three times the room).
    Listed(#[serde(with = "splits_as_base64")] Vec<Vec<u8>>),
    /// The input could not be listed; every subtask of the source fails with this
    /// reason, and no restart is tried (the next listing would find the same).
    Failed(String),
}

/// The listing of a source's input failed (see [`SplitListing::Failed`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ListingFailed(pub String);

impl AttemptSplits {
    /// The listing of source vertex `vertex`, if it enumerates splits.
    pub fn of(&self, vertex: u32) -> Option<&SplitListing> {
        self.sources.iter().find(|s| s.vertex == vertex).map(|s| &s.listing)
    }
}

impl SplitListing {
    /// The share of subtask `subtask` of `parallelism`: the splits at `subtask`,
    /// `subtask + parallelism`, … (round robin, so that a subtask's share does not
    /// depend on where it runs).
    pub fn share(&self, subtask: u32, parallelism: u32) -> Result<Vec<Vec<u8>>, ListingFailed> {
        match self {
            SplitListing::Listed(splits) => {
                Ok(splits.iter().skip(subtask as usize).step_by(parallelism.max(1) as usize).cloned().collect())
            }
            SplitListing::Failed(reason) => Err(ListingFailed(reason.clone())),
        }
    }
}

/// Splits as base64 strings in human-readable formats, as bytes in binary ones.
mod splits_as_base64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(splits: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let text: Vec<String> = splits.iter().map(|s| STANDARD.encode(s)).collect();
            text.serialize(serializer)
        } else {
            splits.serialize(serializer)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<u8>>, D::Error> {
        if deserializer.is_human_readable() {
            let text = Vec::<String>::deserialize(deserializer)?;
            text.iter().map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom)).collect()
        } else {
            Vec::<Vec<u8>>::deserialize(deserializer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_deal_every_split_once_round_robin() {
        let listing = SplitListing::Listed((0..7u8).map(|i| vec![i]).collect());
        let shares: Vec<Vec<Vec<u8>>> = (0..3).map(|s| listing.share(s, 3).unwrap()).collect();
        assert_eq!(shares[0], vec![vec![0], vec![3], vec![6]]);
        assert_eq!(shares[1], vec![vec![1], vec![4]]);
        assert_eq!(shares[2], vec![vec![2], vec![5]]);
        assert!(SplitListing::Listed(Vec::new()).share(0, 2).unwrap().is_empty());
    }

    #[test]
    fn listings_cross_json_as_base64_and_the_binary_codec_as_bytes() {
        let splits = AttemptSplits {
            sources: vec![SourceSplits { vertex: 1, listing: SplitListing::Listed(vec![vec![0, 255, 7], vec![]]) }],
        };
        let json = serde_json::to_string(&splits).unwrap();
        assert!(json.contains(r#"["AP8H",""]"#), "{json}");
        assert_eq!(serde_json::from_str::<AttemptSplits>(&json).unwrap(), splits);
        let bytes = spate_core::codec::encode(&splits).unwrap();
        assert_eq!(spate_core::codec::decode::<AttemptSplits>(&bytes).unwrap(), splits);
        assert!(serde_json::from_str::<AttemptSplits>(&json.replace("AP8H", "not base64!")).is_err());
    }

    #[test]
    fn a_failed_listing_fails_every_share_and_vertices_are_found_by_id() {
        let splits = AttemptSplits {
            sources: vec![
                SourceSplits { vertex: 2, listing: SplitListing::Failed("input path /x does not exist".into()) },
                SourceSplits { vertex: 0, listing: SplitListing::Listed(vec![vec![1]]) },
            ],
        };
        assert_eq!(splits.of(2).unwrap().share(1, 4), Err(ListingFailed("input path /x does not exist".into())));
        assert_eq!(splits.of(0).unwrap().share(0, 1).unwrap(), vec![vec![1]]);
        assert!(splits.of(1).is_none());
    }
}
