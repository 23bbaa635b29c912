//! Which archives are shown, as borg 1.2 selects them: `--glob-archives` (borg's own shell
//! pattern, ported from its `shellpattern.translate` onto the `regex` crate) and `--prefix` (the
//! pattern `PREFIX*`), and, as restic selects snapshots, `--host` (each archive's `hostname`).

use regex::Regex;

/// The archives to show: those whose name and host every given condition accepts.
#[derive(Debug, Clone, Default)]
pub struct ArchiveFilter {
    /// The name matches this borg pattern, whole.
    glob: Option<Regex>,
    /// The archive was made on any of these hosts (none: every host).
    hosts: Vec<String>,
}

impl ArchiveFilter {
    /// A filter from the command line's values; an invalid pattern is an error naming it. A
    /// prefix is the pattern `PREFIX*`, as borg 1.2 makes it (so `*`, `?` and `[` in it are
    /// pattern characters there too).
    pub fn new(
        prefix: Option<String>,
        glob: Option<&str>,
        hosts: Vec<String>,
    ) -> Result<ArchiveFilter, String> {
        let (option, pattern) = match (prefix, glob) {
            (Some(prefix), _) => ("--prefix", Some(format!("{prefix}*"))),
            (None, glob) => ("--glob-archives", glob.map(str::to_string)),
        };
        let glob = pattern
            .map(|g| Regex::new(&translate(&g)).map_err(|e| format!("{option} '{g}': {e}")))
            .transpose()?;
        Ok(ArchiveFilter { glob, hosts })
    }

    /// Whether an archive of this name (as the manifest spells it) may be shown.
    pub fn keeps_name(&self, name: &str) -> bool {
        self.glob.as_ref().is_none_or(|g| g.is_match(name))
    }

    /// Whether an archive made on `host` (`None`: its metadata did not say) may be shown.
    pub fn keeps_host(&self, host: Option<&str>) -> bool {
        self.hosts.is_empty() || host.is_some_and(|h| self.hosts.iter().any(|k| k == h))
    }
}

/// Borg's shell pattern as an anchored regular expression: `*` any run and `?` any one character
/// (neither crossing `/`), `**/` any run of directories, `[...]` and `[!...]` classes; an
/// unclosed `[` and everything else (`{`, `\` among them) stand for themselves.
pub fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from("(?s)^");
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') && chars.get(i + 1) == Some(&'/') => {
                out.push_str("(?:[^/]*/)*");
                i += 2;
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => match class_end(&chars, i) {
                Some(end) => {
                    out.push_str(&class(chars.get(i..end).unwrap_or_default()));
                    i = end + 1;
                }
                None => out.push_str(r"\["),
            },
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out.push_str(r"\z");
    out
}

/// Where the class opened just before `start` closes, as borg finds it: a `]` right after the
/// opening (or after its `!`) belongs to the class.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start;
    if chars.get(j) == Some(&'!') {
        j += 1;
    }
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    (j..chars.len()).find(|&k| chars.get(k) == Some(&']'))
}

