//! Finds the date and time in a generation's directory name (`2026-11-24_17-30-56`, `20261124T1730`,
//! `backup-2026.11.24`), so that snapshot folders can be ordered and dated by the time their names give.
//! A name's date is local time (the `TZ` of the process): rsnapshot, `date +%F` in a cron job and
//! people naming folders by hand all write the wall-clock time of the machine that made them.

use crate::meta::Timestamp;

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
    if !(1900..=2999).contains(&year) || civil_date(year, month, day).is_none() {
        return None;
    }
    if bytes.get(pos).is_some_and(u8::is_ascii_digit) && !time_follows(bytes, pos) {
        return None;
    }
    let (hour, minute, second) = time_at(bytes, pos).unwrap_or((0, 0, 0));
    Some((year, month, day, hour, minute, second))
}

/// The moment a name's date stands for, read as local time. A wall-clock time that the local
/// zone repeats (DST ending) takes the earlier offset; one that it skips moves forward by the gap.
pub fn name_time(date: NameDate) -> Option<Timestamp> {
    let (year, month, day, hour, minute, second) = date;
    let day = civil_date(year, month, day)?;
    // A leap second (`:60`) is the last second of its minute as far as a timestamp can say.
    let time = jiff::civil::Time::new(
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second.min(59)).ok()?,
        0,
    )
    .ok()?;
    let zoned = day
        .to_datetime(time)
        .to_zoned(jiff::tz::TimeZone::system())
        .ok()?;
    Some(Timestamp::new(zoned.timestamp().as_second(), 0))
}

fn civil_date(year: u32, month: u32, day: u32) -> Option<jiff::civil::Date> {
    jiff::civil::Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()
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
        assert_eq!(date_in_name("2026-02-30"), None);
    }

    #[test]
    fn name_times_are_moments() {
        // Whatever the zone, a day later is 86,400 seconds later away from DST changes.
        let a = name_time((2026, 1, 10, 12, 0, 0));
        let b = name_time((2026, 1, 11, 12, 0, 0));
        assert_eq!(b.map(|t| t.secs), a.map(|t| t.secs + 86_400));
        assert!(name_time((2026, 1, 10, 23, 59, 60)).is_some());
    }

    #[test]
    fn dates_order_as_time_does() {
        let a = date_in_name("snap-2025-12-31_23-59-59");
        let b = date_in_name("snap-2026-01-01_00-00-00");
        assert!(a < b);
    }
}
