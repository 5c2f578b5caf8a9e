//! README.md, ARCHITECTURE.md and docs/*.md as the tests read them: their code blocks,
//! and the `$ command` lines in them with the output shown below each. Tests run the
//! commands and parse the configuration blocks, so what the docs show is what works.

use std::path::{Path, PathBuf};

/// Every document a reader is sent to: README.md, ARCHITECTURE.md, docs/*.md.
pub fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .map(|entries| {
            entries
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect()
        })
        .unwrap_or_default();
    docs.sort();
    let mut all = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    all.extend(docs);
    all.retain(|p| p.is_file());
    all
}

/// One document's text, `docs/…` relative to the repository.
pub fn document(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fenced code block: its info string (`toml`, `sh`, or empty) and its lines.
#[derive(Debug, Clone)]
pub struct Block {
    pub file: PathBuf,
    pub info: String,
    pub text: String,
}

/// The fenced code blocks of `text`, in order.
pub fn blocks_of(file: &Path, text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) => {
                current = Some(Block {
                    file: file.to_path_buf(),
                    info: info.trim().to_string(),
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// The code blocks of every document.
pub fn all_blocks() -> Vec<Block> {
    documents()
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            blocks_of(path, &text)
        })
        .collect()
}

/// `(command, expected output)` for every `$ <program> …` line of `blocks`, the
/// output being the lines up to the next command or the end of the block.
pub fn examples_in(blocks: &[Block], program: &str) -> Vec<(String, String)> {
    let mut examples = Vec::new();
    for block in blocks {
        let mut current: Option<(String, Vec<&str>)> = None;
        for line in block.text.lines() {
            if let Some(command) = line.strip_prefix("$ ") {
                examples.extend(current.take().map(|(c, o)| (c, o.join("\n"))));
                current = Some((command.to_string(), Vec::new()));
            } else if let Some((_, output)) = current.as_mut() {
                output.push(line);
            }
        }
        examples.extend(current.take().map(|(c, o)| (c, o.join("\n"))));
    }
    examples
        .into_iter()
        .filter(|(command, _)| command.split_whitespace().next() == Some(program))
        .collect()
}

/// [`examples_in`] every document.
pub fn examples(program: &str) -> Vec<(String, String)> {
    examples_in(&all_blocks(), program)
}

/// A `ward.toml` with its commented-out settings (`# key = value`) switched on: what a
/// reader gets who uncomments a line in place.
pub fn settings_uncommented(text: &str) -> String {
    text.lines()
        .map(|line| {
            let setting = line
                .strip_prefix("# ")
                .filter(|rest| rest.split_once(" = ").is_some_and(|(key, _)| is_key(key)));
            format!("{}\n", setting.unwrap_or(line))
        })
        .collect()
}

fn is_key(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}
