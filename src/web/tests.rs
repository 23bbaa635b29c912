//! The server's neutral logic over a real layout of snapshot folders, without HTTP: paths and
//! links resolved inside the tree only, listings, tar streams, and every lookup given back.

use std::path::Path;
use std::sync::Arc;

use super::listing;
use super::path;
use crate::error::ErrorKind;
use crate::meta::FileKind;
use crate::repo::folder::FolderRepo;
use crate::vfs::{Layout, LayoutOptions, View};

type TestResult = Result<(), Box<dyn std::error::Error>>;
type Tree = Arc<Layout<FolderRepo>>;

/// One generation, `2026-11-01_10-00-00`, with links of every kind.
fn tree() -> Result<(tempfile::TempDir, Tree), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let generation = dir.path().join("2026-11-01_10-00-00");
    std::fs::create_dir_all(generation.join("dir/sub"))?;
    std::fs::write(generation.join("dir/file"), b"content")?;
    std::fs::write(generation.join("dir/sub/deep"), b"deep")?;
    let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, generation.join(name));
    link("dir/file", "to-file")?;
    link("dir", "to-dir")?;
    link("../file", "dir/sub/up")?;
    link("../../../../../../dir/file", "far-up")?;
    link("/etc/passwd", "absolute")?;
    link("nowhere", "dangling")?;
    link("loop-b", "loop-a")?;
    link("loop-a", "loop-b")?;
    link(".", "dir/self")?;
    link("..", "dir/sub/parent")?;
    let options = LayoutOptions {
        view: View::Multiple,
        pid: 1,
        ..LayoutOptions::default()
    };
    let layout = Layout::new(FolderRepo::open(dir.path())?, options)?;
    Ok((dir, Arc::new(layout)))
}

fn kind_at(tree: &Tree, at: &str) -> Result<FileKind, ErrorKind> {
    let parts: Vec<&[u8]> = at.split('/').map(str::as_bytes).collect();
    path::resolve(tree, &parts)
        .map(|held| held.kind())
        .map_err(|err| err.kind())
}

#[test]
fn links_are_followed_inside_the_tree_only() -> TestResult {
    let (_dir, tree) = tree()?;
    let generation = "2026-11-01_10-00-00";
    for (at, expected) in [
        ("latest", Ok(FileKind::Dir)),
        ("latest/to-file", Ok(FileKind::File)),
        ("latest/to-dir/sub/deep", Ok(FileKind::File)),
        ("latest/dir/sub/up", Ok(FileKind::File)),
        // `..` stops at the root of the mount, as at `/`: the target is still inside the tree.
        ("latest/far-up", Err(ErrorKind::NotFound)),
        ("latest/absolute", Err(ErrorKind::NotFound)),
        ("latest/dangling", Err(ErrorKind::NotFound)),
        ("latest/loop-a", Err(ErrorKind::NotFound)),
        ("latest/dir/file/x", Err(ErrorKind::NotDir)),
    ] {
        assert_eq!(kind_at(&tree, at), expected, "{at}");
        let direct = at.replacen("latest", generation, 1);
        assert_eq!(kind_at(&tree, &direct), expected, "{direct}");
    }
    assert_eq!(tree.held_inodes(), 0, "every lookup was given back");
    Ok(())
}

#[test]
fn listings_carry_targets_and_give_back_their_lookups() -> TestResult {
    let (_dir, tree) = tree()?;
    let parts: [&[u8]; 1] = [b"latest"];
    let held = path::resolve(&tree, &parts)?;
    let items = listing::list(&held, &parts, true)?.items;
    drop(held);
    let find = |name: &str| items.iter().find(|i| i.name == name.as_bytes());
    let to_file = find("to-file").ok_or("to-file")?;
    assert_eq!((to_file.meta.kind, to_file.meta.size), (FileKind::File, 7));
    assert_eq!(to_file.link.as_deref(), Some(&b"dir/file"[..]));
    assert!(to_file.servable());
    for name in ["absolute", "dangling", "loop-a", "far-up"] {
        let item = find(name).ok_or(name)?;
        assert!(item.dangling && !item.servable(), "{name}");
    }
    assert_eq!(find("to-dir").map(|i| i.meta.kind), Some(FileKind::Dir));
    // Links to the folder itself or above it would send recursive clients round in circles.
    for (dir, name) in [
        (&["latest", "dir"][..], "self"),
        (&["latest", "dir", "sub"], "parent"),
    ] {
        let parts: Vec<&[u8]> = dir.iter().map(|d| d.as_bytes()).collect();
        let held = path::resolve(&tree, &parts)?;
        let listed = listing::list(&held, &parts, true)?;
        let item = listed
            .items
            .iter()
            .find(|i| i.name == name.as_bytes())
            .ok_or(name)?;
        assert!(!item.servable(), "{name}");
    }
    assert_eq!(tree.held_inodes(), 0, "every lookup was given back");
    Ok(())
}

#[test]
fn a_tar_stream_holds_the_tree_with_links_as_links() -> TestResult {
    let (_dir, tree) = tree()?;
    let parts: [&[u8]; 1] = [b"latest"];
    let bytes = super::archive::write_tar(&tree, &parts, b"top", Vec::new())?;
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut seen = std::collections::BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data)?;
        let link = entry.link_name()?.map(|l| l.to_string_lossy().into_owned());
        seen.insert(name, (entry.header().entry_type(), data, link));
    }
    let file = &seen["top/dir/file"];
    assert_eq!(
        (file.0, file.1.as_slice()),
        (tar::EntryType::Regular, &b"content"[..])
    );
    assert_eq!(seen["top/dir/sub/deep"].1, b"deep");
    assert_eq!(seen["top/to-dir"].0, tar::EntryType::Symlink);
    assert_eq!(seen["top/absolute"].2.as_deref(), Some("/etc/passwd"));
    assert_eq!(seen["top/dir/sub"].0, tar::EntryType::Directory);
    assert_eq!(tree.held_inodes(), 0, "every lookup was given back");
    Ok(())
}

#[test]
fn a_missing_folder_is_an_error_not_an_empty_archive() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("2026-11-01_10-00-00"))?;
    let tree = Arc::new(Layout::new(
        FolderRepo::open(Path::new(dir.path()))?,
        LayoutOptions::default(),
    )?);
    let parts: [&[u8]; 2] = [b"latest", b"missing"];
    assert!(super::archive::write_tar(&tree, &parts, b"x", Vec::new()).is_err());
    Ok(())
}
