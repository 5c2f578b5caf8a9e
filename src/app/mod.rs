//! The process: `ward serve`'s wiring (flags and `ward.toml` → settings, one function
//! the tests use too), startup order, signals and sd_notify, the privilege drop,
//! panics, memory hints, serials kept across restarts, the metrics endpoint, the
//! bodies of the other commands, and `ward rbldnsd` (rbldnsd's command line around
//! `serve`). The top layer: it may use every module below it;
//! nothing imports it.

pub mod commands;
pub(crate) mod lifecycle;
pub(crate) mod metrics;
pub(crate) mod panics;
pub(crate) mod policy;
pub(crate) mod privileges;
pub(crate) mod probe;
pub mod rbldnsd;
pub(crate) mod serials;
pub(crate) mod serve;
pub mod settings;
