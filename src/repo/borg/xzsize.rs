//! How many bytes an xz stream decodes to, read from its LZMA2 chunk headers without decoding it.
//! lzma_rs keeps the whole output of an LZMA2 stream in memory before it writes any of it, so an
//! output bound on its writer comes too late: a small hostile object in an unencrypted repository
//! could ask for gigabytes. Each LZMA2 chunk states its unpacked size, so the total is known first.

/// The unpacked size of the LZMA2 data in an xz stream (every block), or why it cannot be told.
pub fn unpacked_size(xz: &[u8]) -> Result<u64, String> {
    let header = xz.get(..12).ok_or("xz: no stream header")?;
    if header.get(..6) != Some(&b"\xfd7zXZ\x00"[..]) {
        return Err("xz: not an xz stream".into());
    }
    let check_size = match header.get(7).map(|f| f & 0x0f) {
        Some(0x00) => 0,
        Some(0x01) => 4,
        Some(0x04) => 8,
        Some(0x0a) => 32,
        _ => return Err("xz: an unknown check type".into()),
    };
    let mut at = 12;
    let mut total: u64 = 0;
    loop {
        let size_byte = *xz.get(at).ok_or("xz: truncated before its index")?;
        if size_byte == 0 {
            return Ok(total); // the index: no more blocks
        }
        at += (usize::from(size_byte) + 1) * 4; // the block header
        let (unpacked, end) = lzma2_chunks(xz, at)?;
        total = total.saturating_add(unpacked);
        // Block padding to a multiple of four, then the check.
        at = end.next_multiple_of(4) + check_size;
    }
}

/// Walks the LZMA2 chunks starting at `at`; returns their unpacked total and where they end.
fn lzma2_chunks(xz: &[u8], mut at: usize) -> Result<(u64, usize), String> {
    let byte = |i: usize| xz.get(i).copied().ok_or("xz: truncated LZMA2 data");
    let be16 = |i: usize| -> Result<usize, &str> {
        Ok(usize::from(byte(i)?) << 8 | usize::from(byte(i + 1)?))
    };
    let mut total: u64 = 0;
    loop {
        let control = byte(at)?;
        let (unpacked, header, packed) = match control {
            0x00 => return Ok((total, at + 1)),
            // An uncompressed chunk: its size, then its bytes.
            0x01 | 0x02 => {
                let size = be16(at + 1)? + 1;
                (size, 3, size)
            }
            0x80..=0xff => {
                let unpacked = (usize::from(control & 0x1f) << 16 | be16(at + 1)?) + 1;
                let packed = be16(at + 3)? + 1;
                // A new properties byte follows when the chunk resets the state and properties.
                let header = if control >= 0xc0 { 6 } else { 5 };
                (unpacked, header, packed)
            }
            _ => return Err(format!("xz: an unknown LZMA2 control byte {control:#04x}")),
        };
        total = total.saturating_add(unpacked as u64);
        at += header + packed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut input = data;
        let compressed = lzma_rs::xz_compress(&mut input, &mut out);
        assert!(compressed.is_ok());
        out
    }

    #[test]
    fn the_size_is_read_from_the_chunk_headers() {
        for len in [0usize, 1, 1000, 3 << 20] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(unpacked_size(&xz(&data)), Ok(len as u64), "{len}");
        }
    }

    #[test]
    fn broken_streams_are_refused_not_guessed() {
        let good = xz(b"some data to compress");
        for cut in [0, 5, 12, 13, good.len() / 2] {
            assert!(unpacked_size(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_control = good.clone();
        if let Some(first_chunk) = bad_control.get_mut(12 + (usize::from(good[12]) + 1) * 4) {
            *first_chunk = 0x10;
        }
        assert!(unpacked_size(&bad_control).is_err());
        assert!(unpacked_size(b"not xz at all").is_err());
    }

    /// A stream whose chunks claim 2 MiB each from one packed byte: a decompression bomb.
    fn bomb(chunks: usize) -> Vec<u8> {
        let mut out = b"\xfd7zXZ\x00\x00\x01\x00\x00\x00\x00".to_vec();
        out.extend([0x02, 0, 0x21, 0x01, 0x16, 0, 0, 0, 0, 0, 0, 0]); // a 12-byte block header
        for _ in 0..chunks {
            out.extend([0xff, 0xff, 0xff, 0x00, 0x00, 0x5d, 0x00]);
        }
        out.push(0x00);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend([0, 0, 0, 0, 0]); // the check, then the index indicator
        out
    }

    #[test]
    fn a_bomb_is_measured_before_it_is_decoded() {
        assert_eq!(unpacked_size(&bomb(40)), Ok(40 << 21));
        let mut envelope = vec![0x02, 0x00];
        envelope.extend(bomb(40));
        let refused = super::super::compress::decompress(&envelope);
        assert_eq!(refused, Err("decompressed data too large".to_string()));
    }
}
