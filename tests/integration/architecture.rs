//! The layout holds: modules import only down the layers of `ARCHITECTURE.md`, no two
//! modules import each other (directly or round a circle), neither do two files of
//! one folder, and only the query path knows hickory. Read from the source's `use`
//! lines and `crate::`/`super::` paths, test code left out (tests may build their
//! fixtures from any layer).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first: a module may use its own layer and those below it.
const LAYERS: &[&[&str]] = &[
    &["app", "fuzzing"],
    &["config"],
    &["web"],
    &["listings"],
    &["external"],
    &["report"],
    &["xfr"],
    &["dns"],
    &["reload"],
    &["load"],
    &["records"],
    &["store"],
    &["zone"],
    &["time", "memory", "faults", "parallel"],
];

/// Where hickory may be imported: the query path, and the fuzz targets that compare
/// against it.
const HICKORY: &[&str] = &["dns", "fuzzing"];

/// A source file as a module path (`["dns", "tcp"]`; `mod.rs` is its folder).
#[derive(Debug, Clone)]
struct SourceFile {
    module: Vec<String>,
    is_folder: bool,
    path: PathBuf,
    text: String,
}

fn source_files() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap();
            if !name.ends_with(".rs") || name == "main.rs" || name == "tests.rs" {
                continue;
            }
            // Tests that cross the layers on purpose (`#[cfg(test)] mod tests;`).
            if path.starts_with(root.join("tests")) {
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap().with_extension("");
            let mut module: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_str().unwrap().to_string())
                .collect();
            let is_folder = matches!(module.last().map(String::as_str), Some("mod" | "lib"));
            if is_folder {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            files.push(SourceFile {
                module,
                is_folder,
                path,
                text: without_tests_and_comments(&text),
            });
        }
    }
    files.sort_by(|a, b| a.module.cmp(&b.module));
    files
}

/// The text with comments and `#[cfg(test)]` items left out.
fn without_tests_and_comments(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            // Skip the item that follows: to its closing brace at the same indent, or
            // to its semicolon for `mod tests;`.
            let indent = line.len() - line.trim_start().len();
            let Some(item) = lines.next() else { break };
            if item.trim_end().ends_with(';') {
                continue;
            }
            let closing = format!("{}}}", " ".repeat(indent));
            for next in lines.by_ref() {
                if next.trim_end() == closing {
                    break;
                }
            }
            continue;
        }
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The paths a file names: every `use` tree expanded, and inline `crate::`/`super::`
/// paths.
fn named_paths(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        let tree: String = rest[..end].split_whitespace().collect();
        if tree.starts_with("crate::") || tree.starts_with("super::") || tree.starts_with("self::")
        {
            expand(&[], &tree, &mut paths);
        }
        rest = &rest[end..];
    }
    for prefix in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(found) = text[from..].find(prefix) {
            let at = from + found;
            from = at + prefix.len();
            if text[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(
                path.split("::")
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect(),
            );
        }
    }
    paths
}

/// Expands a `use` tree (`a::{b, c::{d}}`) into its paths.
fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(prefix, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(prefix, &inner[start..], out);
        return;
    }
    if tree.is_empty() {
        return;
    }
    match tree.split_once("::") {
        Some((head, tail)) => {
            let mut longer = prefix.to_vec();
            longer.push(head.to_string());
            expand(&longer, tail, out);
        }
        None => {
            let mut path = prefix.to_vec();
            path.push(tree.split("as").next().unwrap_or(tree).to_string());
            out.push(path);
        }
    }
}

/// The module a path names, resolved against the file it is in: the longest prefix
/// that is a module of the crate.
fn target(file: &SourceFile, path: &[String], modules: &BTreeSet<Vec<String>>) -> Vec<String> {
    let mut base: Vec<String> = file.module.clone();
    let mut rest = path;
    if rest.first().is_some_and(|p| p == "crate") {
        base.clear();
        rest = &rest[1..];
    } else {
        // `super` steps up from the module the file is (a file `a/b.rs` is `a::b`,
        // a folder's `a/mod.rs` is `a`); `self` stays.
        while let Some(first) = rest.first() {
            match first.as_str() {
                "super" => {
                    base.pop();
                }
                "self" => {}
                _ => break,
            }
            rest = &rest[1..];
        }
    }
    let mut full = base;
    full.extend(rest.iter().cloned());
    while !full.is_empty() && !modules.contains(&full) {
        full.pop();
    }
    full
}

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top))
}

