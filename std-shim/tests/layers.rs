//! One-way dependencies between modules: no module of masu-core or of the
//! `masu` crate uses a module that uses it back, directly or through
//! others. A module "uses" another when its code (comments aside) names
//! `crate::<other>`. Run it alone with `cargo test -p masu --test layers`;
//! it prints each crate's module graph with `--nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name → the modules of the same crate it uses.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The code of a source file without its comments (line comments, doc
/// comments and block comments), so that a module named in prose is no
/// dependency.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else if rest.starts_with('"') {
            // Skip a string literal whole (it may hold "//").
            let bytes = rest.as_bytes();
            let mut i = 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            rest = &rest[(i + 1).min(rest.len())..];
            out.push_str("\"\"");
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The module names that `code` reaches through `crate::`.
fn uses(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let after = &code[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                found.insert(ident(item.trim()));
            }
        } else {
            found.insert(ident(after));
        }
    }
    found
}

/// The module graph of the crate whose sources are the `.rs` files of `dir`.
fn graph(dir: &Path) -> Graph {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(name, src)| {
            let deps = uses(&strip_comments(src))
                .into_iter()
                .filter(|d| d != name && names.contains(d))
                .collect();
            (name.clone(), deps)
        })
        .collect()
}

/// A cycle of the graph (its modules in order), if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        g: &Graph,
        m: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(m) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = path.iter().position(|p| p == m).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(m.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(m.to_string(), Mark::Open);
        path.push(m.to_string());
        for d in &g[m] {
            if let Some(c) = visit(g, d, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(m.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in g.keys() {
        if let Some(c) = visit(g, m, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

fn assert_acyclic(crate_dir: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_dir);
    let g = graph(&dir);
    println!("{crate_dir}:");
    for (m, deps) in &g {
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        println!("  {m} -> {}", deps.join(" "));
    }
    if let Some(cycle) = find_cycle(&g) {
        panic!(
            "modules of {crate_dir} use each other: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn core_modules_form_no_cycle() {
    assert_acyclic("../core/src");
}

#[test]
fn shim_modules_form_no_cycle() {
    assert_acyclic("src");
}

#[test]
fn the_checker_finds_a_cycle_and_ignores_comments() {
    let mut g = Graph::new();
    let a = uses(&strip_comments(
        "use crate::b::X; // crate::c\n/* crate::c */ fn f() { crate::{d, e}::g(); \"crate::c\"; }",
    ));
    assert_eq!(
        a,
        ["b", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    );
    g.insert("a".into(), a);
    g.insert("b".into(), ["c".to_string()].into());
    g.insert("c".into(), BTreeSet::new());
    g.insert("d".into(), BTreeSet::new());
    g.insert("e".into(), BTreeSet::new());
    assert_eq!(find_cycle(&g), None);
    g.get_mut("c").unwrap().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
