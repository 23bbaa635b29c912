//! Which stretches of a segment a reader has streamed through: ground read densely and in order,
//! which the page cache need not keep, since every object read out of it is decrypted and kept
//! elsewhere (the blob cache, the kernel's cache of the mounted file). A segment is hundreds of MiB
//! and stays open, so unlike restic's packs it is judged a stretch at a time, behind the reader.

use std::ops::Range;

/// Ground a stretch covers before it is judged: a few scattered reads are not taken for a stream.
const STRETCH: u64 = 16 << 20;
/// How far out of order a read may land and still continue the stretch, and how much is kept
/// behind its far end: the read-ahead workers read up to 16 chunks (2 MiB each on average) ahead
/// of the reader, in any order, and a page dropped just before a worker reads it would be read
/// from disk again.
const REACH: u64 = 32 << 20;

/// The stretch of one segment being read.
#[derive(Debug, Default)]
pub struct ReadThrough {
    start: u64,
    end: u64,
    asked: u64,
}

impl ReadThrough {
    /// Notes a read of `len` bytes at `offset`; returns a range read through, for the page cache
    /// to drop, once a stretch is long enough and at least half of it was asked for.
    pub fn note(&mut self, offset: u64, len: u64) -> Option<Range<u64>> {
        let end = offset.saturating_add(len);
        let continues =
            offset.saturating_add(REACH) >= self.start && offset <= self.end.saturating_add(REACH);
        if !continues {
            *self = ReadThrough {
                start: offset,
                end,
                asked: len,
            };
            return None;
        }
        self.end = self.end.max(end);
        self.asked = self.asked.saturating_add(len);
        let ground = self.end.saturating_sub(self.start);
        if ground < STRETCH + REACH {
            return None;
        }
        let dense = self.asked.saturating_mul(2) >= ground;
        let through = self.start..self.end - REACH;
        // What was asked of the part kept goes on counting: all of it, for a stream.
        self.asked = self.asked.saturating_sub(through.end - through.start);
        self.start = through.end;
        dense.then_some(through)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_stream_is_dropped_32_mib_behind_the_reader() {
        let mut seen = ReadThrough::default();
        let mut dropped = Vec::new();
        for i in 0..80 {
            dropped.extend(seen.note(i * MIB, MIB));
        }
        assert_eq!(
            dropped,
            [0..16 * MIB, 16 * MIB..32 * MIB, 32 * MIB..48 * MIB]
        );
    }

    #[test]
    fn out_of_order_reads_continue_the_stream() {
        let mut seen = ReadThrough::default();
        let mut dropped = Vec::new();
        // Chunks of 2 MiB, each pair read second one first.
        for i in 0..32u64 {
            let at = if i % 2 == 0 { i + 1 } else { i - 1 };
            dropped.extend(seen.note(at * 2 * MIB, 2 * MIB));
        }
        assert_eq!(dropped, [0..16 * MIB, 16 * MIB..32 * MIB]);
    }

    #[test]
    fn scattered_reads_drop_nothing() {
        let mut seen = ReadThrough::default();
        // Small reads 1 MiB apart: each continues the stretch, but a tenth of it is asked for.
        let dropped: Vec<_> = (0..100)
            .filter_map(|i| seen.note(i * MIB, 100 << 10))
            .collect();
        assert!(dropped.is_empty(), "{dropped:?}");
        // Random places far apart never make a stretch at all.
        let mut seen = ReadThrough::default();
        for at in [300, 10, 200, 50, 400, 120] {
            assert_eq!(seen.note(at * MIB, MIB), None);
        }
    }
}
