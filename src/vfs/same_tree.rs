//! Same-tree aliases (`--fold-identical`): a generation whose tree is the same as the one before it
//! is shown as a symlink to the first of that run, so a long run of unchanged backups costs one
//! directory. (Not to be confused with case folding, which `win/` does.)

/// For each generation (oldest first, with its tree key if the repository has one), the name of the
/// generation it repeats, if it repeats the one before it.
pub fn aliases(names: &[&str], keys: &[Option<u64>]) -> Vec<Option<String>> {
    let mut out = Vec::with_capacity(names.len());
    let mut run: Option<(u64, &str)> = None;
    for (name, key) in names.iter().zip(keys) {
        match (key, run) {
            (Some(key), Some((run_key, first))) if *key == run_key => {
                out.push(Some(first.to_string()))
            }
            (Some(key), _) => {
                run = Some((*key, name));
                out.push(None);
            }
            (None, _) => {
                run = None;
                out.push(None);
            }
        }
    }
    out
}

/// The relative symlink target that leads from the entry `from` to `to` (both `/`-separated
/// names below the same root).
pub fn relative_link(from: &str, to: &str) -> String {
    let from_dirs: Vec<&str> = from.split('/').collect();
    let from_dirs = &from_dirs[..from_dirs.len().saturating_sub(1)];
    let to_parts: Vec<&str> = to.split('/').collect();
    let common = from_dirs
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let ups = std::iter::repeat_n("..", from_dirs.len() - common);
    ups.chain(to_parts[common..].iter().copied())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_equal_trees_point_at_their_first() {
        let names = ["a", "b", "c", "d", "e"];
        let keys = [Some(1), Some(1), Some(1), Some(2), None];
        let got = aliases(&names, &keys);
        assert_eq!(
            got,
            [
                None,
                Some("a".to_string()),
                Some("a".to_string()),
                None,
                None
            ]
        );
        assert_eq!(aliases(&["x", "y"], &[None, None]), [None, None]);
    }

    #[test]
    fn links_are_relative() {
        assert_eq!(relative_link("b", "a"), "a");
        assert_eq!(relative_link("host/b", "host/a"), "a");
        assert_eq!(relative_link("h2/b", "h1/a"), "../h1/a");
        assert_eq!(relative_link("b", "h1/a"), "h1/a");
    }
}
