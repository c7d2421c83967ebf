//! Releases (PROTOCOL.md §7): what may be recorded, yanked and restored, and
//! which release a download gets.

use skyline_protocol::version::Version;

use super::catalog::check_version;
use super::{
    audit, require_product, Actor, AuditAction, Command, Decision, DomainError, Needs, NewRelease,
    Product, Release, ReleaseChannel, ReleaseRef, Snapshot, Write,
};

/// How the audit log and errors name a release.
pub fn describe(product_id: &str, version: &str, platform: Option<&str>) -> String {
    match platform {
        Some(p) => format!("release {version} of `{product_id}` for {p}"),
        None => format!("release {version} of `{product_id}`"),
    }
}

/// Whether `name` is a usable platform name: 1 to 64 of `a-z 0-9 . _ -`.
pub fn valid_platform(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// A file name safe to offer in `Content-Disposition` and to save under:
/// the last path component, with every character outside `A-Z a-z 0-9 . _ -
/// +` replaced by `_`, no leading dot, at most 128 characters. `None` when
/// nothing usable is left.
pub fn sanitize_file_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    let cleaned: String = cleaned.chars().take(128).collect();
    (!cleaned.is_empty() && cleaned.chars().any(|c| c != '_')).then_some(cleaned)
}

/// Checks what a publish names before its artifact is stored: the version,
/// the platform, the minimum version and the file name (returned sanitized).
pub fn check_publish(
    version: &str,
    platform: Option<&str>,
    min_version: Option<&str>,
    file_name: &str,
) -> Result<String, DomainError> {
    let release = check_version(version)?;
    if let Some(platform) = platform {
        if !valid_platform(platform) {
            return Err(DomainError::invalid(
                "a platform name must be 1 to 64 of a-z, 0-9, `.`, `_` and `-`",
            ));
        }
    }
    if let Some(min) = min_version {
        if check_version(min)? > release {
            return Err(DomainError::invalid(format!(
                "the minimum supported version {min} would be newer than the release {version}"
            )));
        }
    }
    sanitize_file_name(file_name).ok_or_else(|| {
        DomainError::invalid(format!(
            "`{}` is not a usable file name",
            file_name.chars().take(64).collect::<String>()
        ))
    })
}

/// Records a release whose artifact is already stored under its digest and,
/// with `min_version`, raises the product's minimum supported version with
/// it. A release of the same product, platform and (numerically) equal
/// version is a conflict: `7.0` and `7.0.0` are one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRelease {
    /// The release.
    pub release: NewRelease,
    /// A new minimum supported version of the product.
    pub min_version: Option<String>,
}

impl Command for RecordRelease {
    type Outcome = ();

    fn needs(&self) -> Needs {
        Needs {
            product: Some(self.release.product_id.clone()),
            lock_product: true,
            releases: true,
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<()>, DomainError> {
        let release = &self.release;
        let product = require_product(seen, &release.product_id)?;
        check_publish(
            &release.version,
            release.platform.as_deref(),
            self.min_version.as_deref(),
            &release.file_name,
        )?;
        let version = check_version(&release.version)?;
        let what = describe(
            &release.product_id,
            &release.version,
            release.platform.as_deref(),
        );
        let duplicate = seen.releases.iter().any(|existing| {
            existing.platform == release.platform
                && Version::parse(&existing.version).ok().as_ref() == Some(&version)
        });
        if duplicate {
            return Err(DomainError::conflict(what));
        }
        let detail = format!(
            "{what}, {} channel, {} ({} bytes, sha256 {})",
            release.channel.as_str(),
            release.file_name,
            release.size,
            hex::encode(release.sha256)
        );
        let mut writes = vec![
            Write::InsertRelease {
                release: release.clone(),
                at: by.at,
            },
            audit(
                by,
                AuditAction::ReleasePublished,
                Some(&product.id),
                None,
                detail,
            ),
        ];
        if let Some(min) = &self.min_version {
            writes.push(Write::UpdateProduct(Product {
                min_version: min.clone(),
                ..product.clone()
            }));
            let detail = format!("minimum version {} -> {min}", product.min_version);
            writes.push(audit(
                by,
                AuditAction::ProductUpdated,
                Some(&product.id),
                None,
                detail,
            ));
        }
        Ok(Decision::new((), writes))
    }
}

/// Yanks (withdraws) a release, or restores it with `yanked = false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetReleaseYanked {
    /// The release, by product, version as published, and platform.
    pub release: ReleaseRef,
    /// Withdraw or restore.
    pub yanked: bool,
}

impl Command for SetReleaseYanked {
    type Outcome = Release;

