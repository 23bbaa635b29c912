//! An archive's item stream: its metadata chunks, opened one after another (on a second thread,
//! ahead of the decoding; from a server, several requested at once), decoded as a sequence of
//! msgpack maps that may span chunk boundaries.

use std::sync::mpsc::sync_channel;

use super::msgpack::{self, DecodeError};
use super::store::Store;

/// One item larger than this is damage, not metadata: a file's item lists its chunks, about 50
/// bytes each, so this is a file of some five million chunks (terabytes).
const MAX_PENDING: usize = 256 << 20;
/// Chunks opened ahead of the decoding (borg's item chunks are some hundred KiB).
const AHEAD: usize = 4;

/// Calls `each` with every item of the stream made of chunks `ids`.
pub fn for_each_item(
    store: &Store,
    ids: &[[u8; 32]],
    each: &mut dyn FnMut(rmpv::Value),
) -> Result<(), String> {
    std::thread::scope(|scope| {
        let (send, receive) = sync_channel(AHEAD);
        // Opening a chunk (read, MAC, decrypt, decompress) overlaps with decoding the one before.
        let opener = std::thread::Builder::new().spawn_scoped(scope, move || {
            for chunk in store.get_many(ids) {
                let failed = chunk.is_err();
                if send.send(chunk).is_err() || failed {
                    break;
                }
            }
        });
        if let Err(err) = opener {
            // No thread to be had: open the chunks here, one after another.
            tracing::debug!("item chunks opened without a helper thread: {err}");
            return decode_all(store.get_many(ids), each);
        }
        decode_all(receive.into_iter(), each)
    })
}

/// Decodes the items of the chunks `chunks` gives, in order.
fn decode_all(
    chunks: impl Iterator<Item = Result<Vec<u8>, String>>,
    each: &mut dyn FnMut(rmpv::Value),
) -> Result<(), String> {
    let mut pending: Vec<u8> = Vec::new();
    // An item that spans chunks is decoded again from its start at every try: the next try waits
    // until what is pending has doubled, so a huge item (a file of a million chunks) costs a few
    // decodes, not one per chunk.
    let mut retry_at = 0;
    for chunk in chunks {
        pending.extend_from_slice(&chunk.map_err(|e| format!("item metadata: {e}"))?);
        if pending.len() < retry_at {
            continue;
        }
        let used = decode_complete(&pending, each)?;
        pending.drain(..used.min(pending.len()));
        if pending.len() > MAX_PENDING {
            return Err("item metadata: an item larger than any borg writes".into());
        }
        retry_at = pending.len().saturating_mul(2);
    }
    let used = decode_complete(&pending, each)?;
    if used < pending.len() {
        return Err("item metadata: the stream ends inside an item".into());
    }
    Ok(())
}

/// Decodes the complete items at the start of `bytes`; returns the bytes they took.
fn decode_complete(bytes: &[u8], each: &mut dyn FnMut(rmpv::Value)) -> Result<usize, String> {
    let mut at = 0;
    while let Some(rest) = bytes.get(at..).filter(|r| !r.is_empty()) {
        match msgpack::decode(rest) {
            Ok((value, used)) => {
                each(value);
                at += used.max(1);
            }
            Err(DecodeError::Truncated) => break,
            Err(DecodeError::Invalid(why)) => return Err(format!("item metadata: {why}")),
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_span_chunks() -> Result<(), String> {
        // Three items {"path": "a"}, {"path": "bb"}, {"path": "c"}, cut inside the second.
        let packed = [
            &[0x81, 0xa4][..],
            b"path",
            &[0xa1, b'a', 0x81, 0xa4],
            b"path",
            &[0xa2, b'b', b'b', 0x81, 0xa4],
            b"path",
            &[0xa1, b'c'],
        ]
        .concat();
        let (one, two) = packed.split_at(10);
        let mut paths = Vec::new();
        let chunks = [Ok(one.to_vec()), Ok(two.to_vec())];
        decode_all(chunks.into_iter(), &mut |v| {
            paths.push(msgpack::get_bytes(&v, "path").map(<[u8]>::to_vec))
        })?;
        assert_eq!(
            paths,
            [
                Some(b"a".to_vec()),
                Some(b"bb".to_vec()),
                Some(b"c".to_vec())
            ]
        );
        let cut = [Ok(packed[..packed.len() - 1].to_vec())];
        assert!(decode_all(cut.into_iter(), &mut |_| {}).is_err());
        Ok(())
    }

    #[test]
    fn an_item_over_a_thousand_chunks_decodes_whole() -> Result<(), String> {
        // One item, {"path": <100,000 bytes>}, cut into 1,000 chunks of 100 bytes.
        let mut packed = vec![0x81, 0xa4];
        packed.extend(b"path");
        packed.push(0xc6); // bin 32
        packed.extend(100_000u32.to_be_bytes());
        packed.extend(std::iter::repeat_n(b'x', 100_000));
        let chunks: Vec<Result<Vec<u8>, String>> =
            packed.chunks(100).map(|c| Ok(c.to_vec())).collect();
        let mut items = 0;
        decode_all(chunks.into_iter(), &mut |_| items += 1)?;
        assert_eq!(items, 1);
        Ok(())
    }
}
