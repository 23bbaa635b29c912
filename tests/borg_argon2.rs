//! A repository made by the real `borg` whose repokey is then wrapped under Argon2, in borg
//! 1.3.0a1's layout (`argon2 aes256-ctr hmac-sha256`), as `borg key change-algorithm argon2` of
//! that alpha left a borg 1.x repository: borg's own modules open the PBKDF2 blob, the RustCrypto
//! crates seal it again, and the mount must serve the archive with the passphrase, and only with it.
// They mount through Linux's FUSE: on other OSes they compile to nothing.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aes::cipher::{KeyIvInit, StreamCipher};
use base64::Engine;
use hmac::{KeyInit, Mac};
use rmpv::Value;

use common::*;

const PASSPHRASE: &str = "argon2 passphrase";

/// Opens the repokey of the config at argv[1] with argv[2], with borg 1.2's own code.
const UNWRAP: &str = "
import sys, base64, hashlib, hmac, configparser, msgpack
from borg.crypto.low_level import AES
cp = configparser.ConfigParser(interpolation=None); cp.read(sys.argv[1])
blob = msgpack.unpackb(base64.b64decode(cp['repository']['key']), raw=True)
kek = hashlib.pbkdf2_hmac('sha256', sys.argv[2].encode(), blob[b'salt'], blob[b'iterations'], 32)
plain = AES(kek, b'\\0' * 16).decrypt(blob[b'data'])
assert hmac.compare_digest(hmac.new(kek, plain, hashlib.sha256).digest(), blob[b'hash'])
print(plain.hex())
";

fn borg(base: &Path, cwd: &Path, args: &[&str]) {
    let out = Command::new("borg")
        .args(args)
        .current_dir(cwd)
        .env("BORG_PASSPHRASE", PASSPHRASE)
        .env("BORG_BASE_DIR", base)
        .output()
        .expect("borg runs");
    assert!(
        out.status.success(),
        "borg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The plaintext key of the repository, as borg opens it.
fn unwrapped_key(config: &Path) -> Vec<u8> {
    let out = Command::new("/usr/bin/python3")
        .args(["-c", UNWRAP])
        .arg(config)
        .arg(PASSPHRASE)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `plain` sealed as borg 1.3.0a1's encrypt_key_file_argon2 does: 64 bytes of Argon2id (its
/// default costs: 3 passes, 64 MiB, 4 lanes), AES-256-CTR with the first half, HMAC-SHA256 with
/// the second over IV and ciphertext, stored MAC ‖ IV ‖ ciphertext; base64 of the msgpack.
fn argon2_blob(plain: &[u8]) -> String {
    let salt = [0x5au8; 16];
    let params = argon2::Params::new(1 << 16, 3, 4, Some(64)).expect("params");
    let mut kek = [0u8; 64];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(PASSPHRASE.as_bytes(), &salt, &mut kek)
        .expect("argon2");
    let (enc_key, mac_key) = kek.split_at(32);
    let iv = [0u8; 8];
    let mut body = plain.to_vec();
    let mut full_iv = [0u8; 16];
    full_iv[8..].copy_from_slice(&iv);
    ctr::Ctr128BE::<aes::Aes256>::new(enc_key.into(), &full_iv.into()).apply_keystream(&mut body);
    let mut covered = iv.to_vec();
    covered.extend(&body);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(mac_key).expect("hmac");
    mac.update(&covered);
    let mut data = mac.finalize().into_bytes().to_vec();
    data.extend(covered);
    let map = Value::Map(vec![
        (Value::from("version"), Value::from(1)),
        (
            Value::from("algorithm"),
            Value::from("argon2 aes256-ctr hmac-sha256"),
        ),
        (Value::from("salt"), Value::Binary(salt.to_vec())),
        (Value::from("data"), Value::Binary(data)),
        (Value::from("argon2_time_cost"), Value::from(3)),
        (Value::from("argon2_memory_cost"), Value::from(1 << 16)),
        (Value::from("argon2_parallelism"), Value::from(4)),
        (Value::from("argon2_type"), Value::from("id")),
    ]);
    let mut packed = Vec::new();
    rmpv::encode::write_value(&mut packed, &map).expect("pack");
    base64::engine::general_purpose::STANDARD.encode(packed)
}

/// The config with its `key = …` entry (and the entry's continuation lines) replaced.
fn with_key(config: &str, key: &str) -> String {
    let mut out = Vec::new();
    let mut in_key = false;
    for line in config.lines() {
        if line.starts_with("key = ") {
            out.push(format!("key = {key}"));
            in_key = true;
        } else if in_key && line.starts_with('\t') {
            continue;
        } else {
            in_key = false;
            out.push(line.to_string());
        }
    }
    out.join("\n") + "\n"
}

#[test]
fn a_repokey_under_argon2_opens_with_its_passphrase_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, src, mnt) = (
        dir.path().join("base"),
        dir.path().join("src"),
        dir.path().join("mnt"),
    );
    let repo: PathBuf = dir.path().join("repo");
    for d in [&src, &mnt] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let content = pseudo_random(3 << 20, 7);
    std::fs::write(src.join("data"), &content).expect("write");
    borg(
        &base,
        &src,
        &["init", "-e", "repokey", &repo.to_string_lossy()],
    );
    borg(
        &base,
        &src,
        &["create", &format!("{}::only", repo.display()), "."],
    );

    let config = repo.join("config");
    let plain = unwrapped_key(&config);
    let text = std::fs::read_to_string(&config).expect("config");
    let blob = argon2_blob(&plain);
    let rewritten = with_key(&text, &blob);
    // The PBKDF2 blob is gone (its continuation lines too): only the Argon2 one can open.
    assert!(rewritten.contains(&format!("key = {blob}\n")) && !rewritten.contains("\n\t"));
    std::fs::write(&config, rewritten).expect("config");

    let genmount = |passphrase: &str| {
        let mut command = Command::new(BIN);
        command
            .env("BORG_BASE_DIR", &base)
            .env("BORG_PASSPHRASE", passphrase)
            .env_remove("BORG_PASSCOMMAND")
            .env_remove("BORG_PASSPHRASE_FD")
            .args(["mount", "--no-lock"])
            .arg(&repo)
            .arg(&mnt);
        command
    };
    {
        let _mount = Mount::spawn(genmount(PASSPHRASE), &mnt);
        assert_eq!(std::fs::read(mnt.join("only/data")).expect("read"), content);
    }
    let out = genmount("not the passphrase")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("genmount runs");
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
