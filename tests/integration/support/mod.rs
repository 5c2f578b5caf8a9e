//! What the integration tests share, written once: a ward started as `ward serve`
//! starts ([`server`]), a DNS client ([`client`]), ward as a process ([`process`]),
//! zones directories and ports ([`files`]), an HTTP client and the web listeners
//! ([`web`]), and the code blocks of README.md and docs/ ([`docs`]).

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod client;
pub mod docs;
pub mod files;
pub mod process;
pub mod server;
pub mod web;

pub use client::*;
pub use files::*;
pub use process::*;
pub use server::*;
pub use web::{http_get, sample};