/// Edges between modules: (from file, to module).
fn edges(files: &[SourceFile]) -> Vec<(SourceFile, Vec<String>)> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut edges = Vec::new();
    for file in files {
        for path in named_paths(&file.text) {
            let to = target(file, &path, &modules);
            if !to.is_empty() && to != file.module {
                edges.push((file.clone(), to));
            }
        }
    }
    edges
}

fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components; any with more than one node is a circle.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        found: Vec<Vec<String>>,
    }
    fn visit(state: &mut State<'_>, node: &str) {
        let n = state.index.len();
        state.index.insert(node.to_string(), n);
        state.low.insert(node.to_string(), n);
        state.stack.push(node.to_string());
        state.on_stack.insert(node.to_string());
        let next: Vec<String> = state
            .graph
            .get(node)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for to in next {
            if !state.index.contains_key(&to) {
                visit(state, &to);
                let low = state.low[&to].min(state.low[node]);
                state.low.insert(node.to_string(), low);
            } else if state.on_stack.contains(&to) {
                let low = state.index[&to].min(state.low[node]);
                state.low.insert(node.to_string(), low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(&member);
                let done = member == node;
                component.push(member);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    let nodes: Vec<String> = graph.keys().cloned().collect();
    for node in nodes {
        if !state.index.contains_key(&node) {
            visit(&mut state, &node);
        }
    }
    state.found
}

#[test]
fn every_top_level_module_has_a_layer() {
    for file in source_files() {
        if let Some(top) = file.module.first() {
            assert!(
                layer_of(top).is_some(),
                "src/{top} is in no layer of tests/integration/architecture.rs (and ARCHITECTURE.md)"
            );
        }
    }
}

#[test]
fn modules_import_only_down_the_layers() {
    let files = source_files();
    let mut upward = Vec::new();
    for (from, to) in edges(&files) {
        let (Some(a), Some(b)) = (from.module.first(), to.first()) else {
            continue;
        };
        if let (Some(la), Some(lb)) = (layer_of(a), layer_of(b))
            && lb < la
        {
            upward.push(format!("{} imports {}", from.path.display(), to.join("::")));
        }
    }
    assert!(
        upward.is_empty(),
        "imports up the layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_import_circles_between_modules_or_between_the_files_of_a_folder() {
    let files = source_files();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut siblings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges(&files) {
        let (Some(a), Some(b)) = (from.module.first(), to.first()) else {
            continue;
        };
        if a != b {
            top.entry(a.clone()).or_default().insert(b.clone());
        }
        // Two files of one folder (the folder's mod.rs is its front door, not a
        // sibling).
        let folder_of = |m: &[String]| m[..m.len().saturating_sub(1)].to_vec();
        if !from.is_folder
            && from.module.len() == to.len()
            && folder_of(&from.module) == folder_of(&to)
        {
            siblings
                .entry(from.module.join("::"))
                .or_default()
                .insert(to.join("::"));
        }
    }
    let mut found = cycles(&top);
    found.extend(cycles(&siblings));
    assert!(found.is_empty(), "import circles: {found:?}");
}

#[test]
fn only_the_query_path_knows_hickory() {
    for file in source_files() {
        let top = file.module.first().map(String::as_str).unwrap_or("");
        if HICKORY.contains(&top) {
            continue;
        }
        assert!(
            !file.text.contains("hickory"),
            "{} uses hickory; only {HICKORY:?} may",
            file.path.display()
        );
    }
}

/// The checker itself: a circle and an upward import are found.
#[test]
fn the_checker_finds_circles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(cycles(&graph), [["a", "b", "c"]]);
    let mut paths = Vec::new();
    expand(&[], "crate::{a::{b,c},d}", &mut paths);
    let paths: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(paths, ["crate::a::b", "crate::a::c", "crate::d"]);
    let text = without_tests_and_comments(
        "use crate::x::y; // crate::z\n#[cfg(test)]\nmod tests {\n    use crate::w;\n}\n",
    );
    let named: Vec<String> = named_paths(&text).iter().map(|p| p.join("::")).collect();
    assert_eq!(named, ["crate::x::y", "crate::x::y"]);
}