    fn needs(&self) -> Needs {
        Needs {
            product: Some(self.release.product_id.clone()),
            releases: true,
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<Release>, DomainError> {
        let wanted = &self.release;
        let what = describe(
            &wanted.product_id,
            &wanted.version,
            wanted.platform.as_deref(),
        );
        let found = seen
            .releases
            .iter()
            .find(|r| r.version == wanted.version && r.platform == wanted.platform)
            .ok_or_else(|| DomainError::not_found(what.clone()))?;
        let action = if self.yanked {
            AuditAction::ReleaseYanked
        } else {
            AuditAction::ReleaseUnyanked
        };
        let writes = vec![
            Write::SetReleaseYanked {
                id: found.id,
                yanked: self.yanked,
            },
            audit(by, action, Some(&wanted.product_id), None, what),
        ];
        let release = Release {
            yanked: self.yanked,
            ..found.clone()
        };
        Ok(Decision::new(release, writes))
    }
}

fn parsed(release: &Release) -> Option<Version> {
    Version::parse(&release.version).ok()
}

/// Whether `release` is for `platform`: a release for every platform fits
/// any; without a platform only those fit.
fn fits(release: &Release, platform: Option<&str>) -> bool {
    match (&release.platform, platform) {
        (None, _) => true,
        (Some(p), Some(wanted)) => p == wanted,
        (Some(_), None) => false,
    }
}

/// Orders candidates: higher version first; at the same version, the
/// platform's own build before the every-platform one.
fn better(a: &Release, b: &Release) -> bool {
    match (parsed(a), parsed(b)) {
        (Some(va), Some(vb)) if va != vb => va > vb,
        _ => a.platform.is_some() && b.platform.is_none(),
    }
}

/// The newest release a client on `platform` following `channel` is
/// offered: not yanked, the highest version by numeric comparison. With a
/// platform, that platform's releases and every-platform releases compete;
/// without one, only every-platform releases. The beta channel also offers
/// stable releases.
pub fn select_latest<'a>(
    releases: &'a [Release],
    platform: Option<&str>,
    channel: ReleaseChannel,
) -> Option<&'a Release> {
    releases
        .iter()
        .filter(|r| !r.yanked && channel.offers(r.channel) && fits(r, platform))
        .filter(|r| parsed(r).is_some())
        .fold(None, |best: Option<&Release>, r| match best {
            Some(b) if !better(r, b) => Some(b),
            _ => Some(r),
        })
}

/// The release with this version (compared numerically, so `7.0` finds
/// `7.0.0`) for `platform`, yanked or not (the caller decides).
pub fn select_version<'a>(
    releases: &'a [Release],
    version: &str,
    platform: Option<&str>,
) -> Option<&'a Release> {
    let wanted = Version::parse(version).ok()?;
    releases
        .iter()
        .filter(|r| fits(r, platform) && parsed(r).as_ref() == Some(&wanted))
        .fold(None, |best: Option<&Release>, r| match best {
            Some(b) if b.platform.is_some() => Some(b),
            _ => Some(r),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::*;

    fn release(version: &str, platform: Option<&str>, channel: ReleaseChannel) -> Release {
        Release {
            id: 0,
            product_id: "telepower".into(),
            version: version.into(),
            platform: platform.map(str::to_owned),
            channel,
            file_name: "f".into(),
            size: 0,
            sha256: [0; 32],
            signature: [0; 64],
            yanked: false,
            published_at: 0,
        }
    }

    fn new_release(version: &str) -> NewRelease {
        NewRelease {
            product_id: "telepower".into(),
            version: version.into(),
            platform: None,
            channel: ReleaseChannel::Stable,
            file_name: "app.exe".into(),
            size: 3,
            sha256: [9; 32],
            signature: [0; 64],
        }
    }

    #[test]
    fn latest_is_numeric_and_respects_channel_platform_and_yank() {
        use ReleaseChannel::{Beta, Stable};
        let mut all = vec![
            release("7.0.9", None, Stable),
            release("7.0.10", None, Stable),
            release("7.1.0", None, Beta),
            release("7.0.10", Some("win"), Stable),
            release("8.0", Some("mac"), Stable),
        ];
        let pick = |all: &[Release], p, c| {
            select_latest(all, p, c).map(|r| (r.version.clone(), r.platform.clone()))
        };
        assert_eq!(pick(&all, None, Stable), Some(("7.0.10".into(), None)));
        assert_eq!(pick(&all, None, Beta), Some(("7.1.0".into(), None)));
        assert_eq!(
            pick(&all, Some("win"), Stable),
            Some(("7.0.10".into(), Some("win".into())))
        );
        assert_eq!(
            pick(&all, Some("mac"), Stable),
            Some(("8.0".into(), Some("mac".into())))
        );
        all[1].yanked = true;
        all[3].yanked = true;
        assert_eq!(
            pick(&all, Some("win"), Stable),
            Some(("7.0.9".into(), None))
        );
        assert_eq!(select_latest(&all[..0], None, Stable), None);
    }

    #[test]
    fn versions_match_numerically() {
        let all = vec![
            release("7.0.0", None, ReleaseChannel::Stable),
            release("7.0", Some("win"), ReleaseChannel::Stable),
        ];
        assert_eq!(select_version(&all, "7", None).unwrap().version, "7.0.0");
        assert_eq!(
            select_version(&all, "7.0.0", Some("win")).unwrap().version,
            "7.0"
        );
        assert!(select_version(&all, "7.0.1", None).is_none());
        assert!(select_version(&all, "latest", None).is_none());
    }

    #[test]
    fn file_names_are_sanitized() {
        assert_eq!(
            sanitize_file_name("a/b/Tele Power 7.0.exe").unwrap(),
            "Tele_Power_7.0.exe"
        );
        assert_eq!(sanitize_file_name("..\\..\\evil\".sh").unwrap(), "evil_.sh");
        assert_eq!(sanitize_file_name("...hidden").unwrap(), "hidden");
        assert_eq!(sanitize_file_name("\"\r\n"), None);
        assert_eq!(sanitize_file_name(""), None);
        assert!(valid_platform("windows-x64"));
        assert!(!valid_platform("Windows x64"));
    }

    #[test]
    fn a_numerically_equal_version_is_a_conflict() {
        let seen = Snapshot {
            product: Some(product()),
            releases: vec![release("7.0.0", None, ReleaseChannel::Stable)],
            ..Snapshot::default()
        };
        let by = cli("2025-01-01");
        let record = |version: &str, min: Option<&str>| RecordRelease {
            release: new_release(version),
            min_version: min.map(str::to_owned),
        };
        assert!(matches!(
            record("7.0", None).decide(&seen, &by),
            Err(DomainError::Conflict { .. })
        ));
        let raised = record("7.1", Some("7.1")).decide(&seen, &by).unwrap();
        assert_eq!(
            audited(&raised.writes),
            [AuditAction::ReleasePublished, AuditAction::ProductUpdated]
        );
        assert!(record("7.1", Some("7.2")).decide(&seen, &by).is_err());
        assert!(matches!(
            record("7.1", None).decide(&Snapshot::default(), &by),
            Err(DomainError::NotFound { .. })
        ));
    }

    #[test]
    fn yanking_finds_the_exact_release() {
        let seen = Snapshot {
            product: Some(product()),
            releases: vec![release("7.0.0", Some("win"), ReleaseChannel::Stable)],
            ..Snapshot::default()
        };
        let by = cli("2025-01-01");
        let yank = |platform: Option<&str>| SetReleaseYanked {
            release: ReleaseRef {
                product_id: "telepower".into(),
                version: "7.0.0".into(),
                platform: platform.map(str::to_owned),
            },
            yanked: true,
        };
        let yanked = yank(Some("win")).decide(&seen, &by).unwrap();
        assert!(yanked.outcome.yanked);
        assert!(matches!(
            yank(None).decide(&seen, &by),
            Err(DomainError::NotFound { .. })
        ));
    }
}
