//! Argon2 key blobs from an independent implementation: the vectors below were made with Python's
//! `cryptography` 48 (OpenSSL's Argon2id, ChaCha20-Poly1305, AES-CTR and Python's hmac) following
//! borg's layouts; borg itself (Debian's 1.2.4) cannot write Argon2 keys.

use super::*;

const PASSPHRASE: &str = "correct horse";
const INNER: &[u8] = b"the key blob's msgpack, as an independent implementation encrypts it";
/// Argon2id, 256 KiB, 2 passes, 2 lanes, salt 00..0f; tag then ciphertext.
const CHACHA: &str = "3350bc042c9d176eee7b1273f7974e92e724f49d7685ef0ad849fb79f1e53221029b267bb27f4112e67be30104f2310f901f32c2b3a6f2a92c694f0d575e16a70bd0e4e09d1cba1b4e06a8601e76d92ae2244cad";
/// The same Argon2id, 64 bytes out; MAC, IV 7, ciphertext.
const AES_HMAC: &str = "c2191604476f8f25d9ffe552506aa048298e13eefc5b66fe5cd46fa75f38ea84000000000000000734dd1d2e93012c22d121feb3eac4f6d323a4563b679e3c95f587e11ac76d110136a9df896a930af5f1c39f654103ee49dcb0f7cf68bd661da14ef4e217ff9231d22b7099";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or_else(|_| panic!("hex")))
        .collect()
}

/// A blob's outer map as borg packs it, with `memory` KiB.
pub fn outer(algorithm: &str, data: Vec<u8>, memory: u64) -> Value {
    Value::Map(vec![
        (Value::from("version"), Value::from(1)),
        (Value::from("algorithm"), Value::from(algorithm)),
        (Value::from("salt"), Value::Binary((0..16).collect())),
        (Value::from("data"), Value::Binary(data)),
        (Value::from("argon2_time_cost"), Value::from(2)),
        (Value::from("argon2_memory_cost"), Value::from(memory)),
        (Value::from("argon2_parallelism"), Value::from(2)),
        (Value::from("argon2_type"), Value::from("id")),
    ])
}

#[test]
fn both_layouts_open_what_an_independent_implementation_sealed() -> Result<(), String> {
    for (algorithm, data) in [
        ("argon2 chacha20-poly1305", CHACHA),
        ("argon2 aes256-ctr hmac-sha256", AES_HMAC),
    ] {
        let layout = layout(algorithm.as_bytes()).ok_or("a known layout")?;
        let blob = outer(algorithm, unhex(data), 256);
        let plain = open(layout, &blob, PASSPHRASE).map_err(|e| format!("{e:?}"))?;
        assert_eq!(plain.as_slice(), INNER, "{algorithm}");
        assert_eq!(
            open(layout, &blob, "wrong horse"),
            Err(KeyError::WrongPassphrase),
            "{algorithm}"
        );
        // Other parameters derive another key: the tag or MAC fails, as for a wrong passphrase.
        let other = outer(algorithm, unhex(data), 512);
        assert_eq!(
            open(layout, &other, PASSPHRASE),
            Err(KeyError::WrongPassphrase)
        );
        let mut flipped = unhex(data);
        if let Some(last) = flipped.last_mut() {
            *last ^= 1;
        }
        let tampered = outer(algorithm, flipped, 256);
        assert_eq!(
            open(layout, &tampered, PASSPHRASE),
            Err(KeyError::WrongPassphrase)
        );
    }
    assert_eq!(layout(b"sha256"), None);
    Ok(())
}

#[test]
fn hostile_costs_are_refused_before_any_work() {
    let layout = Layout::ChaCha20Poly1305;
    let with = |field: &str, value: Value| {
        let Value::Map(mut entries) = outer("argon2 chacha20-poly1305", unhex(CHACHA), 256) else {
            unreachable!("a map")
        };
        for (key, old) in entries.iter_mut() {
            if key.as_str() == Some(field) {
                *old = value.clone();
            }
        }
        open(layout, &Value::Map(entries), PASSPHRASE)
    };
    let refused = |result: Result<Zeroizing<Vec<u8>>, KeyError>, what: &str| match result {
        Err(KeyError::Invalid(message)) => assert!(message.contains(what), "{message}"),
        other => panic!("{what}: {other:?}"),
    };
    // 4 TiB of memory, 2^32 passes: refused at once, nothing allocated.
    refused(
        with("argon2_memory_cost", Value::from(1u64 << 32)),
        "argon2_memory_cost",
    );
    refused(
        with("argon2_memory_cost", Value::from((1u64 << 20) + 1)),
        "argon2_memory_cost",
    );
    refused(
        with("argon2_time_cost", Value::from(u32::MAX)),
        "argon2_time_cost",
    );
    refused(with("argon2_time_cost", Value::from(0)), "argon2_time_cost");
    refused(
        with("argon2_parallelism", Value::from(1000)),
        "argon2_parallelism",
    );
    refused(with("argon2_type", Value::from("x")), "argon2_type");
    // Too little memory for the lanes is argon2's own error, not a panic.
    refused(with("argon2_memory_cost", Value::from(2)), "argon2");
    refused(with("data", Value::Binary(vec![0; 8])), "tag");
    // Each cost within bounds, together minutes of work: 1 GiB over 100 passes.
    let Value::Map(mut entries) = outer("argon2 chacha20-poly1305", unhex(CHACHA), 1 << 20) else {
        unreachable!("a map")
    };
    for (key, old) in entries.iter_mut() {
        if key.as_str() == Some("argon2_time_cost") {
            *old = Value::from(100);
        }
    }
    refused(open(layout, &Value::Map(entries), PASSPHRASE), "passes");
}

/// A repokey blob under Argon2 and ChaCha20-Poly1305, sealed with the crates' primitives in
/// borg 2's layout, opens through the same path as a PBKDF2 one.
#[test]
fn an_argon2_blob_opens_through_decrypt_blob() -> Result<(), String> {
    use base64::Engine;
    let blob = outer("argon2 chacha20-poly1305", Vec::new(), 64);
    let kek = derive(
        &blob,
        PASSPHRASE,
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        32,
    )
    .map_err(|e| format!("{e:?}"))?;
    let mut body = super::super::key::tests::inner_key();
    let tag = ChaCha20Poly1305::new_from_slice(&kek)
        .map_err(|_| "key size")?
        .encrypt_inout_detached(&Nonce::default(), &[], body.as_mut_slice().into())
        .map_err(|_| "seal")?;
    let mut data = tag.to_vec();
    data.extend(body);
    let mut packed = Vec::new();
    rmpv::encode::write_value(&mut packed, &outer("argon2 chacha20-poly1305", data, 64))
        .map_err(|e| e.to_string())?;
    let text = base64::engine::general_purpose::STANDARD.encode(packed);
    let repokey = super::super::key::mode(0x03)?;
    let key = super::super::key::decrypt_blob(repokey, &text, PASSPHRASE)
        .map_err(|e| format!("{e:?}"))?;
    assert_eq!(*key.enc_key, vec![2; 32]);
    assert!(matches!(
        super::super::key::decrypt_blob(repokey, &text, "wrong"),
        Err(KeyError::WrongPassphrase)
    ));
    Ok(())
}
