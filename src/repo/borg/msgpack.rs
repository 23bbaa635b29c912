//! Reading borg's msgpack: decoding with bounded depth, and typed access to the maps borg 1.x
//! writes, whose keys and byte strings are msgpack "raw" strings that need not be UTF-8.

use rmpv::Value;

/// Deep enough for every structure borg writes (items nest maps two or three levels).
const MAX_DEPTH: usize = 32;

/// Why a msgpack value could not be read.
#[derive(Debug)]
pub enum DecodeError {
    /// The bytes end inside a value: more input may complete it.
    Truncated,
    /// The bytes are not msgpack.
    Invalid(String),
}

/// Decodes one value from the start of `bytes`; returns it and the bytes it took.
pub fn decode(bytes: &[u8]) -> Result<(Value, usize), DecodeError> {
    let mut cursor = std::io::Cursor::new(bytes);
    match rmpv::decode::read_value_with_max_depth(&mut cursor, MAX_DEPTH) {
        Ok(value) => Ok((
            value,
            usize::try_from(cursor.position()).unwrap_or(bytes.len()),
        )),
        Err(err) if is_eof(&err) => Err(DecodeError::Truncated),
        Err(err) => Err(DecodeError::Invalid(err.to_string())),
    }
}

/// Decodes `bytes` as exactly one value.
pub fn decode_whole(bytes: &[u8], what: &str) -> Result<Value, String> {
    match decode(bytes) {
        Ok((value, used)) if used == bytes.len() => Ok(value),
        Ok(_) => Err(format!("{what}: bytes after the msgpack value")),
        Err(DecodeError::Truncated) => Err(format!("{what}: truncated msgpack")),
        Err(DecodeError::Invalid(why)) => Err(format!("{what}: {why}")),
    }
}

fn is_eof(err: &rmpv::decode::Error) -> bool {
    use rmpv::decode::Error;
    match err {
        Error::InvalidMarkerRead(io) | Error::InvalidDataRead(io) => {
            io.kind() == std::io::ErrorKind::UnexpectedEof
        }
        _ => false,
    }
}

/// The bytes of a raw string or binary value.
pub fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::String(s) => Some(s.as_bytes()),
        Value::Binary(b) => Some(b),
        _ => None,
    }
}

/// A map's value under `key` (compared as bytes, as borg's raw keys are).
pub fn get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    let Value::Map(entries) = map else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| bytes(k) == Some(key.as_bytes()))
        .map(|(_, v)| v)
}

pub fn get_bytes<'a>(map: &'a Value, key: &str) -> Option<&'a [u8]> {
    get(map, key).and_then(bytes)
}

pub fn get_i64(map: &Value, key: &str) -> Option<i64> {
    get(map, key).and_then(Value::as_i64)
}

pub fn get_u64(map: &Value, key: &str) -> Option<u64> {
    get(map, key).and_then(Value::as_u64)
}

pub fn get_bool(map: &Value, key: &str) -> Option<bool> {
    get(map, key).and_then(Value::as_bool)
}

/// A fixed-size byte string under `key`, such as a 32-byte id.
pub fn get_array<const N: usize>(map: &Value, key: &str) -> Option<[u8; N]> {
    get_bytes(map, key).and_then(|b| b.try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_keys_and_truncation() {
        // {"a": 1} with a raw (fixstr) key, as borg 1.x packs it.
        let packed = [0x81, 0xa1, b'a', 0x01];
        let Ok(value) = decode_whole(&packed, "t") else {
            panic!("does not decode");
        };
        assert_eq!(get_u64(&value, "a"), Some(1));
        assert!(matches!(decode(&packed[..3]), Err(DecodeError::Truncated)));
        assert!(decode_whole(&[0x01, 0x02], "t").is_err());
    }
}
