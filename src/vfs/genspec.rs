//! Which generation a single view shows: `latest`, `latest~N` (N before the newest) or a name.
//! Parsed from the command line, resolved against the generations the mount would list.

use std::str::FromStr;

/// A choice of one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenerationSpec {
    /// `latest~N`: N generations before the newest (`latest` is `Latest(0)`).
    Latest(usize),
    /// A generation's name.
    Named(String),
}

impl Default for GenerationSpec {
    fn default() -> Self {
        GenerationSpec::Latest(0)
    }
}

impl FromStr for GenerationSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "latest" {
            return Ok(GenerationSpec::Latest(0));
        }
        match text.strip_prefix("latest~") {
            Some(back) => back
                .parse()
                .map(GenerationSpec::Latest)
                .map_err(|_| format!("'{text}' is not latest~N with N a whole number")),
            None if text.is_empty() => Err("an empty generation name".into()),
            None => Ok(GenerationSpec::Named(text.to_string())),
        }
    }
}

impl GenerationSpec {
    /// The index into `names` (oldest first) that this spec picks, if any.
    pub fn pick(&self, names: &[&str]) -> Option<usize> {
        match self {
            GenerationSpec::Latest(back) => names.len().checked_sub(back.checked_add(1)?),
            GenerationSpec::Named(name) => names.iter().position(|n| n == name),
        }
    }
}

impl std::fmt::Display for GenerationSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GenerationSpec::Latest(0) => f.write_str("latest"),
            GenerationSpec::Latest(n) => write!(f, "latest~{n}"),
            GenerationSpec::Named(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_picks() {
        let names = ["a", "b", "c"];
        let pick = |s: &str| {
            s.parse::<GenerationSpec>()
                .ok()
                .and_then(|g| g.pick(&names))
        };
        assert_eq!(pick("latest"), Some(2));
        assert_eq!(pick("latest~0"), Some(2));
        assert_eq!(pick("latest~2"), Some(0));
        assert_eq!(pick("latest~3"), None);
        assert_eq!(pick("b"), Some(1));
        assert_eq!(pick("zz"), None);
        assert_eq!(pick(&format!("latest~{}", usize::MAX)), None);
        assert!("latest~x".parse::<GenerationSpec>().is_err());
        assert!("".parse::<GenerationSpec>().is_err());
    }
}
