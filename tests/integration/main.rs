//! The integration tests: one binary with a module per subject, as ripgrep has, so
//! ward and its dependencies are linked once; [`support`] holds what they share.
//! Every test speaks to a real ward over real sockets on 127.0.0.1.

mod support;

mod acl;
mod aclkey;
mod admin_input;
mod answers;
mod architecture;
mod browser;
mod cli;
mod docs;
mod entry_params;
mod expiry;
mod external;
mod garbage;
mod mail_lists;
mod operations;
mod package;
mod policy;
mod rbldnsd_cli;
mod rbldnsd_diff;
mod reload;
mod robustness;
mod self_removal;
mod transfer;
mod web;
mod web_limits;
