//! The layers of `src/`, checked from the source text: every `crate::` and `super::` path a
//! module uses outside its `#[cfg(test)]` section is an import arrow, and arrows may only
//! point down the table below (or stay inside one top-level module). No cycles between
//! top-level modules or between files. See docs/DESIGN.md, "Layers".

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer, lowest first. A module may import modules of lower layers
/// only (and anything inside itself).
const LAYERS: &[(&str, u32)] = &[
    ("limits", 0),
    ("encoding", 1),
    ("dates", 1),
    ("buffer_pool", 1),
    ("metrics", 1),
    ("sigv4", 2),
    ("hash", 3),
    ("xml", 3),
    ("http", 3),
    ("store", 3),
    ("upstream", 4),
    ("cache", 4),
    ("error", 5),
    ("shard", 6),
    ("s3", 7),
    ("config", 8),
    ("server", 9),
];

type Module = Vec<String>;

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(directory: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            out.push(path);
        }
    }
}

/// `src/s3/auth/mod.rs` → `[s3, auth]`; `lib.rs` and `main.rs` → `[]`.
fn module_of(path: &Path) -> Module {
    let relative = path.strip_prefix(source_root()).expect("under src");
    let mut parts: Module = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    let file = parts.pop().expect("a file name");
    let stem = file.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The text that counts: up to the first `#[cfg(test)]`, without `//` comments.
fn production_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Every path that starts at `crate::` or `super::`, as segments, resolved to absolute
/// module paths (`use crate::{a, b::c}` groups expanded one level).
fn referenced_paths(module: &Module, text: &str) -> Vec<Module> {
    let bytes = text.as_bytes();
    let mut paths = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let boundary = index == 0 || !is_ident(bytes[index - 1]);
        let rest = &text[index..];
        let (mut base, mut at) = if boundary && rest.starts_with("crate::") {
            (Vec::new(), index + "crate::".len())
        } else if boundary && rest.starts_with("super::") {
            // Each `super` is one level up from the module (a file's or a mod.rs directory's).
            let mut base = module.clone();
            let mut at = index;
            while text[at..].starts_with("super::") {
                base.pop();
                at += "super::".len();
            }
            (base, at)
        } else {
            index += 1;
            continue;
        };
        while at < bytes.len() && (is_ident(bytes[at]) || text[at..].starts_with("::")) {
            let start = at;
            while at < bytes.len() && is_ident(bytes[at]) {
                at += 1;
            }
            if at > start {
                base.push(text[start..at].to_string());
            }
            if text[at..].starts_with("::") {
                at += 2;
            } else {
                break;
            }
        }
        if text[at..].starts_with('{') {
            let end = matching_brace(text, at);
            expand_group(&base, &text[at + 1..end], &mut paths);
            index = end;
            continue;
        }
        paths.push(base);
        index = at.max(index + 1);
    }
    paths
}

