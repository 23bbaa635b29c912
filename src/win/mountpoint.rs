//! Where a Windows mount goes: a drive letter (`X:`), the first free letter from Z: down (`*`, as
//! rclone picks it), or a folder that does not exist yet (WinFsp creates it).

/// A mount target WinFsp understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WinTarget {
    Drive(char),
    Folder(String),
}

/// Whether `spec` names a drive (`X:`) or asks for a free one (`*`).
pub fn is_drive_spec(spec: &str) -> bool {
    spec == "*" || drive_letter(spec).is_some()
}

fn drive_letter(spec: &str) -> Option<char> {
    let mut chars = spec.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(letter), Some(':'), None) if letter.is_ascii_alphabetic() => {
            Some(letter.to_ascii_uppercase())
        }
        _ => None,
    }
}

/// Checks that WinFsp can mount on `path`: a drive (`X:`, `*`) or a folder that does not exist
/// yet, which WinFsp creates.
pub fn check(path: &std::path::Path) -> Result<(), crate::error::OpenError> {
    if is_drive_spec(&path.to_string_lossy()) || !path.exists() {
        return Ok(());
    }
    Err(crate::error::OpenError::Mountpoint(format!(
        "mountpoint {} exists: WinFsp mounts on a drive letter (X: or *) or creates a new folder",
        path.display()
    )))
}

/// The target for `spec`; `in_use` tells which drive letters are taken.
pub fn choose(spec: &str, in_use: impl Fn(char) -> bool) -> Result<WinTarget, String> {
    if spec == "*" {
        return ('D'..='Z')
            .rev()
            .find(|&letter| !in_use(letter))
            .map(WinTarget::Drive)
            .ok_or_else(|| "no free drive letter".to_string());
    }
    match drive_letter(spec) {
        Some(letter) if in_use(letter) => Err(format!("drive {letter}: is already in use")),
        Some(letter) => Ok(WinTarget::Drive(letter)),
        None => Ok(WinTarget::Folder(spec.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drives_and_new_folders_are_mountpoints_existing_folders_are_not()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        assert!(check(std::path::Path::new("X:")).is_ok());
        assert!(check(std::path::Path::new("*")).is_ok());
        assert!(check(&dir.path().join("missing")).is_ok());
        assert!(matches!(
            check(dir.path()),
            Err(crate::error::OpenError::Mountpoint(_))
        ));
        Ok(())
    }

    #[test]
    fn star_takes_the_highest_free_letter() {
        assert_eq!(
            choose("*", |l| l == 'Z' || l == 'Y'),
            Ok(WinTarget::Drive('X'))
        );
        assert_eq!(choose("*", |_| false), Ok(WinTarget::Drive('Z')));
        assert!(choose("*", |_| true).is_err());
    }

    #[test]
    fn letters_and_folders() {
        assert_eq!(choose("x:", |_| false), Ok(WinTarget::Drive('X')));
        assert!(choose("C:", |l| l == 'C').is_err());
        assert_eq!(
            choose("C:\\mnt\\backup", |_| true),
            Ok(WinTarget::Folder("C:\\mnt\\backup".into()))
        );
        assert!(
            is_drive_spec("*")
                && is_drive_spec("q:")
                && !is_drive_spec("q:\\x")
                && !is_drive_spec("/mnt")
        );
    }
}
