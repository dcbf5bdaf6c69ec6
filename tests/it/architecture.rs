//! The shape of the house, read from the source: the top-level modules import each other in one
//! direction only (no cycles), the leaves (`core`, `wire`, `store`) import only what is below them,
//! no file passes 500 lines, and no function passes 80 lines unless its doc comment says why
//! ("long because …"). See `docs/architecture.md` for the graph these tests pin.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The text with `//` comments (doc comments included) removed, so a module named in prose is not
/// an import.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string literal (a URL) would cut the line short; that only loses
            // names, which can hide an edge but never invent one.
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level module names that `code` refers to through `crate::…`, including `use crate::{a, b}`.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The import graph of the library's top-level modules (`src/<module>.rs` or `src/<module>/…`).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "main" || module == "lib" {
            continue;
        }
        let refs = crate_refs(&code_only(&std::fs::read_to_string(&file).unwrap()));
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(refs.into_iter().filter(|r| *r != module));
    }
    graph
}

/// One cycle through `start`, if there is one (depth-first search).
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(graph, start, start, &mut path, &mut seen).then_some(path)
}

#[test]
fn the_crate_reference_reader_sees_plain_paths_groups_and_ignores_comments() {
    let code = code_only(
        "use crate::store::Store;\nuse crate::{core::UsdCost, wire};\n// crate::app in prose\nlet x = crate::metrics::Metrics::new();",
    );
    let refs: Vec<String> = crate_refs(&code).into_iter().collect();
    assert_eq!(refs, ["core", "metrics", "store", "wire"]);
}

#[test]
fn the_top_level_modules_import_each_other_without_cycles() {
    let graph = module_graph();
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_through(&graph, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

/// The tiers of `docs/architecture.md` ("Layers"): a module imports only from lower tiers.
const TIERS: &[(&str, u8)] = &[
    ("core", 0),
    ("wire", 1),
    ("store", 1),
    ("guard", 1),
    ("metrics", 1),
    ("periodic", 1),
    ("stats", 1),
    ("embed", 1),
    ("threads", 1),
    ("prompts", 2),
    ("providers", 2),
    ("error", 3),
    ("metering", 4),
    ("auth", 4),
    ("ratelimit", 4),
    ("features", 4),
    ("chat", 5),
    ("eval", 6),
    ("review", 6),
    ("ml", 6),
    ("canary", 6),
    ("ingest", 6),
    ("deploy", 6),
    ("config", 7),
    ("http", 8),
    ("app", 9),
    ("cli", 10),
];

#[test]
fn every_module_imports_only_from_lower_tiers() {
    let graph = module_graph();
    let tier = |m: &str| TIERS.iter().find(|(n, _)| *n == m).map(|(_, t)| *t);
    let mut problems = Vec::new();
    for (module, imports) in &graph {
        let Some(own) = tier(module) else {
            problems.push(format!(
                "`{module}` has no tier: add it to the Layers table of docs/architecture.md and to TIERS"
            ));
            continue;
        };
        for import in imports {
            match tier(import) {
                Some(t) if t < own => {}
                Some(t) => problems.push(format!(
                    "`{module}` (tier {own}) imports `{import}` (tier {t})"
                )),
                None => problems.push(format!("`{module}` imports `{import}`, which has no tier")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_leaf_modules_import_only_what_is_below_them() {
    let graph = module_graph();
    let allowed: &[(&str, &[&str])] = &[
        ("core", &[]),
        ("wire", &["core"]),
        ("store", &["core"]),
        ("providers", &["core", "wire", "metrics"]),
    ];
    for (module, may) in allowed {
        let imports = graph.get(*module).cloned().unwrap_or_default();
        let extra: Vec<&String> = imports
            .iter()
            .filter(|m| !may.contains(&m.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "`{module}` may import only {may:?}, but imports {extra:?}"
        );
    }
}

#[test]
fn no_module_below_config_reads_the_configuration_module() {
    let graph = module_graph();
    for module in [
        "guard",
        "metering",
        "review",
        "eval",
        "store",
        "providers",
        "prompts",
    ] {
        let imports = graph.get(module).cloned().unwrap_or_default();
        assert!(
            !imports.contains("config") && !imports.contains("app"),
            "`{module}` owns its configuration section and must not import `config` or `app`: {imports:?}"
        );
    }
}

/// Functions longer than `max` lines whose doc comment does not say why ("long because").
fn long_functions(text: &str, max: usize) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let signature = trimmed
            .split_whitespace()
            .skip_while(|w| {
                w.starts_with("pub") || ["async", "const", "unsafe", "extern", "\"C\""].contains(w)
            })
            .collect::<Vec<_>>();
        let is_fn = signature.first() == Some(&"fn") && !line.trim_end().ends_with(';');
        if !is_fn {
            i += 1;
            continue;
        }
        let name: String = signature[1]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{}}}", " ".repeat(indent));
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].starts_with(&close))
            .unwrap_or(i);
        let length = end - i + 1;
        let doc: String = lines[..i]
            .iter()
            .rev()
            .take_while(|l| {
                let t = l.trim_start();
                t.starts_with("//") || t.starts_with("#[")
            })
            .map(|l| l.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        if length > max && !doc.contains("long because") {
            out.push((i + 1, name, length));
        }
        i = end.max(i) + 1;
    }
    out
}

#[test]
fn the_function_length_reader_finds_a_long_function_and_honours_a_stated_reason() {
    let body = "    let x = 1;\n".repeat(81);
    let plain = format!("fn long() {{\n{body}}}\n");
    assert_eq!(long_functions(&plain, 80), [(1, "long".to_string(), 83)]);
    let excused =
        format!("/// One scenario; long because the steps share one session.\n#[test]\n{plain}");
    assert!(long_functions(&excused, 80).is_empty());
}

#[test]
fn no_file_passes_500_lines_and_no_function_80_unless_its_doc_says_why() {
    let mut problems = Vec::new();
    for dir in ["src", "tests", "benches"] {
        for file in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            let rel = file.strip_prefix(root()).unwrap().display().to_string();
            let lines = text.lines().count();
            if lines > 500 {
                problems.push(format!("{rel}: {lines} lines (split it by concern)"));
            }
            for (line, name, length) in long_functions(&text, 80) {
                problems.push(format!("{rel}:{line}: fn {name} is {length} lines"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
