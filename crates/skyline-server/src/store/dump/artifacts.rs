//! [`ArtifactPieces`]: the pieces of release artifacts in a dump, checked as
//! they arrive.

use aws_lc_rs::digest;
use base64::Engine;

use super::bad_dump;
use crate::domain::Sha256Digest;
use crate::store::StoreError;

/// Checks a dump's [`DumpRecord::ReleaseBlob`]s as they arrive: each
/// artifact's pieces in order from offset 0 without gaps or overlaps, one
/// artifact after the other, each whole, and its bytes hashing to its name.
#[derive(Default)]
pub struct ArtifactPieces {
    current: Option<Artifact>,
}

impl std::fmt::Debug for ArtifactPieces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactPieces")
            .field(
                "current",
                &self.current.as_ref().map(|a| hex::encode(a.sha256)),
            )
            .finish()
    }
}

/// The artifact whose pieces are arriving.
struct Artifact {
    sha256: Sha256Digest,
    size: u64,
    next: u64,
    hash: digest::Context,
}

/// One checked piece of an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactPiece {
    /// The artifact's name.
    pub sha256: Sha256Digest,
    /// Its whole size.
    pub size: u64,
    /// Where these bytes start.
    pub offset: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// This piece completes the artifact (and its digest was checked).
    pub last: bool,
}

impl ArtifactPieces {
    /// Checks the next piece (the fields of a [`DumpRecord::ReleaseBlob`]).
    pub fn accept(
        &mut self,
        sha256: &str,
        size: u64,
        offset: u64,
        data: &str,
    ) -> Result<ArtifactPiece, StoreError> {
        let name: Sha256Digest = hex::decode(sha256)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| bad_dump("an artifact's name is not 64 hex digits"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| bad_dump(&format!("a piece of artifact {sha256} is not base64")))?;
        if offset == 0 {
            self.finish()?;
            self.current = Some(Artifact {
                sha256: name,
                size,
                next: 0,
                hash: digest::Context::new(&digest::SHA256),
            });
        }
        let artifact = self
            .current
            .as_mut()
            .filter(|a| a.sha256 == name && a.size == size && a.next == offset)
            .ok_or_else(|| {
                bad_dump(&format!("the pieces of artifact {sha256} are out of order"))
            })?;
        let end = offset.saturating_add(bytes.len() as u64);
        if end > size || (bytes.is_empty() && size != 0) {
            return Err(bad_dump(&format!(
                "a piece of artifact {sha256} does not fit its size"
            )));
        }
        artifact.hash.update(&bytes);
        artifact.next = end;
        let last = end == size;
        if last {
            let done = self.current.take().map(|a| a.hash.finish());
            if done.as_ref().map(digest::Digest::as_ref) != Some(&name[..]) {
                return Err(bad_dump(&format!(
                    "artifact {sha256} does not match its digest (damaged?)"
                )));
            }
        }
        Ok(ArtifactPiece {
            sha256: name,
            size,
            offset,
            bytes,
            last,
        })
    }

    /// Fails if an artifact's pieces stopped before its end.
    pub fn finish(&self) -> Result<(), StoreError> {
        match &self.current {
            Some(a) => Err(bad_dump(&format!(
                "artifact {} ends after {} of its {} bytes",
                hex::encode(a.sha256),
                a.next,
                a.size
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DumpRecord;

    fn pieces_of(bytes: &[u8]) -> Vec<(String, u64, u64, String)> {
        let sha: Sha256Digest = digest::digest(&digest::SHA256, bytes)
            .as_ref()
            .try_into()
            .unwrap();
        DumpRecord::artifact_pieces(&sha, bytes.len() as u64, 0, bytes)
            .into_iter()
            .map(|r| match r {
                DumpRecord::ReleaseBlob {
                    sha256,
                    size,
                    offset,
                    data,
                } => (sha256, size, offset, data),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn artifacts_arrive_whole_in_order_and_as_named() {
        let bytes: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let pieces = pieces_of(&bytes);
        assert_eq!(pieces.len(), 3);
        let mut check = ArtifactPieces::default();
        let mut back = Vec::new();
        for (sha, size, offset, data) in &pieces {
            let piece = check.accept(sha, *size, *offset, data).unwrap();
            back.extend_from_slice(&piece.bytes);
            assert_eq!(piece.last, back.len() == bytes.len());
        }
        check.finish().unwrap();
        assert_eq!(back, bytes);

        // An empty artifact is one empty piece.
        let empty = pieces_of(b"");
        assert_eq!(empty.len(), 1);
        let (sha, size, offset, data) = &empty[0];
        assert!(check.accept(sha, *size, *offset, data).unwrap().last);

        // Out of order, truncated, or damaged: refused.
        let mut skipped = ArtifactPieces::default();
        let (sha, size, _, data) = &pieces[1];
        assert!(skipped.accept(sha, *size, 65_536, data).is_err());
        let mut truncated = ArtifactPieces::default();
        let (sha, size, offset, data) = &pieces[0];
        truncated.accept(sha, *size, *offset, data).unwrap();
        assert!(truncated.finish().is_err());
        let mut damaged = ArtifactPieces::default();
        let mut other = bytes.clone();
        other[149_999] ^= 1;
        let wrong = pieces_of(&other);
        for (i, (_, size, offset, data)) in wrong.iter().enumerate() {
            let result = damaged.accept(&pieces[0].0, *size, *offset, data);
            assert_eq!(result.is_err(), i == 2, "piece {i}");
        }
    }
}