/// A class's members as a regex class: `!` first negates, `a-z` is a range, every other
/// character (`^` first included, as borg escapes it) is itself.
fn class(members: &[char]) -> String {
    let (negated, members) = match members.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, members),
    };
    let mut out = String::from(if negated { "[^" } else { "[" });
    let mut i = 0;
    while let Some(&c) = members.get(i) {
        let one = |c: char| regex::escape(c.encode_utf8(&mut [0; 4]));
        match (members.get(i + 1), members.get(i + 2)) {
            (Some('-'), Some(&end)) => {
                out.push_str(&format!("{}-{}", one(c), one(end)));
                i += 3;
            }
            _ => {
                out.push_str(&one(c));
                i += 1;
            }
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str) -> ArchiveFilter {
        ArchiveFilter::new(None, Some(pattern), Vec::new())
            .unwrap_or_else(|e| panic!("pattern {pattern}: {e}"))
    }

    fn matches(pattern: &str, name: &str) -> bool {
        glob(pattern).keeps_name(name)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("host-*", "host-2026-12-03"));
        assert!(matches("host-*", "host-"));
        assert!(!matches("host-*", "other-host-1"));
        assert!(matches("*-daily", "web-daily"));
        assert!(!matches("*-daily", "web-daily.checkpoint"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(!matches("a?c", "abbc"));
        assert!(matches("*", ""));
        // Whole-name matches: no implicit `*` at either end.
        assert!(!matches("abc", "xabcx"));
    }

    #[test]
    fn classes_as_borg_reads_them() {
        assert!(matches("v[0-9]", "v7"));
        assert!(!matches("v[0-9]", "vx"));
        assert!(matches("v[!0-9]", "vx"));
        assert!(!matches("v[!0-9]", "v7"));
        assert!(matches("[]a]", "]"));
        assert!(matches("[!]a]", "b"));
        assert!(!matches("[!]a]", "]"));
        // `^` first is a member, not a negation, in borg's classes.
        assert!(matches("[^a]", "^"));
        assert!(matches("[^a]", "a"));
        assert!(!matches("[^a]", "b"));
        assert!(matches("[a-]", "-"));
        assert!(matches("[&&]", "&"));
        assert!(matches("[[]", "["));
    }

    #[test]
    fn everything_else_is_literal() {
        assert!(matches("a[b", "a[b"));
        assert!(matches("{a,b}", "{a,b}"));
        assert!(!matches("{a,b}", "a"));
        assert!(matches(r"a\b", r"a\b"));
        assert!(matches("a.b+c", "a.b+c"));
        assert!(!matches("a.b", "axb"));
        assert!(matches("[*]", "*"));
        assert!(!matches("[*]", "x"));
    }

    #[test]
    fn prefix_and_hosts() -> Result<(), String> {
        let filter = ArchiveFilter::new(Some("web-".into()), None, vec!["a".into(), "b".into()])?;
        assert!(filter.keeps_name("web-1") && !filter.keeps_name("db-1"));
        assert!(filter.keeps_host(Some("b")));
        assert!(!filter.keeps_host(Some("c")) && !filter.keeps_host(None));
        // As in borg 1.2, a prefix is a pattern's start.
        let pattern = ArchiveFilter::new(Some("web-[12]".into()), None, Vec::new())?;
        assert!(pattern.keeps_name("web-2x") && !pattern.keeps_name("web-[12]"));
        let any = ArchiveFilter::default();
        assert!(any.keeps_name("x") && any.keeps_host(None));
        Ok(())
    }

    /// The real borg (Debian's 1.2.4, its own `shellpattern.translate` and Python's `re`) decides
    /// the same for every pattern and name here. Where borg runs: not under wine, which runs the
    /// Windows build's unit tests.
    #[cfg(unix)]
    #[test]
    fn borg_itself_agrees() {
        let patterns = [
            "*",
            "web-*",
            "*-1",
            "?eb-[2-9]",
            "[!a-c]*",
            "[^a]",
            "[]x]",
            "[!]x]",
            "a[b",
            "[a-]",
            "{a,b}",
            r"a\b",
            "a.b",
            "*.checkpoint",
            "[[]",
            "x*y?z",
            "[*?]",
            "**/x",
            "",
        ];
        let names = [
            "web-1",
            "web-2",
            "db-1",
            "a",
            "^",
            "]",
            "x",
            "a[b",
            "-",
            "{a,b}",
            r"a\b",
            "a.b",
            "axb",
            "n.checkpoint",
            "[",
            "xAAyBz",
            "*",
            "?",
            "x",
            "d/x",
            "",
            "b",
        ];
        let script = "import sys, re\nfrom borg.shellpattern import translate\n\
            ps, ns = sys.argv[1].split('\\x1f'), sys.argv[2].split('\\x1f')\n\
            print(''.join('1' if re.match(translate(p, match_end=r'\\Z'), n) else '0' \
            for p in ps for n in ns))";
        let out = std::process::Command::new("/usr/bin/python3")
            .args(["-c", script, &patterns.join("\x1f"), &names.join("\x1f")])
            .output()
            .unwrap_or_else(|e| panic!("python3 with borg installed: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let borg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let ours: String = patterns
            .iter()
            .flat_map(|p| {
                names
                    .iter()
                    .map(move |n| if matches(p, n) { '1' } else { '0' })
            })
            .collect();
        assert_eq!(ours.len(), patterns.len() * names.len());
        assert_eq!(ours, borg);
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert!(ArchiveFilter::new(None, Some("[z-a]"), Vec::new()).is_err());
    }
}
