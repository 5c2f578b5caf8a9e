//! Running as root only as long as needed: ward binds its ports (53 needs root or
//! CAP_NET_BIND_SERVICE) and then becomes an ordinary user, as rbldnsd's `-u` does.
//! A user is a name or a number, optionally with a group (`user:group`); a number
//! alone is the user's and the group's (rbldnsd's rule).

use nix::unistd::{Gid, Group, Uid, User, geteuid, setgid, setgroups, setuid};

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("no user named {0}")]
    NoSuchUser(String),
    #[error("no group named {0}")]
    NoSuchGroup(String),
    #[error("cannot look up user {user}: {source}")]
    Lookup { user: String, source: nix::Error },
    #[error("cannot become user {user} ({step}): {source}")]
    Change {
        user: String,
        step: &'static str,
        source: nix::Error,
    },
}

/// The user and group `spec` (`user[:group]`, names or numbers) stands for: a name
/// is looked up, a number taken as it is (so a chroot without /etc/passwd can use it).
pub(crate) fn resolve(spec: &str) -> Result<(Uid, Gid), PrivilegeError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    let lookup = |source| PrivilegeError::Lookup {
        user: spec.to_string(),
        source,
    };
    let (uid, mut gid) = match user_part.parse::<u32>() {
        Ok(id) => (Uid::from_raw(id), Gid::from_raw(id)),
        Err(_) => {
            let user = User::from_name(user_part)
                .map_err(lookup)?
                .ok_or_else(|| PrivilegeError::NoSuchUser(user_part.to_string()))?;
            (user.uid, user.gid)
        }
    };
    if let Some(group) = group_part.filter(|g| !g.is_empty()) {
        gid = match group.parse::<u32>() {
            Ok(id) => Gid::from_raw(id),
            Err(_) => {
                Group::from_name(group)
                    .map_err(lookup)?
                    .ok_or_else(|| PrivilegeError::NoSuchGroup(group.to_string()))?
                    .gid
            }
        };
    }
    Ok((uid, gid))
}

/// Becomes `spec` (a user and its primary group, or the group given as `user:group`;
/// no supplementary groups), for every thread of the process. Root only: anyone else
/// cannot, and need not.
pub(crate) fn become_user(spec: &str) -> Result<(), PrivilegeError> {
    let (uid, gid) = resolve(spec)?;
    let change = |step, source| PrivilegeError::Change {
        user: spec.to_string(),
        step,
        source,
    };
    if geteuid() == uid {
        return Ok(());
    }
    // Groups first: once the user is changed, the groups can no longer be.
    setgroups(&[gid]).map_err(|e| change("setgroups", e))?;
    setgid(gid).map_err(|e| change("setgid", e))?;
    setuid(uid).map_err(|e| change("setuid", e))?;
    Ok(())
}

/// Whether a user named `name` exists.
pub(crate) fn user_exists(name: &str) -> bool {
    User::from_name(name).is_ok_and(|user| user.is_some())
}

pub(crate) fn running_as_root() -> bool {
    geteuid() == Uid::from_raw(0)
}
