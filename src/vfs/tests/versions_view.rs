//! The versions view: every path a directory of its distinct versions, named by generation, looked
//! up in the listing kept until a refresh.

use super::*;

#[test]
fn versions_view_merges_generations_and_folds_identical_versions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (g1, g2) = (dir.path().join("g1"), dir.path().join("g2"));
    std::fs::create_dir_all(g1.join("docs"))?;
    std::fs::create_dir_all(g2.join("docs"))?;
    std::fs::create_dir_all(g2.join("clash"))?;
    std::fs::write(g1.join("docs/report.txt"), b"first draft")?;
    std::fs::write(g2.join("docs/report.txt"), b"second draft")?;
    std::fs::write(g1.join("clash"), b"a file, later a directory")?;
    std::fs::write(g1.join("old"), b"gone in g2")?;
    // rsnapshot keeps an unchanged file as a hardlink: one version, shown under g1.
    std::fs::write(g1.join("same"), b"unchanged")?;
    std::fs::hard_link(g1.join("same"), g2.join("same"))?;
    let options = LayoutOptions {
        view: View::Versions,
        ..Default::default()
    };
    let tree = layout(dir.path(), options)?;
    assert_eq!(
        names_of(&tree, ROOT_INO, Plus::Attrs)?,
        [".", "..", "clash", "clash~versions", "docs", "old", "same"]
    );
    let report = walk(&tree, &["docs", "report.txt"])?;
    assert_eq!(report.attr.meta.kind, crate::meta::FileKind::Dir);
    assert_eq!(
        names_of(&tree, report.attr.ino, Plus::Names)?,
        [".", "..", "g1.txt", "g2.txt"]
    );
    let first = walk(&tree, &["docs", "report.txt", "g1.txt"])?;
    assert_eq!(read_all(&tree, first.attr.ino)?, b"first draft");
    let second = walk(&tree, &["docs", "report.txt", "g2.txt"])?;
    assert_eq!(read_all(&tree, second.attr.ino)?, b"second draft");
    let same = walk(&tree, &["same"])?.attr.ino;
    assert_eq!(names_of(&tree, same, Plus::Names)?, [".", "..", "g1"]);
    let clash = walk(&tree, &["clash~versions", "g1"])?;
    assert_eq!(
        read_all(&tree, clash.attr.ino)?,
        b"a file, later a directory"
    );
    assert_eq!(
        walk(&tree, &["clash"])?.attr.meta.kind,
        crate::meta::FileKind::Dir
    );
    assert_eq!(
        tree.open(report.attr.ino, OpenMode::default()),
        Err(VfsError::IS_DIR)
    );
    assert_eq!(
        tree.mutate(Mutation::MakeDir {
            parent: report.attr.ino,
            name: b"x"
        }),
        Err(VfsError::READ_ONLY)
    );

    std::fs::create_dir_all(dir.path().join("g3/docs"))?;
    std::fs::write(dir.path().join("g3/docs/report.txt"), b"final")?;
    tree.refresh()?;
    let report = walk(&tree, &["docs", "report.txt"])?;
    assert_eq!(
        names_of(&tree, report.attr.ino, Plus::Names)?,
        [".", "..", "g1.txt", "g2.txt", "g3.txt"]
    );
    Ok(())
}

#[test]
fn versions_view_looks_names_up_in_the_listing_it_kept_until_a_refresh() -> TestResult {
    let dir = tempfile::tempdir()?;
    for generation in ["g1", "g2"] {
        std::fs::create_dir_all(dir.path().join(generation).join("docs"))?;
        std::fs::write(dir.path().join(generation).join("docs/a.txt"), generation)?;
    }
    let options = LayoutOptions {
        view: View::Versions,
        ..Default::default()
    };
    let tree = layout(dir.path(), options)?;
    assert_eq!(
        names_of(&tree, walk(&tree, &["docs"])?.attr.ino, Plus::Names)?,
        [".", "..", "a.txt"]
    );
    // Generations never change, so a name that appears behind genmount's back is not looked for
    // again in every generation: the merged listing kept from before answers.
    std::fs::write(dir.path().join("g2/docs/late.txt"), b"late")?;
    assert_eq!(
        walk(&tree, &["docs", "late.txt"]).map(|_| ()),
        Err(VfsError::NOT_FOUND)
    );
    tree.refresh()?;
    let late = walk(&tree, &["docs", "late.txt", "g2.txt"])?;
    assert_eq!(read_all(&tree, late.attr.ino)?, b"late");
    Ok(())
}
