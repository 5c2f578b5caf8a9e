//! Unix seconds as RFC 3339 text, for `added=`, the audit log and the pages: ward's
//! parser reads these back, so they are written in the one form it documents.

use crate::clock::unix_now;
pub(crate) use crate::zone::parse::rfc3339::format_rfc3339 as rfc3339;

/// The current time as [`rfc3339`] text.
pub(crate) fn now_rfc3339() -> String {
    rfc3339(unix_now())
}
