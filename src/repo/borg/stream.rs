//! An archive's item stream: its metadata chunks, opened one after another, decoded as a
//! sequence of msgpack maps that may span chunk boundaries.

use super::msgpack::{self, DecodeError};
use super::store::Store;

/// One item larger than this is damage, not metadata (borg's items are far smaller).
const MAX_PENDING: usize = 64 << 20;

/// Calls `each` with every item of the stream made of chunks `ids`.
pub fn for_each_item(
    store: &Store,
    ids: &[[u8; 32]],
    each: &mut dyn FnMut(rmpv::Value),
) -> Result<(), String> {
    let mut pending: Vec<u8> = Vec::new();
    for id in ids {
        pending.extend_from_slice(&store.get(id).map_err(|e| format!("item metadata: {e}"))?);
        let mut at = 0;
        loop {
            let rest = pending.get(at..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            match msgpack::decode(rest) {
                Ok((value, used)) => {
                    each(value);
                    at += used.max(1);
                }
                Err(DecodeError::Truncated) => break,
                Err(DecodeError::Invalid(why)) => return Err(format!("item metadata: {why}")),
            }
        }
        pending.drain(..at.min(pending.len()));
        if pending.len() > MAX_PENDING {
            return Err("item metadata: an item larger than any borg writes".into());
        }
    }
    if !pending.is_empty() {
        return Err("item metadata: the stream ends inside an item".into());
    }
    Ok(())
}
