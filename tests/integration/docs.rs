//! The README's examples run against the shipped zones and print what it shows.

use std::path::Path;
use std::process::Command;

use crate::support::TestServer;

/// `(command, expected output)` for every `$ <program> ...` line in the README's code
/// blocks, the output being the lines up to the next command or the end of the block.
fn examples(program: &str) -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut examples: Vec<(String, String)> = Vec::new();
    let mut in_block = false;
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            if let Some((command, output)) = current.take() {
                examples.push((command, output.join("\n")));
            }
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            if let Some((command, output)) = current.take() {
                examples.push((command, output.join("\n")));
            }
            current = Some((command.to_string(), Vec::new()));
        } else if let Some((_, output)) = current.as_mut() {
            output.push(line);
        }
    }
    examples
        .into_iter()
        .filter(|(command, _)| command.split_whitespace().next() == Some(program))
        .collect()
}

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

/// Every `ward.toml` the README shows is one ward accepts, with its commented-out
/// settings switched on: a reader who uncomments a line in place gets a working file.
#[test]
fn toml_examples_are_settings_ward_accepts() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                let uncommented = line
                    .strip_prefix("# ")
                    .filter(|rest| rest.split_once(" = ").is_some_and(|(key, _)| is_key(key)));
                block.push_str(uncommented.unwrap_or(line));
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(blocks.len() >= 3, "{} toml blocks", blocks.len());
    for block in &blocks {
        if let Err(error) = ward::config::FileConfig::parse(block) {
            panic!("README's ward.toml does not parse: {error}\n{block}");
        }
    }
}

fn is_key(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[test]
fn client_snippets_are_the_ones_the_interop_suite_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let snippets = std::fs::read_dir(root.join("tests/interop/snippets")).unwrap();
    let mut count = 0;
    for entry in snippets {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            readme.contains(text.trim_end()),
            "README does not show {} as the interop suite runs it",
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
