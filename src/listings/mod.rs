//! Listings as admins and the listed change them: the entries in each zone's
//! `api.zone` (the only file ward ever writes in the zones directory), removal
//! requests (SQLite), their decisions, and the audit log. The admin API, the public
//! page and the `ward add|remove|requests` commands all go through here, so each rule
//! holds the same for all of them. Uses `report` (is a value still listed?), `load`
//! and `zone` (the real parser checks every edit); never `web`.

pub(crate) mod api_zone;
pub(crate) mod audit;
pub(crate) mod decide;
pub(crate) mod edit;
pub(crate) mod requests;
pub(crate) mod self_removal;
