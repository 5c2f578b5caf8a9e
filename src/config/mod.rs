//! What the operator says: `ward.toml` ([`file`]) and the command line ([`args`]),
//! as plain types. Turning them into the settings of each part is the app's job
//! (`app::settings`); here nothing is derived, so every layer below can be configured
//! without knowing where its settings came from.

pub mod args;
pub mod file;

pub use file::{ConfigError, FileConfig};
