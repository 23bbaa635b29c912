//! A directory as a web page for people: breadcrumbs, a table of names, sizes, times and types,
//! generations newest first, and a link to download the folder as one archive. Every name is
//! escaped for HTML and every link percent-encoded from the name's bytes.

use std::cmp::Reverse;
use std::fmt::Write;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use super::listing::{Item, Listed};
use crate::meta::FileKind;

/// What stays unencoded in a path segment of a link: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#fafbfc}\
header{padding:14px 24px;background:#243447;color:#fff;display:flex;gap:16px;align-items:center;flex-wrap:wrap}\
header a{color:#cfe3ff;text-decoration:none}header .here{color:#fff;font-weight:600}\
.crumbs{flex:1;font-size:16px;overflow-wrap:anywhere}.sep{color:#7f93ab;margin:0 6px}\
.dl{background:#3d7be0;color:#fff!important;padding:6px 12px;border-radius:6px;font-size:14px;white-space:nowrap}\
main{padding:8px 24px 32px}table{border-collapse:collapse;width:100%;max-width:1100px}\
th{text-align:left;font-weight:600;color:#5a6475;border-bottom:2px solid #dfe3ea;padding:8px 10px}\
td{padding:6px 10px;border-bottom:1px solid #eceff3;overflow-wrap:anywhere}tr:hover td{background:#f0f4fa}\
td.size,th.size{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
td.time{white-space:nowrap;font-variant-numeric:tabular-nums;color:#444c5a}td.type{color:#5a6475}\
a.name{color:#1a5fc8;text-decoration:none}a.name:hover{text-decoration:underline}\
.dir a.name{font-weight:600}.icon{display:inline-block;width:1.4em}.muted{color:#8a93a3}\
footer{padding:0 24px 24px;color:#8a93a3;font-size:13px}";

/// A page lists at most this many entries: a browser cannot use more, and the page is built in
/// memory. The folder's download and WebDAV clients still see all of them.
pub const PAGE_ROWS: usize = 10_000;

/// Renders the page of the directory reached by `crumbs` (the path's components, as requested).
/// `generations`: this is the mount's root of generations, listed newest first.
pub fn page(crumbs: &[&[u8]], listed: &Listed, generations: bool) -> String {
    let items = &listed.items;
    let mut order: Vec<&Item> = items.iter().collect();
    sort(&mut order, generations);
    let title = crumbs.last().map_or("Backups".into(), |c| shown(c));
    let shown_rows = order.len().min(PAGE_ROWS);
    let mut out = String::with_capacity(4096 + shown_rows * 256);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} — genmount</title><style>{STYLE}</style></head><body><header>",
        escape(&title)
    );
    breadcrumbs(&mut out, crumbs);
    out.push_str(
        "<a class=\"dl\" href=\"?download=tar\">Download folder (.tar)</a></header><main><table>",
    );
    out.push_str("<thead><tr><th>Name</th><th class=\"size\">Size</th><th>Modified (UTC)</th><th>Type</th></tr></thead><tbody>");
    if !crumbs.is_empty() {
        out.push_str("<tr class=\"dir\"><td><span class=\"icon\">↰</span><a class=\"name\" href=\"../\">Parent folder</a></td><td></td><td></td><td></td></tr>");
    }
    for item in &order[..shown_rows] {
        row(&mut out, item);
    }
    out.push_str("</tbody></table>");
    if order.len() > shown_rows || listed.truncated {
        let _ = write!(
            out,
            "<p class=\"muted\">{} of {}{} entries shown: download the folder or use a WebDAV client for all of them.</p>",
            shown_rows,
            if listed.truncated { "more than " } else { "" },
            order.len()
        );
    }
    let _ = write!(
        out,
        "</main><footer>{} entries · read-only · served by genmount</footer></body></html>",
        items.len()
    );
    out
}

/// Generations newest first, `latest` on top; elsewhere folders first, then by name.
fn sort(items: &mut [&Item], generations: bool) {
    if generations {
        let key = |i: &Item| {
            (
                i.name != b"latest",
                i.meta.kind != FileKind::Dir,
                Reverse(i.meta.mtime),
            )
        };
        items.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name)));
    } else {
        items.sort_by(|a, b| {
            (a.meta.kind != FileKind::Dir, &a.name).cmp(&(b.meta.kind != FileKind::Dir, &b.name))
        });
    }
}

fn breadcrumbs(out: &mut String, crumbs: &[&[u8]]) {
    out.push_str("<nav class=\"crumbs\">");
    let last = crumbs.len();
    if last == 0 {
        out.push_str("<span class=\"here\">genmount</span>");
    } else {
        let _ = write!(out, "<a href=\"{}\">genmount</a>", "../".repeat(last));
    }
    for (at, crumb) in crumbs.iter().enumerate() {
        out.push_str("<span class=\"sep\">/</span>");
        let name = escape(&shown(crumb));
        if at + 1 == last {
            let _ = write!(out, "<span class=\"here\">{name}</span>");
        } else {
            let _ = write!(
                out,
                "<a href=\"{}\">{name}</a>",
                "../".repeat(last - at - 1)
            );
        }
    }
    out.push_str("</nav>");
}

fn row(out: &mut String, item: &Item) {
    let is_dir = item.meta.kind == FileKind::Dir && !item.dangling;
    let name = escape(&shown(&item.name));
    let _ = write!(
        out,
        "<tr class=\"{}\"><td><span class=\"icon\">{}</span>",
        if is_dir { "dir" } else { "file" },
        icon(item)
    );
    if item.servable() {
        let slash = if is_dir { "/" } else { "" };
        let _ = write!(
            out,
            "<a class=\"name\" href=\"./{}{slash}\">{name}{slash}</a>",
            encode(&item.name)
        );
    } else {
        let _ = write!(out, "<span class=\"muted\">{name}</span>");
    }
    let size = if is_dir || !item.servable() {
        String::new()
    } else {
        format!(
            "<span title=\"{} bytes\">{}</span>",
            item.meta.size,
            human_size(item.meta.size)
        )
    };
    let time = item
        .meta
        .mtime
        .to_rfc3339()
        .replace('T', " ")
        .replace('Z', "");
    let _ = write!(
        out,
        "</td><td class=\"size\">{size}</td><td class=\"time\">{time}</td><td class=\"type\">{}</td></tr>",
        kind_text(item)
    );
}

/// Icons drawn inline (no emoji font needed, no request for an image).
const FOLDER_ICON: &str = "<svg width=\"16\" height=\"13\" viewBox=\"0 0 16 13\"><path d=\"M0 1.5A1.5 1.5 0 0 1 1.5 0h4l2 2h7A1.5 1.5 0 0 1 16 3.5v8a1.5 1.5 0 0 1-1.5 1.5h-13A1.5 1.5 0 0 1 0 11.5z\" fill=\"#e3a72f\"/></svg>";
const FILE_ICON: &str = "<svg width=\"12\" height=\"15\" viewBox=\"0 0 12 15\"><path d=\"M0 1a1 1 0 0 1 1-1h6.5L12 4.5V14a1 1 0 0 1-1 1H1a1 1 0 0 1-1-1z\" fill=\"#9aa8bb\"/><path d=\"M7.5 0v4.5H12\" fill=\"#cfd8e3\"/></svg>";

fn icon(item: &Item) -> &'static str {
    match item.meta.kind {
        _ if item.dangling => "",
        FileKind::Dir => FOLDER_ICON,
        FileKind::File => FILE_ICON,
        _ => "",
    }
}

fn kind_text(item: &Item) -> String {
    let kind = match item.meta.kind {
        FileKind::File => "file",
        FileKind::Dir => "folder",
        FileKind::Symlink => "link",
        FileKind::Fifo => "fifo",
        FileKind::Socket => "socket",
        FileKind::CharDevice => "character device",
        FileKind::BlockDevice => "block device",
    };
    match (&item.link, item.dangling) {
        (Some(target), true) => format!("link → {} (outside the backup)", escape(&shown(target))),
        (Some(target), false) => format!("{kind}, link → {}", escape(&shown(target))),
        (None, _) => kind.into(),
    }
}

/// A name as text: invalid UTF-8 shows as U+FFFD (the link keeps the exact bytes).
fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// A name as a path segment of a URL, from its exact bytes.
pub fn encode(name: &[u8]) -> String {
    percent_encoding::percent_encode(name, SEGMENT).to_string()
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters become their visible pictures (U+2400…), never raw bytes.
            c if u32::from(c) < 0x20 => {
                out.push(char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{FFFD}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{Meta, Timestamp};

    fn item(name: &[u8], kind: FileKind, secs: i64) -> Item {
        Item {
            name: name.to_vec(),
            meta: Meta::synthetic(kind, 0o644, 1536, Timestamp::new(secs, 0)),
            link: None,
            dangling: false,
        }
    }

    #[test]
    fn names_are_escaped_and_links_encoded() {
        let items = [item(
            b"<img src=x onerror=alert(1)>&\"'.txt",
            FileKind::File,
            0,
        )];
        let listed = Listed {
            items: items.to_vec(),
            truncated: false,
        };
        let page = page(&[b"gen", b"a<b>"], &listed, false);
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;.txt"));
        assert!(
            page.contains("href=\"./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%26%22%27.txt\"")
        );
        assert!(page.contains("<span class=\"here\">a&lt;b&gt;</span>"));
        assert!(page.contains("1.5 KiB"));
    }

    #[test]
    fn generations_are_newest_first_after_latest() {
        let mut latest = item(b"latest", FileKind::Dir, 20);
        latest.link = Some(b"new".to_vec());
        let items = [
            item(b"old", FileKind::Dir, 10),
            item(b"new", FileKind::Dir, 20),
            latest,
            item(b".pid", FileKind::File, 30),
        ];
        let listed = Listed {
            items: items.to_vec(),
            truncated: false,
        };
        let page = page(&[], &listed, true);
        let at = |name: &str| page.find(&format!(">{name}")).unwrap_or(usize::MAX);
        assert!(at("latest/") < at("new/") && at("new/") < at("old/") && at("old/") < at(".pid"));
    }

    #[test]
    fn a_huge_folder_shows_its_first_rows_and_says_so() {
        let items = (0..PAGE_ROWS + 5)
            .map(|i| item(format!("f{i:06}").as_bytes(), FileKind::File, 0))
            .collect();
        let page = page(
            &[b"big"],
            &Listed {
                items,
                truncated: false,
            },
            false,
        );
        assert!(page.contains(">f009999<") && !page.contains(">f010000<"));
        assert!(page.contains("10000 of 10005 entries shown"));
    }

    #[test]
    fn control_characters_and_bad_utf8_stay_visible_and_exact() {
        assert_eq!(escape("a\u{1}b\u{7f}"), "a\u{2401}b\u{2421}");
        assert_eq!(encode(b"a\xffb/c"), "a%FFb%2Fc");
    }
}
