//! Dotted version numbers compared numerically, component by component
//! (PROTOCOL.md section 6: `7.0.10 > 7.0.9`, `7.0 == 7.0.0`).

use std::cmp::Ordering;
use std::fmt;

/// Most components accepted in a version.
pub const MAX_COMPONENTS: usize = 8;

/// A parsed version: its numeric components, trailing zeros insignificant.
#[derive(Debug, Clone)]
pub struct Version(Vec<u64>);

/// Text that is not a dotted numeric version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a dotted numeric version such as 7.0.3")]
pub struct VersionError(pub String);

impl Version {
    /// Parses `7.0.3`: 1 to 8 non-empty decimal components.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let bad = || VersionError(text.chars().take(64).collect());
        let parts: Vec<u64> = text
            .split('.')
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                p.parse::<u64>().map_err(|_| bad())
            })
            .collect::<Result<_, _>>()?;
        if parts.len() > MAX_COMPONENTS {
            return Err(bad());
        }
        Ok(Version(parts))
    }

    fn component(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.0.len().max(other.0.len());
        (0..n)
            .map(|i| self.component(i).cmp(&other.component(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// Compares two version strings; an error names the one that does not parse.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(Version::parse(a)?.cmp(&Version::parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_versions() {
        for bad in [
            "",
            "7.",
            ".7",
            "7..0",
            "v7",
            "7.0.3-beta",
            "1.2.3.4.5.6.7.8.9",
            "99999999999999999999999",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn equal_versions_ignore_trailing_zeros() {
        assert_eq!(
            Version::parse("7.0").unwrap(),
            Version::parse("7.0.0").unwrap()
        );
        assert_eq!(compare("7.1", "7.0.5"), Ok(Ordering::Greater));
    }
}
