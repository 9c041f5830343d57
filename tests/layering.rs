//! The crate's own import graph is a tree of layers: no import circle between its parts. The
//! parts are the top-level modules (`nn`, `ops`, `checkpoint`, `registry`, …), except that
//! inside `models`, `detection` and `init` every file is a part of its own (so that
//! `models::api` ← `models::resnet` ← `detection::yolo` ← `registry` is checked, and a family
//! importing the registry, or `nn` importing `init::recipes`, is a circle). References are read
//! from the code (`crate::…` and `super::…` paths; comments and docs skipped).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SPLIT: [&str; 3] = ["models", "detection", "init"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().unwrap() != "bin" {
                files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file (`models::resnet`, `nn`, `init` for init/mod.rs).
fn module_of(src: &Path, f: &Path) -> Vec<String> {
    let rel = f.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// The part a module path belongs to.
fn part(path: &[String]) -> Option<String> {
    let first = path.first()?;
    if SPLIT.contains(&first.as_str()) && path.len() > 1 {
        return Some(format!("{first}::{}", path[1]));
    }
    Some(first.clone())
}

#[test]
fn no_import_circle_between_the_crates_parts() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let known: BTreeSet<String> = all.iter().filter_map(|f| part(&module_of(&src, f))).collect();
    let re = regex::Regex::new(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &all {
        let me = module_of(&src, f);
        let Some(from) = part(&me) else { continue };
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for c in re.captures_iter(code) {
                let rest: Vec<String> = c[2].split("::").filter(|s| !s.is_empty()).map(String::from).collect();
                let mut target = if &c[1] == "crate" {
                    rest
                } else {
                    // `super`: the parent module (a mod.rs already names its folder's module).
                    let mut base = me.clone();
                    base.pop();
                    base.extend(rest);
                    base
                };
                // Only module components: stop at the first name that is not a known part.
                while !target.is_empty() && part(&target).is_some_and(|p| !known.contains(&p)) {
                    target.pop();
                }
                if let Some(to) = part(&target) {
                    if to != from && known.contains(&to) {
                        edges.entry(from.clone()).or_default().insert(to);
                    }
                }
            }
        }
    }
    assert!(edges.len() > 10, "the graph was read: {edges:?}");
    assert!(edges["registry"].contains("models::resnet"), "registry lists the families: {edges:?}");
    // Depth-first search for a cycle.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let i = stack.iter().position(|s| s == n).unwrap();
                let mut cycle = stack[i..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if let Some(cycle) = visit(n, &edges, &mut state, &mut Vec::new()) {
            panic!("import circle: {}", cycle.join(" -> "));
        }
    }
}
