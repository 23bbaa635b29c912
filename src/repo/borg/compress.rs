//! Borg's compression envelope: two type bytes (none, lz4, lzma, zstd, obfuscated size) or a bare
//! zlib stream, each decoded with an output bound so that no chunk can ask for unbounded memory.

use std::io::Read;

/// No decompressed chunk is larger: borg's chunks are at most 8 MiB (fixed-size chunking up to
/// its 20 MiB object limit), and its own lz4 decoder gives up at 128 MiB.
pub const MAX_DECOMPRESSED: usize = 64 << 20;

/// The decompressed bytes of a compressed chunk.
pub fn decompress(data: &[u8]) -> Result<Vec<u8>, String> {
    decompress_at_depth(data, 0)
}

fn decompress_at_depth(data: &[u8], depth: u8) -> Result<Vec<u8>, String> {
    let (kind, body) = match data {
        [a, b, rest @ ..] => ([*a, *b], rest),
        _ => return Err("compressed data shorter than its header".into()),
    };
    match kind {
        [0x00, 0x00] => Ok(body.to_vec()),
        [0x01, 0x00] => lz4(body),
        [0x02, 0x00] => xz(body),
        [0x03, 0x00] => bounded(zstd::stream::read::Decoder::new(body).map_err(|e| e.to_string())?),
        [0x04, 0x00] if depth == 0 => {
            // Obfuscated size: a big-endian length, the real envelope, then padding.
            let (len, rest) = body
                .split_at_checked(4)
                .ok_or("obfuscated data too short")?;
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let inner = rest.get(..len).ok_or("obfuscated length beyond the data")?;
            decompress_at_depth(inner, depth + 1)
        }
        [cmf, flg] if cmf & 0x0f == 8 && (u16::from(cmf) * 256 + u16::from(flg)) % 31 == 0 => {
            // zlib keeps its own header: borg detects it instead of adding type bytes.
            bounded(flate2::read::ZlibDecoder::new(data))
        }
        [a, b] => Err(format!("unknown compression {a:02x}{b:02x}")),
    }
}

/// Reads a decoder to its end, refusing output beyond `MAX_DECOMPRESSED`.
fn bounded(reader: impl Read) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > MAX_DECOMPRESSED {
        return Err("decompressed data too large".into());
    }
    Ok(out)
}

/// Borg stores lz4 blocks without their size: grow the output until the block fits, as borg does.
fn lz4(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut size = (body.len().saturating_mul(3)).clamp(1 << 16, MAX_DECOMPRESSED);
    loop {
        let mut out = vec![0u8; size];
        match lz4_flex::block::decompress_into(body, &mut out) {
            Ok(n) => {
                out.truncate(n);
                return Ok(out);
            }
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. })
                if size < MAX_DECOMPRESSED =>
            {
                size = size.saturating_mul(4).min(MAX_DECOMPRESSED);
            }
            Err(err) => return Err(format!("lz4: {err}")),
        }
    }
}

/// Python's lzma module writes xz containers; lzma_rs decodes them in pure Rust. It holds the
/// whole output before writing any, so the size is read from the chunk headers first.
fn xz(body: &[u8]) -> Result<Vec<u8>, String> {
    if super::xzsize::unpacked_size(body)? > MAX_DECOMPRESSED as u64 {
        return Err("decompressed data too large".into());
    }
    let mut out = Limited(Vec::new());
    let mut input = body;
    lzma_rs::xz_decompress(&mut input, &mut out).map_err(|e| format!("lzma: {e}"))?;
    Ok(out.0)
}

/// A `Write` that refuses to grow past `MAX_DECOMPRESSED` (lzma_rs writes its whole output).
struct Limited(Vec<u8>);

impl std::io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_DECOMPRESSED {
            return Err(std::io::Error::other("decompressed data too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn each_envelope_decodes() -> Result<(), Box<dyn std::error::Error>> {
        let plain = b"borg borg borg borg borg borg borg".repeat(100);
        let mut none = vec![0, 0];
        none.extend(&plain);
        assert_eq!(decompress(&none)?, plain);
        let mut lz4 = vec![1, 0];
        lz4.extend(lz4_flex::block::compress(&plain));
        assert_eq!(decompress(&lz4)?, plain);
        let mut zstd_data = vec![3, 0];
        zstd_data.extend(zstd::encode_all(&plain[..], 3)?);
        assert_eq!(decompress(&zstd_data)?, plain);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&plain)?;
        assert_eq!(decompress(&zlib.finish()?)?, plain);
        let mut obfuscated = vec![4, 0];
        obfuscated.extend((lz4.len() as u32).to_be_bytes());
        obfuscated.extend(&lz4);
        obfuscated.extend([0u8; 100]);
        assert_eq!(decompress(&obfuscated)?, plain);
        Ok(())
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decompress(&[0x07, 0x00, 1, 2]).is_err());
        assert!(decompress(&[0x01]).is_err());
        assert!(decompress(&[0x01, 0x00, 0xff, 0xff, 0xff]).is_err());
        assert!(decompress(&[0x04, 0x00, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
