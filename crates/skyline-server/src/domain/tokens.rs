//! Admin API tokens, their use, and audit entries written from outside a
//! decision (the security log's counts).

use super::{
    audit, require_license, Actor, AdminToken, AuditAction, AuditEntry, Command, Decision,
    DomainError, Needs, NewAdminToken, NewAuditEntry, Snapshot, Write,
};

/// Checks a token's name: 1 to 64 characters without control characters.
pub fn check_name(name: &str) -> Result<(), DomainError> {
    let ok = (1..=64).contains(&name.chars().count()) && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "a token name must be 1 to 64 characters without control characters",
        ))
    }
}

/// Records a new admin token (only its secret's hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAdminToken(pub NewAdminToken);

impl Command for CreateAdminToken {
    type Outcome = AdminToken;

    fn needs(&self) -> Needs {
        Needs {
            admin_token: Some(self.0.id.clone()),
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<AdminToken>, DomainError> {
        let new = &self.0;
        check_name(&new.name)?;
        if seen.admin_token.is_some() {
            return Err(DomainError::conflict(format!("admin token `{}`", new.id)));
        }
        let access = if new.read_only {
            "read-only"
        } else {
            "read-write"
        };
        let detail = format!("token `{}` ({}), {access}", new.name, new.id);
        let token = AdminToken {
            id: new.id.clone(),
            name: new.name.clone(),
            read_only: new.read_only,
            created_at: by.at,
            last_used_at: None,
            revoked_at: None,
        };
        let writes = vec![
            Write::InsertAdminToken {
                token: new.clone(),
                at: by.at,
            },
            audit(by, AuditAction::AdminTokenCreated, None, None, detail),
        ];
        Ok(Decision::new(token, writes))
    }
}

/// Revokes a token; revoking twice keeps the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeAdminToken {
    /// The token's public id.
    pub id: String,
}

impl Command for RevokeAdminToken {
    type Outcome = AdminToken;

    fn needs(&self) -> Needs {
        Needs {
            admin_token: Some(self.id.clone()),
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<AdminToken>, DomainError> {
        let token = seen
            .admin_token
            .as_ref()
            .ok_or_else(|| DomainError::not_found(format!("admin token `{}`", self.id)))?;
        if token.revoked_at.is_some() {
            return Ok(Decision::new(token.clone(), Vec::new()));
        }
        let detail = format!("token `{}` ({})", token.name, token.id);
        let writes = vec![
            Write::RevokeAdminToken {
                id: token.id.clone(),
                at: by.at,
            },
            audit(by, AuditAction::AdminTokenRevoked, None, None, detail),
        ];
        let revoked = AdminToken {
            revoked_at: Some(by.at),
            ..token.clone()
        };
        Ok(Decision::new(revoked, writes))
    }
}

/// Appends an audit entry written outside a decision (the security log's
/// per-address counts, a token's use). A license named by digest must exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendAudit(pub AuditEntry);

impl AppendAudit {
    fn write(&self, seen: &Snapshot) -> Result<Write, DomainError> {
        let entry = &self.0;
        let license_id = match entry.license {
            Some(_) => Some(require_license(seen)?.id),
            None => None,
        };
        Ok(Write::Audit(NewAuditEntry {
            actor: entry.actor.clone(),
            action: entry.action,
            product_id: entry.product_id.clone(),
            license_id,
            detail: entry.detail.clone(),
        }))
    }
}

impl Command for AppendAudit {
    type Outcome = ();

    fn needs(&self) -> Needs {
        Needs {
            license: self.0.license,
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, _by: &Actor) -> Result<Decision<()>, DomainError> {
        Ok(Decision::new((), vec![self.write(seen)?]))
    }
}

/// Notes one use of a token: its last use, and the entry in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAdminTokenUse {
    /// The token's public id.
    pub id: String,
    /// What it was used for.
    pub entry: AuditEntry,
}

impl Command for RecordAdminTokenUse {
    type Outcome = ();

    fn needs(&self) -> Needs {
        Needs {
            license: self.entry.license,
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, _by: &Actor) -> Result<Decision<()>, DomainError> {
        let entry = AppendAudit(self.entry.clone()).write(seen)?;
        let touch = Write::TouchAdminToken {
            id: self.id.clone(),
            at: self.entry.actor.at,
        };
        Ok(Decision::new((), vec![touch, entry]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::*;

    fn new_token(name: &str) -> NewAdminToken {
        NewAdminToken {
            id: "0123456789abcdef".into(),
            name: name.into(),
            read_only: false,
            secret_hash: [3; 32],
        }
    }

    #[test]
    fn tokens_are_named_created_once_and_revoked_once() {
        let by = cli("2025-01-01");
        let made = CreateAdminToken(new_token("billing"))
            .decide(&Snapshot::default(), &by)
            .unwrap();
        assert_eq!(made.outcome.created_at, by.at);
        assert!(CreateAdminToken(new_token("bad\nname"))
            .decide(&Snapshot::default(), &by)
            .is_err());
        let existing = Snapshot {
            admin_token: Some(made.outcome.clone()),
            ..Snapshot::default()
        };
        assert!(matches!(
            CreateAdminToken(new_token("billing")).decide(&existing, &by),
            Err(DomainError::Conflict { .. })
        ));
        let revoke = RevokeAdminToken {
            id: "0123456789abcdef".into(),
        };
        let revoked = revoke.decide(&existing, &by).unwrap();
        assert_eq!(revoked.outcome.revoked_at, Some(by.at));
        let again = Snapshot {
            admin_token: Some(revoked.outcome.clone()),
            ..Snapshot::default()
        };
        let later = cli("2025-02-01");
        let twice = revoke.decide(&again, &later).unwrap();
        assert_eq!(twice.outcome.revoked_at, Some(by.at));
        assert!(twice.writes.is_empty());
    }

    #[test]
    fn an_entry_about_a_missing_license_is_refused() {
        let entry = AuditEntry {
            actor: cli("2025-01-01"),
            action: AuditAction::AdminTokenUsed,
            product_id: None,
            license: Some([1; 32]),
            detail: "x".into(),
        };
        assert!(AppendAudit(entry.clone())
            .decide(&Snapshot::default(), &cli("2025-01-01"))
            .is_err());
        let without = AuditEntry {
            license: None,
            ..entry
        };
        let decided = RecordAdminTokenUse {
            id: "t".into(),
            entry: without,
        }
        .decide(&Snapshot::default(), &cli("2025-01-01"))
        .unwrap();
        assert_eq!(decided.writes.len(), 2);
    }
}