/// The index of the `}` closing the `{` at `open` (the text's end when unbalanced).
fn matching_brace(text: &str, open: usize) -> usize {
    let mut depth = 0;
    for (offset, byte) in text.bytes().enumerate().skip(open) {
        match byte {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return offset;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// Expands `a::b, c::{d, e}` under `prefix` into full paths.
fn expand_group(prefix: &Module, group: &str, out: &mut Vec<Module>) {
    let mut depth = 0;
    let mut start = 0;
    let mut items = Vec::new();
    for (offset, byte) in group.bytes().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                items.push(&group[start..offset]);
                start = offset + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    for item in items.into_iter().map(str::trim).filter(|item| !item.is_empty()) {
        let mut path = prefix.clone();
        match item.find('{') {
            Some(open) => {
                let head = item[..open].trim_end_matches("::");
                path.extend(head.split("::").map(|segment| segment.trim().to_string()));
                let close = matching_brace(item, open);
                expand_group(&path, &item[open + 1..close], out);
            }
            None => {
                let name = item.split(" as ").next().unwrap_or(item);
                path.extend(name.split("::").map(|segment| segment.trim().to_string()));
                out.push(path);
            }
        }
    }
}

struct Graph {
    modules: BTreeSet<Module>,
    /// File module → modules it imports (longest known prefix of each path).
    edges: BTreeMap<Module, BTreeSet<Module>>,
}

fn graph() -> Graph {
    let mut files = Vec::new();
    rust_files(&source_root(), &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|path| module_of(path)).collect();
    let mut edges = BTreeMap::new();
    for path in &files {
        let module = module_of(path);
        let mut targets = BTreeSet::new();
        for reference in referenced_paths(&module, &production_text(path)) {
            let known = (1..=reference.len())
                .rev()
                .map(|length| reference[..length].to_vec())
                .find(|prefix| modules.contains(prefix));
            if let Some(target) = known {
                let inside = target.len() <= module.len() && module[..target.len()] == target[..];
                if !inside && !target.is_empty() {
                    targets.insert(target);
                }
            }
        }
        edges.insert(module, targets);
    }
    Graph { modules, edges }
}

fn layer(top: &str) -> Option<u32> {
    LAYERS.iter().find(|(name, _)| *name == top).map(|(_, layer)| *layer)
}

#[test]
fn every_top_level_module_has_a_layer() {
    let graph = graph();
    let tops: BTreeSet<&str> = graph.modules.iter().filter_map(|module| module.first().map(String::as_str)).collect();
    let missing: Vec<&str> = tops.into_iter().filter(|top| layer(top).is_none()).collect();
    assert!(missing.is_empty(), "modules without a layer in tests/architecture.rs: {missing:?}");
}

#[test]
fn imports_point_down_the_layers() {
    let graph = graph();
    let mut upward = Vec::new();
    for (from, targets) in &graph.edges {
        let Some(from_top) = from.first() else { continue };
        for to in targets {
            let to_top = &to[0];
            if from_top == to_top {
                continue;
            }
            if let (Some(from_layer), Some(to_layer)) = (layer(from_top), layer(to_top)) {
                if to_layer >= from_layer {
                    upward.push(format!("{} -> {}", from.join("::"), to.join("::")));
                }
            }
        }
    }
    assert!(upward.is_empty(), "imports that do not point down the layers:\n{}", upward.join("\n"));
}

/// A cycle in `edges`, if any, as the list of nodes around it.
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let start = stack.iter().position(|entry| entry == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node) {
            if let Some(cycle) = visit(node, edges, &mut state, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

#[test]
fn no_cycles_between_files() {
    let graph = graph();
    if let Some(cycle) = find_cycle(&graph.edges) {
        let names: Vec<String> = cycle.iter().map(|module| module.join("::")).collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
}

#[test]
fn no_cycles_between_top_level_modules() {
    let graph = graph();
    let mut tops: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, targets) in &graph.edges {
        let Some(from_top) = from.first() else { continue };
        let entry = tops.entry(vec![from_top.clone()]).or_default();
        for to in targets {
            if to[0] != *from_top {
                entry.insert(vec![to[0].clone()]);
            }
        }
    }
    if let Some(cycle) = find_cycle(&tops) {
        let names: Vec<String> = cycle.iter().map(|module| module.join("::")).collect();
        panic!("import cycle between top-level modules: {}", names.join(" -> "));
    }
}

/// The checker itself: an upward import and a cycle in a made-up module are seen.
#[test]
fn the_checker_sees_paths_in_every_form() {
    let module: Module = vec!["http".into(), "body".into()];
    let text = "use crate::s3::auth::{a, b};\nuse super::chunked::X;\nfn f() { crate::store::record::Y; }\nuse crate::{error::E, limits, shard::{owner::O, router as r}};";
    let paths = referenced_paths(&module, text);
    let joined: Vec<String> = paths.iter().map(|path| path.join("::")).collect();
    assert!(joined.contains(&"s3::auth::a".to_string()), "{joined:?}");
    assert!(joined.contains(&"http::chunked::X".to_string()), "{joined:?}");
    assert!(joined.contains(&"store::record::Y".to_string()), "{joined:?}");
    assert!(joined.contains(&"error::E".to_string()), "{joined:?}");
    assert!(joined.contains(&"limits".to_string()), "{joined:?}");
    assert!(joined.contains(&"shard::owner::O".to_string()), "{joined:?}");
    assert!(joined.contains(&"shard::router".to_string()), "{joined:?}");
    let directory: Module = vec!["s3".into(), "auth".into()];
    let from_mod_rs = referenced_paths(&directory, "use super::uri::Query;");
    assert_eq!(from_mod_rs[0].join("::"), "s3::uri::Query");
    let mut edges = BTreeMap::new();
    edges.insert(vec!["a".to_string()], BTreeSet::from([vec!["b".to_string()]]));
    edges.insert(vec!["b".to_string()], BTreeSet::from([vec!["a".to_string()]]));
    assert!(find_cycle(&edges).is_some());
}
