//! What the operator says: `ward.toml` ([`file`]) and the command line ([`args`]; and
//! rbldnsd's, for `ward rbldnsd`: [`rbldnsd`]), as plain types. Turning them into the settings of each part is the app's job
//! (`app::settings`); here nothing is derived, so every layer below can be configured
//! without knowing where its settings came from.

pub mod args;
pub mod file;
pub mod rbldnsd;

pub use file::{ConfigError, FileConfig};
