//! Borg's committed repository index (`index.N`), read in its own on-disk format: a hash table
//! of 32-byte object ids to (segment, offset), looked up in place rather than copied.

/// `BORG_IDX`, then entries and buckets (i32), key and value sizes (i8), little-endian.
const MAGIC: &[u8; 8] = b"BORG_IDX";
const HEADER_LEN: usize = 18;
const KEY_LEN: usize = 32;
/// A bucket whose value starts with these is empty (never used) or deleted.
const EMPTY: u32 = 0xffff_ffff;
const DELETED: u32 = 0xffff_fffe;

/// A hashindex file held in memory, checked to be consistent with its header.
pub struct HashIndex {
    data: Vec<u8>,
    buckets: usize,
    bucket_len: usize,
    entries: usize,
}

impl HashIndex {
    /// Checks the header and that the file holds exactly the buckets it announces.
    pub fn parse(data: Vec<u8>) -> Result<HashIndex, String> {
        let header = data.get(..HEADER_LEN).ok_or("shorter than its header")?;
        if &header[..8] != MAGIC {
            return Err("not a borg hashindex".into());
        }
        let int = |at: usize| {
            i32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let entries = usize::try_from(int(8)).map_err(|_| "negative entry count")?;
        let buckets = usize::try_from(int(12)).map_err(|_| "negative bucket count")?;
        let (key_len, value_len) = (usize::from(header[16]), usize::from(header[17]));
        // Borg 1.x's repository index maps to (segment, offset); later versions add a size.
        if key_len != KEY_LEN || !(8..=16).contains(&value_len) {
            return Err(format!(
                "key size {key_len} and value size {value_len} are not borg 1.x's"
            ));
        }
        let bucket_len = key_len + value_len;
        let expected = buckets
            .checked_mul(bucket_len)
            .and_then(|b| b.checked_add(HEADER_LEN));
        if expected != Some(data.len()) || buckets == 0 || entries > buckets {
            return Err("size does not match its header".into());
        }
        let index = HashIndex {
            data,
            buckets,
            bucket_len,
            entries,
        };
        // Lookups probe until an empty bucket: borg keeps a quarter or more of them empty
        // (rebuilding the table otherwise). A table with almost none would make every lookup
        // crawl through it, so it is not used: the segments are scanned instead.
        let empty = (0..buckets)
            .filter(|&at| {
                index
                    .bucket(at)
                    .is_some_and(|(_, segment, _)| segment == EMPTY)
            })
            .count();
        if empty < (buckets / 16).max(1) {
            return Err(format!(
                "only {empty} of {buckets} buckets empty, not as borg writes it"
            ));
        }
        Ok(index)
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    /// Where the object `id` is: (segment, offset). Linear probing from the bucket its first four
    /// bytes name, as borg's `_hashindex.c` does; stops at an empty bucket or after a full round.
    pub fn get(&self, id: &[u8; 32]) -> Option<(u32, u32)> {
        let start = u32::from_le_bytes([id[0], id[1], id[2], id[3]]) as usize % self.buckets;
        for step in 0..self.buckets {
            let (key, segment, offset) = self.bucket((start + step) % self.buckets)?;
            if segment == EMPTY {
                return None;
            }
            if segment != DELETED && key == id {
                return Some((segment, offset));
            }
        }
        None
    }

    fn bucket(&self, at: usize) -> Option<(&[u8], u32, u32)> {
        let from = HEADER_LEN + at * self.bucket_len;
        let bucket = self.data.get(from..from + self.bucket_len)?;
        let (key, value) = bucket.split_at(KEY_LEN);
        let word = |i: usize| {
            value
                .get(i..i + 4)
                .and_then(|w| w.try_into().ok())
                .map(u32::from_le_bytes)
        };
        Some((key, word(0)?, word(4)?))
    }
}

/// A hashindex as borg writes it, for tests: `entries` placed by linear probing.
#[cfg(test)]
pub fn build(buckets: usize, entries: &[([u8; 32], u32, u32)]) -> Vec<u8> {
    let mut table = vec![None; buckets];
    for (key, segment, offset) in entries {
        let mut at = u32::from_le_bytes([key[0], key[1], key[2], key[3]]) as usize % buckets;
        while table[at].is_some() {
            at = (at + 1) % buckets;
        }
        table[at] = Some((*key, *segment, *offset));
    }
    let mut out = MAGIC.to_vec();
    out.extend((entries.len() as i32).to_le_bytes());
    out.extend((buckets as i32).to_le_bytes());
    out.extend([32u8, 8u8]);
    for slot in table {
        let (key, segment, offset) = slot.unwrap_or(([0; 32], EMPTY, 0));
        out.extend(key);
        out.extend(segment.to_le_bytes());
        out.extend(offset.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(first: u8, last: u8) -> [u8; 32] {
        let mut key = [0u8; 32];
        key[0] = first;
        key[31] = last;
        key
    }

    #[test]
    fn lookups_follow_probing_and_stop_at_empty() -> Result<(), String> {
        // Both keys hash to bucket 1: the second lies in bucket 2.
        let (a, b) = (key(1, 1), key(5, 2));
        let index = HashIndex::parse(build(4, &[(a, 3, 100), (b, 4, 200)]))?;
        assert_eq!(index.len(), 2);
        assert_eq!(index.get(&a), Some((3, 100)));
        assert_eq!(index.get(&b), Some((4, 200)));
        assert_eq!(index.get(&key(1, 9)), None);
        Ok(())
    }

    #[test]
    fn inconsistent_headers_are_refused() {
        let good = build(4, &[(key(1, 1), 0, 8)]);
        assert!(HashIndex::parse(good[..good.len() - 1].to_vec()).is_err());
        let mut wrong_magic = good.clone();
        wrong_magic[0] = b'X';
        assert!(HashIndex::parse(wrong_magic).is_err());
        let mut huge = good;
        huge[12..16].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(HashIndex::parse(huge).is_err());
        assert!(HashIndex::parse(Vec::new()).is_err());
    }

    #[test]
    fn a_table_without_empty_buckets_is_not_used() {
        let full: Vec<_> = (0..4).map(|i| (key(i, i), 0, 8)).collect();
        assert!(HashIndex::parse(build(4, &full)).is_err());
        assert!(HashIndex::parse(build(4, &full[..3])).is_ok());
    }
}
