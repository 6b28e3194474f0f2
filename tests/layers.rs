//! The layout of src/ holds: every module (a file or a folder directly under src/) imports only the
//! modules its layer allows, and no two modules import each other, however indirectly.
//!
//! The check reads the source: every `crate::<module>` path in code (comments and test modules
//! aside) is an import of that module, and so is `super::` from a file directly under src/ (the crate
//! root). Code inside src/ names the module an item lives in (`crate::error::Error`), not the root's
//! re-export (`crate::Error`), so that every import can be seen here.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import any module of a layer below its own, and none of its
/// own layer or above. A module not listed here fails the test: a new module takes its place in the
/// table, and docs/architecture.md says why.
const LAYERS: &[&[&str]] = &[
    // Values: import nothing above them.
    &["error"],
    &["types"],
    &["properties"],
    // The codec, and the values built on it.
    &["packet", "topic"],
    // Persistence: the store trait and its stores (below the session, which describes what to store).
    &["store"],
    &["reason"],
    &["message", "completion"],
    // The pure session (no sockets, no clocks), and the transports.
    &["session", "net"],
    // Connections, the loop, I/O.
    &["engine"],
    // The facade.
    &["client"],
    // The helper modules and their public fronts.
    &["helpers"],
    &["publish", "subscribe"],
    // The brokers for users' tests (narrowed below).
    &["testing"],
];

/// Modules that may import less than their layer allows: the brokers for users' tests share nothing
/// with the client but the values, the codec and topic matching, so that they cannot share its bugs.
const NARROWER: &[(&str, &[&str])] = &[(
    "testing",
    &["error", "types", "properties", "packet", "topic"],
)];

/// What each module may import.
fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut allowed = BTreeMap::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let below: Vec<&str> = LAYERS[..rank]
            .iter()
            .flat_map(|l| l.iter().copied())
            .collect();
        for m in *layer {
            allowed.insert(*m, below.clone());
        }
    }
    for (m, narrower) in NARROWER {
        allowed.insert(*m, narrower.to_vec());
    }
    allowed
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("reading src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module of src/ a file belongs to: `src/engine/io.rs` is `engine`, `src/types.rs` is `types`;
/// `None` for lib.rs, the index that re-exports everything.
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).expect("a file under src/");
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (name != "lib").then_some(name)
}

/// Whether the whole file is test code: `tests.rs` and `*_tests.rs` are declared `#[cfg(test)]`.
fn is_test_file(file: &Path) -> bool {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem == "tests" || stem.ends_with("_tests")
}

/// The file's code without its test module (a `#[cfg(test)]` or `#[cfg(all(test, ...))]` attribute
/// followed by `mod ... {`, which by the crate's habit ends the file) and without comment lines.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim();
        let test_cfg = l.starts_with("#[cfg(test)]") || l.starts_with("#[cfg(all(test");
        let opens_mod = lines.get(i + 1).is_some_and(|next| {
            let n = next.trim_start();
            n.starts_with("mod ") && n.trim_end().ends_with('{')
        });
        if test_cfg && opens_mod && !line.starts_with(' ') {
            end = i;
            break;
        }
    }
    lines[..end]
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, *l))
        .collect()
}

/// The identifiers after each `crate::` in `line`, including each name of `crate::{a, b::c}`.
fn crate_paths(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        // `$crate::` in a macro is the same crate; a word ending in "crate" (`my_crate::`) is not.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// Every import between modules, with where it is: (from, to) -> "file:line".
fn imports() -> (BTreeMap<(String, String), String>, Vec<String>) {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut edges = BTreeMap::new();
    let mut problems = Vec::new();
    for file in &files {
        let Some(from) = module_of(file) else {
            continue;
        };
        if is_test_file(file) {
            continue;
        }
        let top_level = file.parent() == Some(src().as_path());
        let text = fs::read_to_string(file).expect("reading a source file");
        let shown = file
            .strip_prefix(src().parent().unwrap())
            .unwrap()
            .display();
        for (n, line) in code_lines(&text) {
            let mut targets = crate_paths(line);
            if top_level && line.contains("super::") {
                problems.push(format!(
                    "{shown}:{n}: `super::` in a file directly under src/ is the crate root; name \
                     the module instead"
                ));
            }
            for target in targets.drain(..) {
                if target == from {
                    continue;
                }
                if !modules.contains(&target) {
                    problems.push(format!(
                        "{shown}:{n}: `crate::{target}` is not a module of src/: name the module \
                         the item lives in, so this check can see the import"
                    ));
                    continue;
                }
                edges
                    .entry((from.clone(), target))
                    .or_insert_with(|| format!("{shown}:{n}"));
            }
        }
    }
    (edges, problems)
}

#[test]
fn every_import_goes_down_the_layers() {
    let allowed = allowed();
    let (edges, mut problems) = imports();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    for m in &modules {
        if !allowed.contains_key(m.as_str()) {
            problems.push(format!(
                "src/{m} is in no layer: add it to LAYERS in tests/layers.rs"
            ));
        }
    }
    for ((from, to), at) in &edges {
        if let Some(ok) = allowed.get(from.as_str()) {
            if !ok.contains(&to.as_str()) {
                problems.push(format!(
                    "{at}: {from} imports {to}, which its layer does not allow ({from} may import: \
                     {})",
                    ok.join(", ")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn no_two_modules_import_each_other() {
    let (edges, _) = imports();
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().push(to);
    }
    // Depth-first search; a module met again while still on the path closes a cycle.
    fn visit<'a>(
        m: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|p| *p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m);
            return Some(cycle);
        }
        if !done.insert(m) {
            return None;
        }
        path.push(m);
        for next in graph.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(m, &graph, &mut path, &mut done) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    format!(
                        "{} -> {} ({})",
                        w[0],
                        w[1],
                        edges[&(w[0].to_owned(), w[1].to_owned())]
                    )
                })
                .collect();
            panic!("an import cycle:\n{}", steps.join("\n"));
        }
    }
}

/// The checker itself: it sees the import forms the crate uses and skips what is not code.
#[test]
fn the_checker_sees_every_form_of_import() {
    assert_eq!(crate_paths("use crate::engine::Engine;"), ["engine"]);
    assert_eq!(
        crate_paths("use crate::{error::Error, types};"),
        ["error", "types"]
    );
    assert_eq!(
        crate_paths("let e = crate::error::Error::NoConn; f(crate::types::QoS::AtMostOnce)"),
        ["error", "types"]
    );
    assert_eq!(crate_paths("$crate::packet::frame(x)"), ["packet"]);
    assert!(crate_paths("use my_crate::thing;").is_empty());
    let text = "use crate::a::X;\n// use crate::b::Y;\nfn f() {}\n\n#[cfg(test)]\nmod tests {\n    use crate::c::Z;\n}\n";
    let lines: Vec<&str> = code_lines(text).into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, ["use crate::a::X;", "fn f() {}", ""]);
}
