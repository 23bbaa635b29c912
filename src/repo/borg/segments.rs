//! Borg's segment files (`data/<dir>/<n>`): the log of PUT, DELETE and COMMIT entries. Objects are
//! read with positioned reads, each entry's CRC32 and key checked; nothing is ever written.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::readthrough::ReadThrough;

pub const MAGIC: &[u8; 8] = b"BORG_SEG";
pub const TAG_PUT: u8 = 0;
pub const TAG_DELETE: u8 = 1;
pub const TAG_COMMIT: u8 = 2;
/// crc32 (u32), size (u32, the whole entry), tag (u8); PUT and DELETE add the 32-byte key.
pub const HEADER_LEN: usize = 9;
pub const KEYED_HEADER_LEN: usize = 41;
/// Borg's MAX_OBJECT_SIZE: no entry is larger, so no read is sized beyond it.
pub const MAX_OBJECT_SIZE: u32 = 20 * 1024 * 1024;
/// Segment files kept open; more are opened again when needed.
const OPEN_FILES: usize = 64;

/// An entry's header as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHeader {
    pub crc: u32,
    pub size: u32,
    pub tag: u8,
}

impl EntryHeader {
    /// Parses the 9 header bytes; the size must fit the tag and borg's limit.
    pub fn parse(bytes: &[u8]) -> Result<EntryHeader, String> {
        let b: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or("short entry header")?;
        let header = EntryHeader {
            crc: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            size: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            tag: b[8],
        };
        let min = match header.tag {
            TAG_PUT | TAG_DELETE => KEYED_HEADER_LEN,
            TAG_COMMIT => HEADER_LEN,
            tag => return Err(format!("unknown entry tag {tag}")),
        };
        if (header.size as usize) < min || header.size > MAX_OBJECT_SIZE {
            return Err(format!("entry size {} out of bounds", header.size));
        }
        Ok(header)
    }
}

/// The CRC32 borg stores: over the entry after the crc field.
pub fn crc_ok(header: &EntryHeader, entry: &[u8]) -> bool {
    entry.get(4..).map(crc32fast::hash) == Some(header.crc)
}

/// The segment files of a repository, opened on demand.
pub struct Segments {
    data: PathBuf,
    per_dir: u32,
    open: Mutex<HashMap<u32, Arc<OpenSegment>>>,
}

/// An open segment file, and the stretch of it being read.
struct OpenSegment {
    file: File,
    reading: Mutex<ReadThrough>,
}

impl OpenSegment {
    /// Notes a read; the page cache is told to drop what a reader has streamed through.
    fn note_read(&self, offset: u32, len: u32) {
        let through = self
            .reading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note(u64::from(offset), u64::from(len));
        #[cfg(target_os = "linux")]
        if let Some(range) = through {
            // Advice only: the kernel keeps pages another reader holds.
            let _ = rustix::fs::fadvise(
                &self.file,
                range.start,
                std::num::NonZeroU64::new(range.end - range.start),
                rustix::fs::Advice::DontNeed,
            );
        }
        #[cfg(not(target_os = "linux"))]
        let _ = through;
    }
}

