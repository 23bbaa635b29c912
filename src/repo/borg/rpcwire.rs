//! borg serve's RPC as bytes: requests packed as borg 1.x packs them (named arguments, byte
//! strings as msgpack raw strings), replies read with every length bounded by what is left of the
//! reply's limit, and parsed into a result or the remote's exception.

use std::io::{self, Read};

use rmpv::Value;

use super::msgpack;
use super::rpc::{Reply, RpcError};

/// An argument of a request.
pub(super) enum Arg<'a> {
    Bytes(&'a [u8]),
    Bool(bool),
    Int(i64),
    Ints(&'a [i64]),
}

/// A request in borg's named-argument format.
pub(super) fn request(msgid: u64, method: &str, args: &[(&str, Arg)]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64);
    // Writes to a Vec cannot fail.
    let _ = rmp::encode::write_map_len(&mut bytes, 3);
    write_raw(&mut bytes, b"i");
    let _ = rmp::encode::write_uint(&mut bytes, msgid);
    write_raw(&mut bytes, b"m");
    write_raw(&mut bytes, method.as_bytes());
    write_raw(&mut bytes, b"a");
    let _ = rmp::encode::write_map_len(&mut bytes, args.len() as u32);
    for (name, arg) in args {
        write_raw(&mut bytes, name.as_bytes());
        write_arg(&mut bytes, arg);
    }
    bytes
}

pub(super) fn write_arg(bytes: &mut Vec<u8>, arg: &Arg) {
    match arg {
        Arg::Bytes(b) => write_raw(bytes, b),
        Arg::Bool(b) => {
            let _ = rmp::encode::write_bool(bytes, *b);
        }
        Arg::Int(n) => {
            let _ = rmp::encode::write_sint(bytes, *n);
        }
        Arg::Ints(ns) => {
            let _ = rmp::encode::write_array_len(bytes, ns.len() as u32);
            for n in *ns {
                let _ = rmp::encode::write_sint(bytes, *n);
            }
        }
    }
}

/// A msgpack raw string, as borg 1.x packs bytes and text alike.
pub(super) fn write_raw(bytes: &mut Vec<u8>, raw: &[u8]) {
    let _ = rmp::encode::write_str_len(bytes, raw.len() as u32);
    bytes.extend_from_slice(raw);
}

pub(super) fn into_bytes(value: Value, method: &str) -> Result<Vec<u8>, RpcError> {
    match value {
        Value::String(s) => Ok(s.into_bytes()),
        Value::Binary(b) => Ok(b),
        _ => Err(RpcError::Broken(format!(
            "{method}: the reply is not a byte string"
        ))),
    }
}

/// A reply's message id and result: borg's dictionary, or the old tuple `(1, msgid, error,
/// result)` that answers the tuple-format `negotiate`.
pub(super) fn parse_reply(value: Value) -> Result<(u64, Reply), String> {
    let not_borg = || "a reply that is not borg's protocol".to_string();
    if let Value::Array(parts) = &value {
        let [_, msgid, error, result] = parts.as_slice() else {
            return Err(not_borg());
        };
        let msgid = msgid.as_u64().ok_or_else(not_borg)?;
        return Ok((
            msgid,
            match error {
                Value::Nil => Ok(result.clone()),
                other => {
                    let class = String::from_utf8_lossy(msgpack::bytes(other).unwrap_or_default())
                        .into_owned();
                    Err(RpcError::Remote {
                        message: class.clone(),
                        class,
                    })
                }
            },
        ));
    }
    let msgid = msgpack::get_u64(&value, "i").ok_or_else(not_borg)?;
    if let Some(class) = msgpack::get_bytes(&value, "exception_class") {
        let class = String::from_utf8_lossy(class).into_owned();
        let short: Vec<String> = match msgpack::get(&value, "exception_short") {
            Some(Value::Array(lines)) => lines
                .iter()
                .filter_map(msgpack::bytes)
                .map(|l| String::from_utf8_lossy(l).trim().to_string())
                .collect(),
            _ => Vec::new(),
        };
        let message = match short.join(" ") {
            m if m.is_empty() => class.clone(),
            m => m,
        };
        return Ok((msgid, Err(RpcError::Remote { class, message })));
    }
    let Value::Map(entries) = value else {
        return Err(not_borg());
    };
    let result = entries
        .into_iter()
        .find(|(k, _)| msgpack::bytes(k) == Some(b"r"))
        .map(|(_, v)| v)
        .ok_or_else(not_borg)?;
    Ok((msgid, Ok(result)))
}

