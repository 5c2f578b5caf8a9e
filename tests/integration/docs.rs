//! The examples of README.md and docs/ run against the shipped zones and print what
//! they show; every configuration they show is one ward (or the interop suite) takes,
//! and every link between them leads somewhere.

use std::path::Path;
use std::process::Command;

use crate::support::TestServer;
use crate::support::docs::{all_blocks, documents, examples, settings_uncommented};

/// The SOA serial is the time of the load: compare everything but it.
fn without_serial(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("hostmaster.block.example. ") {
            Some(at) => {
                let rest = &line[at + "hostmaster.block.example. ".len()..];
                let after = rest.split_once(' ').map_or("", |(_, r)| r);
                format!(
                    "{}SERIAL {after}",
                    &line[..at + "hostmaster.block.example. ".len()]
                )
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dig_examples_print_what_the_readme_shows() {
    if Command::new("dig").arg("-v").output().is_err() {
        if std::env::var_os("CI").is_some() {
            panic!("dig is not installed (apt-get install dnsutils)");
        }
        eprintln!("SKIPPED: dig is not installed (apt-get install dnsutils)");
        return;
    }
    let server = TestServer::shipped();
    let examples = examples("dig");
    assert!(examples.len() >= 5, "README dig examples: {examples:?}");
    for (command, expected) in examples {
        let args: Vec<String> = command
            .split_whitespace()
            .skip(1)
            .map(|arg| {
                if arg == "5353" {
                    server.addr.port().to_string()
                } else {
                    arg.to_string()
                }
            })
            .collect();
        let output = Command::new("dig").args(&args).output().expect("dig runs");
        let printed = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            without_serial(printed.trim_end()),
            without_serial(expected.trim_end()),
            "`{command}`"
        );
    }
}

#[test]
fn lookup_example_prints_what_the_readme_shows() {
    let examples = examples("ward");
    let lookups: Vec<_> = examples
        .iter()
        .filter(|(c, _)| c.starts_with("ward lookup"))
        .collect();
    assert!(!lookups.is_empty());
    for (command, expected) in lookups {
        let output = Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(command.split_whitespace().skip(1))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("ward runs");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim_end(),
            expected.trim_end(),
            "`{command}`"
        );
    }
}

/// Every `ward.toml` the docs show is one ward accepts, with its commented-out
/// settings switched on: a reader who uncomments a line in place gets a working file.
#[test]
fn toml_examples_are_settings_ward_accepts() {
    let blocks: Vec<_> = all_blocks()
        .into_iter()
        .filter(|b| b.info == "toml")
        .collect();
    assert!(blocks.len() >= 3, "{} toml blocks", blocks.len());
    for block in &blocks {
        let uncommented = settings_uncommented(&block.text);
        if let Err(error) = ward::config::FileConfig::parse(&uncommented) {
            panic!(
                "{}: a ward.toml that does not parse: {error}\n{uncommented}",
                block.file.display()
            );
        }
    }
}

#[test]
fn client_snippets_are_the_ones_the_interop_suite_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme: String = documents()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let snippets = std::fs::read_dir(root.join("tests/interop/snippets")).unwrap();
    let mut count = 0;
    for entry in snippets {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            readme.contains(text.trim_end()),
            "no document shows {} as the interop suite runs it",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 6, "{count} snippets");
}

#[test]
fn probe_example_prints_what_the_readme_shows() {
    let server = TestServer::shipped();
    let probes: Vec<_> = examples("ward")
        .into_iter()
        .filter(|(c, _)| c.starts_with("ward probe"))
        .collect();
    assert!(!probes.is_empty());
    for (command, expected) in probes {
        let args: Vec<String> = command
            .split_whitespace()
            .skip(1)
            .map(|arg| arg.replace(":5353", &format!(":{}", server.addr.port())))
            .collect();
        let output = Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(&args)
            .output()
            .expect("ward runs");
        assert!(output.status.success(), "`{command}`");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim_end(),
            expected.trim_end(),
            "`{command}`"
        );
    }
}

