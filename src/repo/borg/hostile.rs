//! Hostile-input checks: every parser of repository bytes is fed random and mutated data and must
//! answer with an error or a value, never a panic; names from hostile paths stay inside the tree.

use super::*;

/// A small deterministic generator (xorshift), so that a failure repeats.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
    /// `base` with a few bytes changed, cut or extended.
    fn mutate(&mut self, base: &[u8]) -> Vec<u8> {
        let mut out = base.to_vec();
        for _ in 0..(self.next() % 4) {
            if out.is_empty() {
                break;
            }
            let at = (self.next() as usize) % out.len();
            out[at] = self.next() as u8;
        }
        if self.next().is_multiple_of(3) {
            out.truncate((self.next() as usize) % (out.len() + 1));
        }
        out
    }
}

#[test]
fn random_and_mutated_repository_bytes_never_panic() {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let item = {
        let chunk = rmpv::Value::Array(vec![
            rmpv::Value::Binary(vec![1; 32]),
            rmpv::Value::from(10),
            rmpv::Value::from(8),
        ]);
        let map = rmpv::Value::Map(vec![
            (rmpv::Value::from("path"), rmpv::Value::from("a/b")),
            (rmpv::Value::from("mode"), rmpv::Value::from(0o100644)),
            (rmpv::Value::from("chunks"), rmpv::Value::Array(vec![chunk])),
            (
                rmpv::Value::from("acl_access"),
                rmpv::Value::from("user::rw-\nuser:x:r--:7"),
            ),
        ]);
        let mut packed = Vec::new();
        let _ = rmpv::encode::write_value(&mut packed, &map);
        packed
    };
    let index = hashindex::build(8, &[([3; 32], 1, 8)]);
    let compressed = [&[1u8, 0][..], &lz4_flex::block::compress(&[7u8; 5000])].concat();
    let blob = key::tests::make_blob("pw", &key::tests::inner_key());
    for round in 0..3000u32 {
        let random = noise.bytes(300);
        let inputs = [
            random,
            noise.mutate(&item),
            noise.mutate(&index),
            noise.mutate(&compressed),
        ];
        for input in &inputs {
            let _ = compress::decompress(input);
            let _ = hashindex::HashIndex::parse(input.clone()).map(|i| i.get(&[3; 32]));
            let _ = segments::EntryHeader::parse(input);
            let _ = acl::to_xattr(input);
            let _ = config::parse(&String::from_utf8_lossy(input));
            if let Ok((value, _)) = msgpack::decode(input)
                && let Ok(parsed) = items::parse(&value)
            {
                let mut builder = tree::Builder::new(crate::meta::Timestamp::EPOCH);
                builder.add(parsed);
                let _ = builder.finish();
            }
        }
        // Key blobs are slow to try (PBKDF2): a few rounds only.
        if round.is_multiple_of(100) {
            let mutated = noise.mutate(blob.as_bytes());
            let _ = key::decrypt_blob(
                key::mode(0x03).unwrap_or_else(|_| panic!("mode")),
                &String::from_utf8_lossy(&mutated),
                "pw",
            );
        }
    }
}

#[test]
fn hostile_paths_stay_inside_the_archive() {
    use items::{Content, Item};
    let mut builder = tree::Builder::new(crate::meta::Timestamp::EPOCH);
    for path in [
        "../../etc/passwd",
        "/abs",
        "a//b",
        "./c/../d",
        "",
        "..",
        "e/\0f",
    ] {
        builder.add(Item {
            path: path.as_bytes().to_vec(),
            meta: crate::meta::Meta::synthetic(
                crate::meta::FileKind::File,
                0o644,
                0,
                crate::meta::Timestamp::EPOCH,
            ),
            content: Content::Other,
            xattrs: None,
        });
    }
    let tree = builder.finish();
    let names: Vec<Vec<u8>> = tree.children(0).iter().map(|(n, _)| n.to_vec()).collect();
    for name in &names {
        assert!(crate::names::is_plain(name), "{name:?} shown at the root");
    }
    assert!(
        !names.iter().any(|n| n == b".." || n == b"etc"),
        "{names:?}"
    );
}