/// Why a msgpack value could not be read from the connection.
#[derive(Debug)]
pub(super) enum ReadError {
    /// The input ended (or its bound was reached) inside the value.
    Eof,
    /// A string or container larger than what is left of the bound.
    TooLarge,
    Invalid(String),
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::UnexpectedEof => ReadError::Eof,
            _ => ReadError::Invalid(err.to_string()),
        }
    }
}

/// Reads one msgpack value of at most `depth` levels from `r`, whose limit bounds it. Raw
/// strings and binaries become `Value::Binary` of exactly their size, read in one piece and not
/// checked as UTF-8: borg's object data travels as raw strings of up to 20 MiB.
pub(super) fn read_value<R: Read>(r: &mut io::Take<R>, depth: usize) -> Result<Value, ReadError> {
    fn be<const N: usize, R: Read>(r: &mut io::Take<R>) -> Result<[u8; N], ReadError> {
        let mut bytes = [0u8; N];
        r.read_exact(&mut bytes)?;
        Ok(bytes)
    }
    let [marker] = be::<1, R>(r)?;
    let len = |r: &mut io::Take<R>, size: u8| -> Result<u64, ReadError> {
        Ok(match size {
            1 => u64::from(be::<1, R>(r)?[0]),
            2 => u64::from(u16::from_be_bytes(be::<2, R>(r)?)),
            _ => u64::from(u32::from_be_bytes(be::<4, R>(r)?)),
        })
    };
    let (kind, n) = match marker {
        0x00..=0x7f => return Ok(Value::from(marker)),
        0xe0..=0xff => return Ok(Value::from(marker as i8)),
        0xc0 => return Ok(Value::Nil),
        0xc2 => return Ok(Value::Boolean(false)),
        0xc3 => return Ok(Value::Boolean(true)),
        0xca => return Ok(Value::F32(f32::from_be_bytes(be::<4, R>(r)?))),
        0xcb => return Ok(Value::F64(f64::from_be_bytes(be::<8, R>(r)?))),
        0xcc => return Ok(Value::from(be::<1, R>(r)?[0])),
        0xcd => return Ok(Value::from(u16::from_be_bytes(be::<2, R>(r)?))),
        0xce => return Ok(Value::from(u32::from_be_bytes(be::<4, R>(r)?))),
        0xcf => return Ok(Value::from(u64::from_be_bytes(be::<8, R>(r)?))),
        0xd0 => return Ok(Value::from(be::<1, R>(r)?[0] as i8)),
        0xd1 => return Ok(Value::from(i16::from_be_bytes(be::<2, R>(r)?))),
        0xd2 => return Ok(Value::from(i32::from_be_bytes(be::<4, R>(r)?))),
        0xd3 => return Ok(Value::from(i64::from_be_bytes(be::<8, R>(r)?))),
        0xa0..=0xbf => (b's', u64::from(marker & 0x1f)),
        0xd9 | 0xc4 => (b's', len(r, 1)?),
        0xda | 0xc5 => (b's', len(r, 2)?),
        0xdb | 0xc6 => (b's', len(r, 4)?),
        0x90..=0x9f => (b'a', u64::from(marker & 0x0f)),
        0xdc => (b'a', len(r, 2)?),
        0xdd => (b'a', len(r, 4)?),
        0x80..=0x8f => (b'm', u64::from(marker & 0x0f)),
        0xde => (b'm', len(r, 2)?),
        0xdf => (b'm', len(r, 4)?),
        other => return Err(ReadError::Invalid(format!("msgpack type 0x{other:02x}"))),
    };
    // Every byte and every element takes at least one byte of what is left.
    if n > r.limit() {
        return Err(ReadError::TooLarge);
    }
    let n = n as usize;
    if kind == b's' {
        let mut bytes = vec![0u8; n];
        r.read_exact(&mut bytes)?;
        return Ok(Value::Binary(bytes));
    }
    let depth = depth
        .checked_sub(1)
        .ok_or_else(|| ReadError::Invalid("nested too deep".into()))?;
    if kind == b'a' {
        let mut items = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            items.push(read_value(r, depth)?);
        }
        return Ok(Value::Array(items));
    }
    let mut entries = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let key = read_value(r, depth)?;
        entries.push((key, read_value(r, depth)?));
    }
    Ok(Value::Map(entries))
}
