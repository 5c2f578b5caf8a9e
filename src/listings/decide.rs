//! Deciding a removal request, the same from the admin API and `ward requests`:
//! accepting removes the listing's entries from the zone's `api.zone` and marks the
//! request accepted; rejecting records the answer. Entries in admins' own files are
//! never rewritten, so an accepted request can leave the value listed: the outcome
//! says so, read from the zone's files as they are now (the served snapshot catches
//! up at the next reload).

use std::sync::Arc;

use serde::Serialize;

use super::audit::AuditRecord;
use super::edit::{ApiEntry, EditError, Editor, Removal, check_by};
use super::requests::{Request, RequestError, RequestStore};
use crate::load::{load_catalogue, load_zones, scan};
use crate::report::explain;
use crate::store::Snapshot;
use crate::time::unix_now;
use crate::zone::reason::Catalogue;

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// What a decision did.
#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    pub(crate) request: Request,
    /// Entries removed from `api.zone`.
    pub(crate) removed: Vec<ApiEntry>,
    /// The zone's files still list the value (entries the API does not own).
    pub(crate) still_listed: bool,
}

/// Accepts or rejects open request `id`.
pub(crate) fn decide(
    editor: &Editor,
    requests: &RequestStore,
    id: i64,
    accepted: bool,
    answer: &str,
    by: &str,
    client: Option<String>,
) -> Result<Outcome, DecideError> {
    check_by(by)?;
    check_answer(answer)?;
    let request = requests.by_id(id)?.ok_or(RequestError::NotFound(id))?;
    if request.state != "open" {
        return Err(RequestError::Decided {
            id,
            state: request.state,
        }
        .into());
    }
    let removed = if accepted {
        editor.remove(Removal {
            must_exist: false,
            request: Some(id),
            client: client.as_deref(),
            ..Removal::of(&request.zone, &request.what, by)
        })?
    } else {
        Vec::new()
    };
    let request = requests.decide(id, accepted, answer, by)?;
    let logged = editor.audit().append(&AuditRecord {
        action: if accepted { "accept" } else { "reject" },
        by,
        zone: Some(&request.zone),
        key: Some(&request.what),
        request: Some(id),
        answer: Some(answer),
        client,
        ..AuditRecord::default()
    });
    if let Err(error) = logged {
        return Err(EditError::Audit(error).into());
    }
    let still_listed = accepted && listed_in_files(editor, &request.zone, &request.what);
    Ok(Outcome {
        request,
        removed,
        still_listed,
    })
}

/// The answer the requester reads: text of a sensible length, no control characters
/// but line breaks (it is shown escaped, and goes into the audit log as JSON).
fn check_answer(answer: &str) -> Result<(), EditError> {
    const MAX_ANSWER: usize = 4000;
    if answer.chars().count() > MAX_ANSWER
        || answer
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(EditError::Invalid(format!(
            "answer: expected text of at most {MAX_ANSWER} characters, without control characters"
        )));
    }
    Ok(())
}

/// Whether the zone's files, read now, list `what`.
fn listed_in_files(editor: &Editor, zone: &str, what: &str) -> bool {
    let Ok(scan) = scan(editor.zones()) else {
        return false;
    };
    let Some(source) = scan.zones.iter().find(|z| z.name.to_string() == zone) else {
        return false;
    };
    let catalogue = match &scan.catalogue {
        Some(path) => load_catalogue(path).0,
        None => Catalogue::default(),
    };
    let mut options = editor.options().clone();
    options.test_points = false;
    let loads = load_zones(
        std::slice::from_ref(source),
        &Arc::new(catalogue),
        &options,
        true,
        &|_| None,
        None,
    );
    let snapshot = Snapshot::new(
        loads
            .into_iter()
            .filter_map(|l| l.zone.map(Arc::new))
            .collect(),
    );
    explain::lookup(what, &snapshot, &|_| &[], unix_now(), explain::Keys::Never)
        .is_ok_and(|l| l.listed())
}
