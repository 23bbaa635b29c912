//! Unit tests of the borg serve client: the ssh command line, requests and replies as bytes,
//! and bounded reads of hostile replies.

use std::io::Read;

use super::*;
use crate::repo::borg::rpcpipe::{MAX_DEPTH, MAX_REPLY};
use crate::repo::borg::rpcwire::{ReadError, parse_reply, read_value};

fn location(port: Option<u16>) -> RemoteLocation {
    RemoteLocation {
        user: Some("me".into()),
        host: "[::1]".into(),
        port,
        path: "/srv/repo".into(),
    }
}

#[test]
fn the_command_line_is_borgs() -> Result<(), String> {
    let none = |_: &str| None;
    assert_eq!(
        command_line(&location(None), none)?,
        ["ssh", "me@::1", "borg", "serve"]
    );
    let vars = |name: &str| match name {
        "BORG_RSH" => Some("ssh -i '/keys/my key' -o BatchMode=yes".to_string()),
        "BORG_REMOTE_PATH" => Some("/opt/borg/bin/borg".to_string()),
        _ => None,
    };
    assert_eq!(
        command_line(&location(Some(2222)), vars)?,
        [
            "ssh",
            "-i",
            "/keys/my key",
            "-o",
            "BatchMode=yes",
            "-p",
            "2222",
            "me@::1",
            "/opt/borg/bin/borg",
            "serve"
        ]
    );
    let unclosed = |name: &str| (name == "BORG_RSH").then(|| "ssh -i 'x".to_string());
    assert!(command_line(&location(None), unclosed).is_err());
    Ok(())
}

#[test]
fn requests_pack_bytes_as_raw_strings() {
    let packed = request(7, "get", &[("id", Arg::Bytes(&[0xff; 32]))]);
    let value = msgpack::decode_whole(&packed, "request").expect("decodes");
    assert_eq!(msgpack::get_u64(&value, "i"), Some(7));
    assert_eq!(msgpack::get_bytes(&value, "m"), Some(&b"get"[..]));
    let args = msgpack::get(&value, "a").expect("args");
    assert_eq!(msgpack::get_bytes(args, "id"), Some(&[0xff; 32][..]));
    // No msgpack bin type (0xc4-0xc6): borg serve's unpacker refuses it.
    assert!(!packed.contains(&0xc4));
    assert_eq!(packed[packed.len() - 34], 0xd9, "str 8 of 32 bytes");
}

fn read(bytes: &[u8], bound: u64) -> Result<Value, ReadError> {
    read_value(&mut Read::take(bytes, bound), MAX_DEPTH)
}

#[test]
fn values_are_read_with_their_strings_as_bytes_and_bounded() -> Result<(), ReadError> {
    let value = Value::Map(vec![
        (Value::from("i"), Value::from(u64::MAX)),
        (Value::from("r"), Value::from("data")),
        (Value::from("n"), Value::from(-70_000)),
        (Value::from("b"), Value::Binary(vec![0xff; 300])),
        (
            Value::from("l"),
            Value::Array(vec![Value::Nil, Value::from(true), Value::F64(0.5)]),
        ),
    ]);
    let mut packed = Vec::new();
    rmpv::encode::write_value(&mut packed, &value).expect("pack");
    let got = read(&packed, MAX_REPLY)?;
    assert_eq!(msgpack::get_u64(&got, "i"), Some(u64::MAX));
    assert!(matches!(msgpack::get(&got, "r"), Some(Value::Binary(b)) if b == b"data"));
    assert_eq!(msgpack::get_i64(&got, "n"), Some(-70_000));
    assert_eq!(msgpack::get_bytes(&got, "b"), Some(&[0xff; 300][..]));
    assert!(matches!(msgpack::get(&got, "l"), Some(Value::Array(l)) if l.len() == 3));
    assert!(matches!(
        read(&packed[..packed.len() - 1], MAX_REPLY),
        Err(ReadError::Eof)
    ));
    assert!(matches!(
        read(&packed, 40),
        Err(ReadError::TooLarge | ReadError::Eof)
    ));
    // A string that says it is 4 GiB long is refused before anything is allocated.
    assert!(matches!(
        read(&[0xdb, 0xff, 0xff, 0xff, 0xff], MAX_REPLY),
        Err(ReadError::TooLarge)
    ));
    assert!(matches!(
        read(&[0x91; 64], MAX_REPLY),
        Err(ReadError::Invalid(_))
    ));
    assert!(matches!(
        read(&[0xc1], MAX_REPLY),
        Err(ReadError::Invalid(_))
    ));
    Ok(())
}

#[test]
fn replies_results_and_exceptions() {
    let reply = |entries: Vec<(Value, Value)>| parse_reply(Value::Map(entries));
    let got = reply(vec![
        (Value::from("i"), Value::from(3)),
        (Value::from("r"), Value::from("data")),
    ]);
    assert!(matches!(got, Ok((3, Ok(Value::String(_))))));
    let failed = reply(vec![
        (Value::from("i"), Value::from(4)),
        (
            Value::from("exception_class"),
            Value::from("ObjectNotFound"),
        ),
        (
            Value::from("exception_short"),
            Value::Array(vec![Value::from("Object with key 00 not found.\n")]),
        ),
    ]);
    let Ok((4, Err(RpcError::Remote { class, message }))) = failed else {
        panic!("not an exception: {failed:?}");
    };
    assert_eq!(class, "ObjectNotFound");
    assert_eq!(message, "Object with key 00 not found.");
    let old = parse_reply(Value::Array(vec![
        Value::from(1),
        Value::from(1),
        Value::Nil,
        Value::from(2),
    ]));
    assert!(matches!(old, Ok((1, Ok(Value::Integer(_))))));
    assert!(parse_reply(Value::from(5)).is_err());
    assert!(reply(vec![(Value::from("i"), Value::from(1))]).is_err());
}
