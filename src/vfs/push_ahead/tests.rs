//! Which files read-ahead across files pushes, for readers in each order and readers that stop.

use super::*;

/// `count` files of `size` bytes whose inode numbers run opposite to the listing, so that the
/// two orders differ.
fn files(count: u64, size: u64) -> Vec<Planned> {
    (0..count)
        .map(|i| Planned {
            ino: 10_000 - i,
            size,
        })
        .collect()
}

fn listed(files: Vec<Planned>) -> PushAhead {
    let mut push = PushAhead::default();
    push.listed(7, Box::new(move || files));
    push
}

fn inos(planned: &[Planned]) -> Vec<Ino> {
    planned.iter().map(|file| file.ino).collect()
}

#[test]
fn a_reader_in_listing_order_gets_a_window_that_doubles() {
    let mut push = listed(files(100, 100));
    assert!(push.started(10_000).is_empty(), "one read shows no order");
    let first = push.started(9_999);
    assert_eq!(inos(&first), (9_991..=9_998).rev().collect::<Vec<_>>());
    // The pushed files are read from the page cache; the next read is the first one not pushed.
    let second = push.started(9_990);
    assert_eq!(second.len(), 16);
    assert_eq!(second[0].ino, 9_989);
}

#[test]
fn a_reader_in_inode_order_is_followed_too() {
    let mut push = listed(files(100, 100));
    // The smallest inode numbers are the end of the listing.
    push.started(9_901);
    let first = push.started(9_902);
    assert_eq!(inos(&first), (9_903..=9_910).collect::<Vec<_>>());
}

#[test]
fn a_reader_that_leaves_the_order_gets_nothing_until_it_shows_one_again() {
    let mut push = listed(files(100, 100));
    push.started(10_000);
    assert!(!push.started(9_999).is_empty());
    assert!(push.started(9_950).is_empty(), "a jump");
    assert!(push.started(9_920).is_empty(), "another");
    assert!(!push.started(9_919).is_empty(), "in order again");
}

#[test]
fn large_files_keep_their_place_but_are_not_pushed() {
    let mut planned = files(20, 100);
    planned[3].size = MAX_FILE + 1;
    let big = planned[3].ino;
    let mut push = listed(planned);
    push.started(10_000);
    let first = push.started(9_999);
    assert!(!inos(&first).contains(&big));
    assert_eq!(first.len(), 7, "the window counts the large file");
    // The reader reads the large file itself: still in order, and the window moves on.
    assert!(!push.started(big).is_empty());
}

#[test]
fn a_window_pushes_a_bounded_number_of_bytes() {
    let mut push = listed(files(100, MAX_FILE));
    push.started(10_000);
    push.started(9_999);
    let mut place = 9_999 - 9;
    for _ in 0..6 {
        let pushed = push.started(place);
        let bytes: u64 = pushed.iter().map(|file| file.size).sum();
        assert!(
            bytes <= WINDOW_BYTES + MAX_FILE,
            "{bytes} bytes in one window"
        );
        place -= pushed.len() as u64 + 1;
    }
}

#[test]
fn the_end_of_the_directory_ends_the_window() {
    let mut push = listed(files(5, 100));
    push.started(10_000);
    assert_eq!(inos(&push.started(9_999)), vec![9_998, 9_997, 9_996]);
    assert!(push.started(9_996).is_empty(), "nothing is left to push");
}

#[test]
fn files_of_unlisted_or_forgotten_directories_get_nothing() {
    let mut push = listed(files(10, 100));
    assert!(push.started(5).is_empty());
    for dir in 100..100 + RECENT_DIRS as u64 {
        push.listed(dir, Box::new(Vec::new));
    }
    push.started(10_000);
    assert!(push.started(9_999).is_empty(), "directory 7 was forgotten");
}

#[test]
fn listing_a_directory_again_keeps_its_reader_in_place() {
    let mut push = listed(files(100, 100));
    push.started(10_000);
    push.listed(7, Box::new(Vec::new));
    assert_eq!(push.started(9_999).len(), FIRST_WINDOW);
}

#[test]
fn directories_too_large_to_plan_get_nothing() {
    let count = MAX_PLANNED as u64 + 1;
    let mut push = listed((0..count).map(|ino| Planned { ino, size: 1 }).collect());
    push.started(0);
    assert!(push.started(1).is_empty());
}
