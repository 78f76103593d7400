//! The binary encoding of state in snapshots: bincode's standard configuration over
//! serde, so that any `Serialize` type is storable and a value written by one version of
//! a program reads back in the next as long as its type is unchanged.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::CoreError;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Appends the encoding of `value` to `out`.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CoreError> {
    use bincode::error::EncodeError;
    bincode::serde::encode_into_std_write(value, out, config()).map(|_| ()).map_err(|e| {
        let type_name = std::any::type_name::<T>();
        match e {
            // `flatten` and maps of unknown length need a self-describing format too:
            // say so, as for values that do not decode back.
            EncodeError::Serde(bincode::serde::EncodeError::SequenceMustHaveLength) => {
                CoreError::RoundTrip { type_name, reason: e.to_string() }
            }
            other => CoreError::Encode { type_name, reason: other.to_string() },
        }
    })
}

/// Checks that `bytes`, the encoding of a `T` just written, decode back as a `T`: a
/// type whose serde implementation needs a self-describing format encodes fine and
/// fails only here.
pub fn verify<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), CoreError> {
    match decode::<T>(bytes) {
        Ok(_) => Ok(()),
        Err(CoreError::Decode { type_name, reason }) => Err(CoreError::RoundTrip { type_name, reason }),
        Err(other) => Err(other),
    }
}

/// The encoding of `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CoreError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Decodes a value that fills `bytes` entirely.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CoreError> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, config()).map_err(|e| decode_error::<T>(e))?;
    if read != bytes.len() {
        return Err(CoreError::Decode {
            type_name: std::any::type_name::<T>(),
            reason: format!("{} bytes left after a value of {read}", bytes.len() - read),
        });
    }
    Ok(value)
}

/// Decodes a value from the front of `bytes`, returning it and the rest.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8]), CoreError> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, config()).map_err(|e| decode_error::<T>(e))?;
    Ok((value, &bytes[read..]))
}

fn decode_error<T>(e: bincode::error::DecodeError) -> CoreError {
    CoreError::Decode { type_name: std::any::type_name::<T>(), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_garbage_is_an_error() {
        let v = (7u64, "seven".to_string(), vec![Some(1.5f64), None]);
        let bytes = encode(&v).unwrap();
        assert_eq!(decode::<(u64, String, Vec<Option<f64>>)>(&bytes).unwrap(), v);
        let (first, rest) = decode_prefix::<u64>(&bytes).unwrap();
        assert_eq!((first, rest.len()), (7, bytes.len() - 1));
        assert!(decode::<u64>(&bytes).unwrap_err().to_string().contains("bytes left"));
        assert!(decode::<String>(&[200, 1, 2]).is_err());
        verify::<(u64, String, Vec<Option<f64>>)>(&bytes).unwrap();
    }

    #[test]
    fn values_that_cannot_round_trip_are_named() {
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(untagged)]
        enum Loose {
            Number(u64),
            Text(String),
        }
        let bytes = encode(&Loose::Number(3)).unwrap();
        let err = verify::<Loose>(&bytes).unwrap_err();
        assert!(matches!(err, CoreError::RoundTrip { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("Loose") && text.contains("untagged"), "{text}");
        let _ = Loose::Text(String::new());
        // The encoder's own errors name the type too.
        struct Opaque;
        impl Serialize for Opaque {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no encoding"))
            }
        }
        let err = encode(&Opaque).unwrap_err().to_string();
        assert!(err.contains("Opaque") && err.contains("no encoding"), "{err}");
    }
}
