//! Finds the date and time in a generation's directory name (`2026-11-24_17-30-56`, `20261124T1730`,
//! `backup-2026.11.24`), so that snapshot folders can be ordered by the time their names give.

/// A date and time read from a name, comparable as a tuple: (year, month, day, hour, minute, second).
pub type NameDate = (u32, u32, u32, u32, u32, u32);

/// The first plausible date in `name`, with the time that follows it if there is one.
pub fn date_in_name(name: &str) -> Option<NameDate> {
    let bytes = name.as_bytes();
    (0..bytes.len()).find_map(|start| date_at(bytes, start))
}

fn date_at(bytes: &[u8], start: usize) -> Option<NameDate> {
    if start > 0 && bytes[start - 1].is_ascii_digit() {
        return None;
    }
    let mut pos = start;
    let year = number(bytes, &mut pos, 4)?;
    skip_separator(bytes, &mut pos, b"-_.");
    let month = number(bytes, &mut pos, 2)?;
    skip_separator(bytes, &mut pos, b"-_.");
    let day = number(bytes, &mut pos, 2)?;
    if !(1900..=2999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if bytes.get(pos).is_some_and(u8::is_ascii_digit) && !time_follows(bytes, pos) {
        return None;
    }
    let (hour, minute, second) = time_at(bytes, pos).unwrap_or((0, 0, 0));
    Some((year, month, day, hour, minute, second))
}

fn time_follows(bytes: &[u8], pos: usize) -> bool {
    time_at(bytes, pos).is_some()
}

fn time_at(bytes: &[u8], mut pos: usize) -> Option<(u32, u32, u32)> {
    skip_separator(bytes, &mut pos, b"T_- ");
    let hour = number(bytes, &mut pos, 2)?;
    skip_separator(bytes, &mut pos, b"-:.");
    let minute = number(bytes, &mut pos, 2)?;
    let mut after_minute = pos;
    skip_separator(bytes, &mut after_minute, b"-:.");
    let second = number(bytes, &mut after_minute, 2).unwrap_or(0);
    (hour < 24 && minute < 60 && second < 61).then_some((hour, minute, second))
}

fn number(bytes: &[u8], pos: &mut usize, digits: usize) -> Option<u32> {
    let field = bytes.get(*pos..*pos + digits)?;
    if !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    *pos += digits;
    field
        .iter()
        .try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
}

fn skip_separator(bytes: &[u8], pos: &mut usize, allowed: &[u8]) {
    if bytes.get(*pos).is_some_and(|b| allowed.contains(b)) {
        *pos += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_snapshot_names() {
        assert_eq!(
            date_in_name("2026-11-24_17-30-56"),
            Some((2026, 11, 24, 17, 30, 56))
        );
        assert_eq!(
            date_in_name("20261124T173056"),
            Some((2026, 11, 24, 17, 30, 56))
        );
        assert_eq!(date_in_name("home@2026.01.02"), Some((2026, 1, 2, 0, 0, 0)));
        assert_eq!(
            date_in_name("zfs-auto-snap_daily-2026-11-24-0800"),
            Some((2026, 11, 24, 8, 0, 0))
        );
        assert_eq!(
            date_in_name("2026-11-24 09:15"),
            Some((2026, 11, 24, 9, 15, 0))
        );
    }

    #[test]
    fn names_without_dates() {
        assert_eq!(date_in_name("daily.0"), None);
        assert_eq!(date_in_name("weekly.12"), None);
        assert_eq!(date_in_name("12345678901"), None);
        assert_eq!(date_in_name("2026-13-01"), None);
    }

    #[test]
    fn dates_order_as_time_does() {
        let a = date_in_name("snap-2025-12-31_23-59-59");
        let b = date_in_name("snap-2026-01-01_00-00-00");
        assert!(a < b);
    }
}