impl Segments {
    pub fn new(repo: &Path, per_dir: u32) -> Segments {
        Segments {
            data: repo.join("data"),
            per_dir: per_dir.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    pub fn path(&self, segment: u32) -> PathBuf {
        self.data
            .join((segment / self.per_dir).to_string())
            .join(segment.to_string())
    }

    fn file(&self, segment: u32) -> std::io::Result<Arc<OpenSegment>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = open.get(&segment) {
            return Ok(file.clone());
        }
        let file = Arc::new(OpenSegment {
            file: crate::repo::localfs::open_repo_file(&self.path(segment))?,
            reading: Mutex::new(ReadThrough::default()),
        });
        if open.len() >= OPEN_FILES {
            open.clear();
        }
        open.insert(segment, file.clone());
        Ok(file)
    }

    /// Forgets open files, so that segments compacted away are not read through old handles.
    pub fn forget_open(&self) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The data of the PUT of `id` at (segment, offset), its CRC and key checked.
    pub fn read_put(&self, id: &[u8; 32], segment: u32, offset: u32) -> Result<Vec<u8>, String> {
        let what = |why: &str| format!("segment {segment} offset {offset}: {why}");
        let open = self.file(segment).map_err(|e| what(&e.to_string()))?;
        let file = &open.file;
        let mut head = [0u8; KEYED_HEADER_LEN];
        read_exact_at(file, &mut head, u64::from(offset)).map_err(|e| what(&e.to_string()))?;
        let header = EntryHeader::parse(&head).map_err(|e| what(&e))?;
        if header.tag != TAG_PUT || head[HEADER_LEN..] != id[..] {
            return Err(what("not the PUT of this object"));
        }
        let mut entry = vec![0u8; header.size as usize];
        read_exact_at(file, &mut entry, u64::from(offset)).map_err(|e| what(&e.to_string()))?;
        open.note_read(offset, header.size);
        if !crc_ok(&header, &entry) {
            return Err(what("CRC mismatch"));
        }
        entry.drain(..KEYED_HEADER_LEN);
        Ok(entry)
    }

    /// The numbers of all segment files, ascending.
    pub fn list(&self) -> std::io::Result<Vec<u32>> {
        let mut found = Vec::new();
        let dirs = match std::fs::read_dir(&self.data) {
            Ok(dirs) => dirs,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(err) => return Err(err),
        };
        for dir in dirs {
            let dir = dir?;
            if number(&dir.file_name()).is_none() || !dir.file_type()?.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(dir.path())? {
                if let Some(n) = number(&file?.file_name()) {
                    found.push(n);
                }
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// Whether a segment ends with a COMMIT entry, as borg decides the last committed one.
    pub fn ends_with_commit(&self, segment: u32) -> bool {
        let Ok(open) = self.file(segment) else {
            return false;
        };
        let file = &open.file;
        let Ok(len) = file.metadata().map(|m| m.len()) else {
            return false;
        };
        let mut tail = [0u8; HEADER_LEN];
        let Some(at) = len.checked_sub(HEADER_LEN as u64).filter(|at| *at >= 8) else {
            return false;
        };
        read_exact_at(file, &mut tail, at).is_ok()
            && EntryHeader::parse(&tail).is_ok_and(|h| h.tag == TAG_COMMIT && crc_ok(&h, &tail))
    }

    /// Calls `each(tag, key, offset)` for every entry of a segment, reading only headers. Stops
    /// quietly at a damaged or truncated entry: what follows it is not committed for borg either.
    pub fn scan(
        &self,
        segment: u32,
        each: &mut dyn FnMut(u8, [u8; 32], u32),
    ) -> Result<(), String> {
        let open = self
            .file(segment)
            .map_err(|e| format!("segment {segment}: {e}"))?;
        let file = &open.file;
        let len = file
            .metadata()
            .map_err(|e| format!("segment {segment}: {e}"))?
            .len();
        let mut magic = [0u8; 8];
        read_exact_at(file, &mut magic, 0).map_err(|e| format!("segment {segment}: {e}"))?;
        if &magic != MAGIC {
            return Err(format!("segment {segment}: not a borg segment"));
        }
        let mut offset = 8u64;
        while offset + HEADER_LEN as u64 <= len {
            let mut head = [0u8; KEYED_HEADER_LEN];
            let want = (len - offset).min(KEYED_HEADER_LEN as u64) as usize;
            let Some(buf) = head.get_mut(..want) else {
                break;
            };
            if read_exact_at(file, buf, offset).is_err() {
                break;
            }
            let Ok(header) = EntryHeader::parse(&head) else {
                break;
            };
            if offset + u64::from(header.size) > len || offset > u64::from(u32::MAX) {
                break;
            }
            let mut key = [0u8; 32];
            if header.tag != TAG_COMMIT {
                key.copy_from_slice(&head[HEADER_LEN..]);
            }
            each(header.tag, key, offset as u32);
            offset += u64::from(header.size);
        }
        Ok(())
    }
}

fn number(name: &std::ffi::OsStr) -> Option<u32> {
    let name = name.to_str()?;
    name.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| name.parse().ok())?
}

/// Fills `buf` from `offset` with positioned reads, which need no shared file position.
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            let Some(rest) = buf.get_mut(done..) else {
                break;
            };
            match file.seek_read(rest, offset + done as u64)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry as borg writes it.
    fn entry(tag: u8, key: Option<[u8; 32]>, data: &[u8]) -> Vec<u8> {
        let size = HEADER_LEN + key.map_or(0, |_| 32) + data.len();
        let mut body = (size as u32).to_le_bytes().to_vec();
        body.push(tag);
        if let Some(key) = key {
            body.extend(key);
        }
        body.extend(data);
        let mut out = crc32fast::hash(&body).to_le_bytes().to_vec();
        out.extend(body);
        out
    }

    #[test]
    fn entries_are_read_scanned_and_checked() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("data/0"))?;
        let id = [7u8; 32];
        let mut segment = MAGIC.to_vec();
        segment.extend(entry(TAG_PUT, Some(id), b"hello"));
        segment.extend(entry(TAG_COMMIT, None, b""));
        std::fs::write(dir.path().join("data/0/3"), &segment)?;
        let segments = Segments::new(dir.path(), 1000);
        assert_eq!(segments.list()?, vec![3]);
        assert!(segments.ends_with_commit(3));
        assert_eq!(segments.read_put(&id, 3, 8)?, b"hello");
        assert!(segments.read_put(&[8u8; 32], 3, 8).is_err());
        let mut seen = Vec::new();
        segments.scan(3, &mut |tag, _, offset| seen.push((tag, offset)))?;
        assert_eq!(seen, vec![(TAG_PUT, 8), (TAG_COMMIT, 54)]);
        // A flipped data byte fails the CRC.
        segment[50] ^= 1;
        std::fs::write(dir.path().join("data/0/3"), &segment)?;
        segments.forget_open();
        assert!(segments.read_put(&id, 3, 8).is_err());
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_segment_that_is_not_a_regular_file_is_refused_without_blocking()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("data/0/4"))?;
        let fifo = dir.path().join("data/0/5");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes())?;
        // SAFETY: a NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let segments = Segments::new(dir.path(), 1000);
        for segment in [4, 5] {
            let err = segments.scan(segment, &mut |_, _, _| {}).unwrap_err();
            assert!(err.contains("not a regular file"), "{err}");
            assert!(!segments.ends_with_commit(segment));
        }
        Ok(())
    }

    #[test]
    fn oversized_and_unknown_entries_are_refused() {
        let mut big = entry(TAG_PUT, Some([0; 32]), b"");
        big[4..8].copy_from_slice(&(MAX_OBJECT_SIZE + 1).to_le_bytes());
        assert!(EntryHeader::parse(&big).is_err());
        assert!(EntryHeader::parse(&entry(9, None, b"")).is_err());
        assert!(EntryHeader::parse(&[0u8; 4]).is_err());
    }
}