/// Every relative link of README.md, ARCHITECTURE.md and docs/ names a file that
/// exists, and an anchor a heading of it: a section moved is still reachable.
#[test]
fn links_between_the_documents_lead_somewhere() {
    let mut checked = 0;
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        let dir = document.parent().unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if target.starts_with("http") || target.contains(' ') {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                document.clone()
            } else {
                dir.join(file)
            };
            assert!(
                path.exists(),
                "{}: link to {target}: no such file",
                document.display()
            );
            if !anchor.is_empty() {
                let linked = std::fs::read_to_string(&path).unwrap();
                let anchors: Vec<String> = linked
                    .lines()
                    .filter(|l| l.starts_with('#'))
                    .map(|l| slug(l.trim_start_matches('#').trim()))
                    .collect();
                assert!(
                    anchors.iter().any(|a| a == anchor),
                    "{}: link to {target}: no such heading in {}",
                    document.display(),
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} links");
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as
/// dashes.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// README.md stays a front page: what ward is, the two commands, examples and links.
#[test]
fn the_readme_is_a_front_page() {
    let readme = crate::support::docs::document("README.md");
    let lines = readme.lines().count();
    assert!(
        lines < 400,
        "README.md has {lines} lines: move sections to docs/"
    );
    for must in ["cargo run --release", "cargo test", "$ dig "] {
        assert!(readme.contains(must), "README.md lacks `{must}`");
    }
}

/// The interop suite's README lists every scenario it runs.
#[test]
fn the_interop_readme_lists_every_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut count = 0;
    for entry in std::fs::read_dir(root.join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        assert!(
            readme.contains(&format!("| {name} |")),
            "tests/interop/README.md does not list {name}"
        );
        count += 1;
    }
    assert!(count >= 9, "{count} scenarios");
}

/// The public lists shipped as an example are settings ward takes: every code, range
/// and error of every list reads.
#[test]
fn the_shipped_external_lists_are_settings_ward_takes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/external-lists.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let lists = text.matches("\n[external.\"").count();
    assert!(lists >= 8, "{lists} lists");
    if let Err(error) = ward::settings::serve_settings_from(&["serve", "--zones", "zones"], &text) {
        panic!("{}: {error}", path.display());
    }
}

/// docs/configuration.md's list of commands is ward's: every command and flag it shows
/// exists, and every command and flag `ward … --help` has is shown there. The man pages
/// are made from that help (`ward manpages`), so they say the same as the docs.
#[test]
fn the_commands_the_docs_list_are_the_commands_ward_has() {
    use clap::CommandFactory;
    let doc = crate::support::docs::document("docs/configuration.md");
    let listing = crate::support::docs::blocks_of(Path::new("docs/configuration.md"), &doc)
        .into_iter()
        .find(|b| b.text.starts_with("ward serve"))
        .expect("docs/configuration.md's block of commands")
        .text;
    let mut flags = std::collections::BTreeSet::new();
    let mut commands = vec![(String::from("ward"), ward::config::args::Cli::command())];
    while let Some((path, command)) = commands.pop() {
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long().filter(|_| !arg.is_hide_set()) {
                flags.insert(format!("--{long}"));
            }
        }
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("{path} {}", sub.get_name());
            if path == "ward" {
                assert!(
                    listing.lines().any(|l| l.starts_with(&format!("{name} "))),
                    "docs/configuration.md does not list `{name}`"
                );
            } else {
                assert!(
                    listing.contains(sub.get_name()),
                    "docs/configuration.md does not list `{name}`"
                );
            }
            commands.push((name, sub.clone()));
        }
    }
    flags.remove("--help");
    flags.remove("--version");
    let shown: std::collections::BTreeSet<&str> = listing
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| word.starts_with("--"))
        .collect();
    let missing: Vec<_> = flags
        .iter()
        .filter(|f| !shown.contains(f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not show {missing:?}"
    );
    let unknown: Vec<_> = shown.iter().filter(|f| !flags.contains(**f)).collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md shows {unknown:?}, which ward does not have"
    );
}
