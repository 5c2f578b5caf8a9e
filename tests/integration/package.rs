//! The Debian package's files (contrib/deb/ and Cargo.toml's `[package.metadata.deb]`)
//! agree with each other and with ward: the unit starts a command line ward takes, with
//! a ward.toml ward accepts that says what a packaged server needs; the sandbox lets
//! ward write where that file says; every example zone is shipped; the changelog names
//! this version. `tests/package/run.sh` builds, lints, installs, upgrades, removes and
//! purges the package itself (in CI).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ward::config::FileConfig;

use crate::support::docs::settings_uncommented;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every value of `key` in the unit file, in order (`ReadWritePaths=a b` gives "a b").
fn unit_values(key: &str) -> Vec<String> {
    read("contrib/deb/ward.service")
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

fn unit_value(key: &str) -> String {
    let values = unit_values(key);
    assert_eq!(values.len(), 1, "ward.service sets {key} once: {values:?}");
    values[0].clone()
}

/// `(source, destination)` of every asset in Cargo.toml's `[package.metadata.deb]`.
fn assets() -> Vec<(String, String)> {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml");
    let assets = manifest["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .expect("[package.metadata.deb] assets");
    assets
        .iter()
        .map(|asset| {
            let asset = asset.as_array().expect("[source, destination, mode]");
            (
                asset[0].as_str().unwrap().to_string(),
                asset[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Where the package installs `source` (a file, not a glob), if it does.
fn installed_as(source: &str) -> Option<PathBuf> {
    let (_, destination) = assets().into_iter().find(|(s, _)| s == source)?;
    let destination = Path::new("/").join(&destination);
    Some(if destination.to_string_lossy().ends_with('/') {
        destination.join(Path::new(source).file_name()?)
    } else {
        destination
    })
}

#[test]
fn the_unit_starts_the_packaged_binary_with_the_packaged_ward_toml_alone() {
    let exec = unit_value("ExecStart");
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(
        installed_as("target/release/ward"),
        Some(PathBuf::from(words[0])),
        "ExecStart starts the binary the package installs"
    );
    assert_eq!(
        installed_as("contrib/deb/ward.toml"),
        Some(PathBuf::from("/etc/ward/ward.toml"))
    );
    // Flags win over ward.toml: the unit names the file and nothing else, so that
    // every setting an admin edits there is the one in force.
    assert_eq!(
        words[1..],
        ["serve", "--config", "/etc/ward/ward.toml"],
        "{exec}"
    );
    let settings = ward::settings::serve_settings_from(&words[1..], &read("contrib/deb/ward.toml"))
        .expect("ward takes the unit's command line with the packaged ward.toml");
    assert_eq!(settings.zones, Path::new("/etc/ward/zones"));
    assert!(
        settings.web.is_none(),
        "the web side is off until asked for"
    );
}

#[test]
fn the_packaged_ward_toml_says_what_a_packaged_server_needs() {
    let text = read("contrib/deb/ward.toml");
    let file = FileConfig::parse(&text).expect("the packaged ward.toml parses");
    assert_eq!(file.zones, Some(PathBuf::from("/etc/ward/zones")));
    assert_eq!(file.state, Some(PathBuf::from("/var/lib/ward")));
    let loopback: Vec<SocketAddr> =
        vec!["127.0.0.1:53".parse().unwrap(), "[::1]:53".parse().unwrap()];
    assert_eq!(
        file.listen,
        Some(loopback),
        "port 53, loopback, as Knot's package"
    );
    assert_eq!(
        file.user, None,
        "systemd starts ward as ward: nothing to drop"
    );
    assert!(file.metrics.is_none() && file.http.is_none() && file.admin.is_none());

    // Every commented-out setting, switched on in place, is one ward takes; the admin
    // API's token is the file the postinst makes.
    let on = FileConfig::parse(&settings_uncommented(&text))
        .unwrap_or_else(|e| panic!("contrib/deb/ward.toml uncommented: {e}"));
    assert!(on.admin.is_some() && on.http.is_some() && on.metrics.is_some());
    let token = on
        .admin_token_file
        .expect("admin_token_file, commented out");
    assert_eq!(token, Path::new("/etc/ward/admin.token"));
    assert!(read("contrib/deb/postinst").contains("/etc/ward/admin.token"));
    assert!(read("contrib/deb/postrm").contains("/etc/ward/admin.token"));
}

#[test]
fn the_sandbox_lets_ward_bind_port_53_and_write_where_ward_toml_says() {
    let file = FileConfig::parse(&read("contrib/deb/ward.toml")).unwrap();
    // A static user, made by sysusers.d on install, so what ward writes keeps an owner.
    assert_eq!(unit_value("User"), "ward");
    assert_eq!(unit_value("Group"), "ward");
    assert!(unit_values("DynamicUser").is_empty());
    assert!(
        read("contrib/deb/ward.sysusers")
            .lines()
            .any(|line| line.starts_with("u ward - ")),
        "contrib/deb/ward.sysusers makes the user ward"
    );
    assert_eq!(unit_value("AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
    assert_eq!(unit_value("CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
    assert_eq!(unit_value("ProtectSystem"), "strict");
    // The state directory is the one systemd makes and gives to ward.
    let state = file.state.unwrap();
    assert_eq!(
        Path::new("/var/lib").join(unit_value("StateDirectory")),
        state
    );
    // The admin API writes zones/<zone>/api.zone: the zones directory is writable
    // under the sandbox (which directories, Unix permissions say).
    let zones = file.zones.unwrap();
    let writable = unit_values("ReadWritePaths");
    assert!(
        writable
            .iter()
            .flat_map(|v| v.split_whitespace())
            .any(|path| Path::new(path.trim_start_matches('-')) == zones),
        "ReadWritePaths names {}: {writable:?}",
        zones.display()
    );
}

#[test]
fn every_example_zone_file_is_shipped_in_etc_ward_zones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![root.join("zones")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // What ward itself writes there (ward add, the admin API) is no example.
            if name.starts_with('.') || name == "api.zone" {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let source = file.to_string_lossy();
        let expected = Path::new("/etc/ward").join(&file);
        assert_eq!(
            installed_as(&source),
            Some(expected.clone()),
            "Cargo.toml's [package.metadata.deb] assets install {source} as {}",
            expected.display()
        );
    }
    // Every other asset named by path exists.
    for (source, _) in assets() {
        if !source.contains('*') && !source.starts_with("target/") {
            assert!(root.join(&source).is_file(), "asset {source}: no such file");
        }
    }
}

#[test]
fn the_changelog_names_this_version() {
    let changelog = read("contrib/deb/changelog");
    let first = changelog.lines().next().unwrap_or_default();
    let version = first
        .strip_prefix("ward (")
        .and_then(|rest| rest.split_once(')'))
        .map(|(version, _)| version)
        .unwrap_or_else(|| panic!("contrib/deb/changelog starts `ward (VERSION)`: {first}"));
    let (upstream, revision) = version.rsplit_once('-').expect("VERSION-REVISION");
    assert_eq!(upstream, env!("CARGO_PKG_VERSION"), "{first}");
    assert!(!revision.is_empty() && revision.bytes().all(|b| b.is_ascii_digit()));
    assert!(
        changelog
            .lines()
            .any(|line| line.starts_with(" -- ") && line.contains(">  ")),
        "a trailer ` -- Name <address>  Date` (two spaces before the date)"
    );
}
