//! The audit log: one JSON object a line in `<state>/audit.log`, appended for every
//! change the admin API, the command line or a removal request makes, so an admin can
//! answer "who delisted this, when, and why" after the fact.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::time::now_rfc3339;

/// Name of the log in the state directory.
pub(crate) const AUDIT_FILE: &str = "audit.log";

/// One change. Fields that do not apply are left out of the line.
#[derive(Debug, Default, Serialize)]
pub(crate) struct AuditRecord<'a> {
    pub(crate) action: &'a str,
    /// Who: `api`, `cli:<user>`, or the `by` an admin gave.
    pub(crate) by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expires: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ticket: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) answer: Option<&'a str>,
    /// The client address of an HTTP change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client: Option<String>,
    /// Entries a change removed, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) removed: Vec<String>,
}

/// Appends to `<state>/audit.log`.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    path: PathBuf,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    record: &'a AuditRecord<'a>,
}

impl AuditLog {
    pub(crate) fn new(state: &Path) -> Self {
        AuditLog {
            path: state.join(AUDIT_FILE),
        }
    }

    /// Appends one line and syncs it: a change that was made is logged, even if ward
    /// dies right after.
    pub(crate) fn append(&self, record: &AuditRecord<'_>) -> io::Result<()> {
        let mut line = serde_json::to_string(&Line {
            time: now_rfc3339(),
            record,
        })
        .map_err(io::Error::other)?;
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        // One write with O_APPEND: lines from concurrent writers never interleave.
        file.write_all(line.as_bytes())?;
        file.sync_data()
    }
}
