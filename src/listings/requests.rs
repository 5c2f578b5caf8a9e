//! Removal requests, kept in SQLite (`<state>/requests.sqlite3`): what is listed and
//! where, the requester's contact address and message, when and from which client,
//! and the admin's decision. A requester follows their request at `/request/<token>`,
//! where the token is 128 random bits: request numbers are for admins only.
//!
//! Texts are stored as the requester typed them and escaped wherever they are shown;
//! nothing is ever stored as HTML. The database allows one open request per zone and
//! listed value (a partial unique index), so a listing cannot be flooded with copies.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::time::unix_now;

/// File name of the database in the state directory.
pub(crate) const DATABASE_FILE: &str = "requests.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY,
    token       TEXT NOT NULL UNIQUE,
    zone        TEXT NOT NULL,
    what        TEXT NOT NULL,
    email       TEXT NOT NULL,
    message     TEXT NOT NULL,
    created     INTEGER NOT NULL,
    client_ip   TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'accepted', 'rejected')),
    answer      TEXT,
    answered    INTEGER,
    answered_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_request_per_listing
    ON requests (zone, what) WHERE state = 'open';
CREATE TABLE IF NOT EXISTS self_removals (
    id          INTEGER PRIMARY KEY,
    zone        TEXT NOT NULL,
    what        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    removed     INTEGER NOT NULL,
    client_ip   TEXT NOT NULL,
    contact     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS self_removals_by_value ON self_removals (zone, what, removed);
";

/// A listing removed by the listed themselves.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct SelfRemovalRecord {
    pub(crate) id: i64,
    pub(crate) zone: String,
    pub(crate) what: String,
    pub(crate) reason: String,
    /// Unix seconds.
    pub(crate) removed: i64,
    pub(crate) client_ip: String,
    pub(crate) contact: String,
}

/// One request, as stored.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Request {
    pub(crate) id: i64,
    /// The requester's secret: the path of their status page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) token: String,
    pub(crate) zone: String,
    pub what: String,
    pub email: String,
    pub message: String,
    /// Unix seconds.
    pub(crate) created: i64,
    pub client_ip: String,
    pub state: String,
    pub(crate) answer: Option<String>,
    pub(crate) answered: Option<i64>,
    pub(crate) answered_by: Option<String>,
}

