//! Running as root only as long as needed: ward binds its ports (53 needs root or
//! CAP_NET_BIND_SERVICE) and then becomes an ordinary user, as rbldnsd's `-u` does.

use nix::unistd::{Uid, User, geteuid, setgid, setgroups, setuid};

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("no user named {0}")]
    NoSuchUser(String),
    #[error("cannot look up user {user}: {source}")]
    Lookup { user: String, source: nix::Error },
    #[error("cannot become user {user} ({step}): {source}")]
    Change {
        user: String,
        step: &'static str,
        source: nix::Error,
    },
}

/// Becomes `name` (its user and primary group, no supplementary groups), for every
/// thread of the process. Root only: anyone else cannot, and need not.
pub(crate) fn become_user(name: &str) -> Result<(), PrivilegeError> {
    let user = User::from_name(name)
        .map_err(|source| PrivilegeError::Lookup {
            user: name.to_string(),
            source,
        })?
        .ok_or_else(|| PrivilegeError::NoSuchUser(name.to_string()))?;
    let change = |step, source| PrivilegeError::Change {
        user: name.to_string(),
        step,
        source,
    };
    if geteuid() == user.uid {
        return Ok(());
    }
    // Groups first: once the user is changed, the groups can no longer be.
    setgroups(&[user.gid]).map_err(|e| change("setgroups", e))?;
    setgid(user.gid).map_err(|e| change("setgid", e))?;
    setuid(user.uid).map_err(|e| change("setuid", e))?;
    Ok(())
}

pub(crate) fn running_as_root() -> bool {
    geteuid() == Uid::from_raw(0)
}
