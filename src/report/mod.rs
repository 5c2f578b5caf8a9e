//! Telling people what the data means: `ward check` (what an operator should hear
//! before mail servers do), `ward lookup` (an IP, domain or address: the names a
//! mail server asks, what each answers and which file:line makes it so), and the
//! listing details (since, until, ticket) the pages show. Reads `load`, `store`,
//! `records` and the answer logic of `dns`; serves nothing.

pub(crate) mod check;
pub(crate) mod entries;
pub(crate) mod explain;