impl RequestStore {
    /// Records that the listed removed `what` from `zone` themselves.
    pub(crate) fn record_self_removal(
        &self,
        zone: &str,
        what: &str,
        reason: &str,
        client_ip: &str,
        contact: &str,
    ) -> Result<(), RequestError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO self_removals (zone, what, reason, removed, client_ip, contact)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    zone,
                    what.to_ascii_lowercase(),
                    reason,
                    unix_now(),
                    client_ip,
                    contact
                ],
            )?;
            Ok(())
        })
    }

    /// When `what` last removed itself from `zone`, if ever.
    pub(crate) fn last_self_removal(
        &self,
        zone: &str,
        what: &str,
    ) -> Result<Option<i64>, RequestError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT MAX(removed) FROM self_removals WHERE zone = ?1 AND what = ?2",
                params![zone, what.to_ascii_lowercase()],
                |row| row.get::<_, Option<i64>>(0),
            )?)
        })
    }

    /// The newest self-removals, at most `limit`.
    pub(crate) fn self_removals(
        &self,
        limit: usize,
    ) -> Result<Vec<SelfRemovalRecord>, RequestError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT id, zone, what, reason, removed, client_ip, contact FROM self_removals
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = statement.query_map(params![limit as i64], |row| {
                Ok(SelfRemovalRecord {
                    id: row.get(0)?,
                    zone: row.get(1)?,
                    what: row.get(2)?,
                    reason: row.get(3)?,
                    removed: row.get(4)?,
                    client_ip: row.get(5)?,
                    contact: row.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

/// A new request's fields, checked by the caller.
#[derive(Debug, Clone)]
pub(crate) struct NewRequest<'a> {
    pub(crate) zone: &'a str,
    pub(crate) what: &'a str,
    pub(crate) email: &'a str,
    pub(crate) message: &'a str,
    pub(crate) client_ip: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("a removal request for {what} in {zone} is already open")]
    AlreadyOpen { zone: String, what: String },
    #[error("no request {0}")]
    NotFound(i64),
    #[error("request {id} is already {state}")]
    Decided { id: i64, state: String },
    #[error("cannot open the request database {path}: {error}")]
    Open {
        path: String,
        error: rusqlite::Error,
    },
    #[error("request database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("no random numbers for a request token: {0}")]
    Random(String),
}

/// The request database. Calls block (SQLite); async callers use `spawn_blocking`.
pub struct RequestStore {
    connection: Mutex<Connection>,
}

/// Which requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StateFilter {
    #[default]
    Open,
    Accepted,
    Rejected,
    All,
}

impl RequestStore {
    /// Opens (creating) `<state>/requests.sqlite3`.
    pub fn open(state: &Path) -> Result<Self, RequestError> {
        let path = state.join(DATABASE_FILE);
        let connection = Connection::open(&path).map_err(|error| RequestError::Open {
            path: path.display().to_string(),
            error,
        })?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.execute_batch(SCHEMA)?;
        Ok(RequestStore {
            connection: Mutex::new(connection),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, RequestError>,
    ) -> Result<T, RequestError> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut connection)
    }

    /// Stores a new open request; refused while one for the same listing is open.
    pub(crate) fn create(&self, new: &NewRequest<'_>) -> Result<Request, RequestError> {
        let token = random_token()?;
        let created = unix_now();
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO requests (token, zone, what, email, message, created, client_ip)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    token,
                    new.zone,
                    new.what,
                    new.email,
                    new.message,
                    created,
                    new.client_ip
                ],
            );
            match inserted {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(error, _))
                    if error.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(RequestError::AlreadyOpen {
                        zone: new.zone.to_string(),
                        what: new.what.to_string(),
                    });
                }
                Err(error) => return Err(error.into()),
            }
            let id = c.last_insert_rowid();
            Ok(Request {
                id,
                token,
                zone: new.zone.to_string(),
                what: new.what.to_string(),
                email: new.email.to_string(),
                message: new.message.to_string(),
                created,
                client_ip: new.client_ip.to_string(),
                state: "open".to_string(),
                answer: None,
                answered: None,
                answered_by: None,
            })
        })
    }

    /// The request behind a status page.
    pub(crate) fn by_token(&self, token: &str) -> Result<Option<Request>, RequestError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM requests WHERE token = ?1"),
                params![token],
                row,
            )
            .optional()?)
        })
    }

    pub(crate) fn by_id(&self, id: i64) -> Result<Option<Request>, RequestError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM requests WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()?)
        })
    }

    /// Requests in `filter`'s state, oldest first, at most `limit`.
    pub fn list(&self, filter: StateFilter, limit: usize) -> Result<Vec<Request>, RequestError> {
        let state = match filter {
            StateFilter::Open => Some("open"),
            StateFilter::Accepted => Some("accepted"),
            StateFilter::Rejected => Some("rejected"),
            StateFilter::All => None,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS} FROM requests WHERE ?1 IS NULL OR state = ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![state, limit], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Records the admin's decision on an open request.
    pub(crate) fn decide(
        &self,
        id: i64,
        accepted: bool,
        answer: &str,
        by: &str,
    ) -> Result<Request, RequestError> {
        let state = if accepted { "accepted" } else { "rejected" };
        self.with(|c| {
            let changed = c.execute(
                "UPDATE requests SET state = ?2, answer = ?3, answered = ?4, answered_by = ?5
                 WHERE id = ?1 AND state = 'open'",
                params![id, state, answer, unix_now(), by],
            )?;
            let current = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM requests WHERE id = ?1"),
                    params![id],
                    row,
                )
                .optional()?
                .ok_or(RequestError::NotFound(id))?;
            if changed == 0 {
                return Err(RequestError::Decided {
                    id,
                    state: current.state,
                });
            }
            Ok(current)
        })
    }
}

const COLUMNS: &str = "id, token, zone, what, email, message, created, client_ip, state, answer, answered, answered_by";

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Request> {
    Ok(Request {
        id: row.get(0)?,
        token: row.get(1)?,
        zone: row.get(2)?,
        what: row.get(3)?,
        email: row.get(4)?,
        message: row.get(5)?,
        created: row.get(6)?,
        client_ip: row.get(7)?,
        state: row.get(8)?,
        answer: row.get(9)?,
        answered: row.get(10)?,
        answered_by: row.get(11)?,
    })
}

/// 128 random bits in hex.
pub(crate) fn random_token() -> Result<String, RequestError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| RequestError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(what: &'a str) -> NewRequest<'a> {
        NewRequest {
            zone: "ips.block.example",
            what,
            email: "me@example.org",
            message: "<b>fixed</b>",
            client_ip: "192.0.2.1",
        }
    }

    #[test]
    fn one_open_request_per_listing_and_decisions_stick() {
        let dir = tempfile::tempdir().unwrap();
        let store = RequestStore::open(dir.path()).unwrap();
        let first = store.create(&new("203.0.113.7")).unwrap();
        assert_eq!(first.token.len(), 32);
        assert!(matches!(
            store.create(&new("203.0.113.7")),
            Err(RequestError::AlreadyOpen { .. })
        ));
        let other = store.create(&new("203.0.113.8")).unwrap();
        assert_ne!(first.token, other.token);
        let decided = store
            .decide(first.id, false, "still spamming", "ops")
            .unwrap();
        assert_eq!(decided.state, "rejected");
        assert!(matches!(
            store.decide(first.id, true, "", "ops"),
            Err(RequestError::Decided { .. })
        ));
        // Decided, so a new request for the same listing may be opened.
        store.create(&new("203.0.113.7")).unwrap();
        let seen = store.by_token(&first.token).unwrap().unwrap();
        assert_eq!(
            seen.message, "<b>fixed</b>",
            "stored as typed, never as HTML"
        );
        assert_eq!(store.list(StateFilter::Open, 10).unwrap().len(), 2);
        assert_eq!(store.list(StateFilter::All, 10).unwrap().len(), 3);
        assert!(store.by_token("0000").unwrap().is_none());
    }
}
