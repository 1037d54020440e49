//! The layer rule, checked: every module imports only from its own layer or lower ones, and no two
//! modules of one layer import each other (directly or round a loop). The layers are the numbered
//! list in the crate doc of `src/lib.rs`, read from there, so the documentation and the check
//! cannot drift apart.
//!
//! What counts as an import: every `crate::<module>` path in code (a `use crate::{a, b::c}` group
//! counts each of its items), outside comments, string and character literals, and `#[cfg(test)]`
//! items. Test files (`tests.rs`, anything under a `tests/` directory) are not checked: a test may
//! reach anywhere. Paths that climb out of a module with `super::` are not followed (the code
//! names other top-level modules with `crate::`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer number by module name, from the `N. `a`, `b`: …` list of the crate doc. Only the
/// backticked names before the first `:` of an item count.
fn layers(lib_rs: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim_start();
        let digits = doc.chars().take_while(char::is_ascii_digit).count();
        let Some(item) = doc[digits..].strip_prefix(". ").filter(|_| digits > 0) else {
            continue;
        };
        let n: usize = doc[..digits].parse().expect("a layer number");
        let head = item.split(':').next().unwrap_or("");
        for name in head.split('`').skip(1).step_by(2) {
            out.insert(name.to_string(), n);
        }
    }
    out
}

/// The text with comments, string literals and character literals blanked to spaces (line breaks
/// kept), so braces and paths can be read from what is left.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, s: &[char]| {
        for &ch in s {
            out.push(if ch == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < c.len() {
        let rest = &c[i..];
        let ident_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        if rest.starts_with(&['/', '/']) {
            let end = rest.iter().position(|&ch| ch == '\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(&['/', '*']) {
            let mut depth = 0;
            let mut j = 0;
            while j < rest.len() {
                if rest[j..].starts_with(&['/', '*']) {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(&['*', '/']) {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if !ident_before && raw_string_len(rest).is_some() {
            let end = raw_string_len(rest).unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == '"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != '"' {
                j += if rest[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == '\'' && rest.get(1) == Some(&'\\') {
            let mut j = 3;
            while j < rest.len() && rest[j] != '\'' {
                j += 1;
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == '\'' && rest.get(2) == Some(&'\'') {
            blank(&mut out, &rest[..3]);
            i += 3;
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    out
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`, `br##"…"##`) at the start of `s`.
fn raw_string_len(s: &[char]) -> Option<usize> {
    let start = match s {
        ['r', ..] => 1,
        ['b', 'r', ..] => 2,
        _ => return None,
    };
    let hashes = s[start..].iter().take_while(|&&ch| ch == '#').count();
    if s.get(start + hashes) != Some(&'"') {
        return None;
    }
    let body = start + hashes + 1;
    let closing: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    let end = (body..s.len())
        .find(|&j| s[j..].starts_with(&closing))
        .map_or(s.len(), |j| j + closing.len());
    Some(end)
}

/// `code` (already [`code_only`]) without its `#[cfg(test)]` items: the attribute and the item after
/// it, up to its `;` or through its `{ … }` block.
fn without_test_items(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(at) = out[from..].find("#[cfg(test)]").map(|k| from + k) {
        let b = out.as_bytes();
        let mut j = at + "#[cfg(test)]".len();
        while j < b.len() && b[j] != b';' && b[j] != b'{' {
            j += 1;
        }
        if j < b.len() && b[j] == b'{' {
            let mut depth = 0;
            while j < b.len() {
                match b[j] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        let end = (j + 1).min(b.len());
        let blanked: String = out[at..end]
            .chars()
            .map(|ch| if ch == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blanked);
        from = end;
    }
    out
}

/// The top-level modules a file's code names through `crate::` (or `$crate::`), each once.
fn crate_refs(src: &str) -> BTreeSet<String> {
    let code = without_test_items(&code_only(src));
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = code[at + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of every top-level item.
            let mut depth = 0;
            let mut item_start = true;
            for (k, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        item_start = false;
                        out.insert(ident(&group[k..]));
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every violation of the layer rule in the crate under `src`, one line each.
fn violations(src: &Path) -> Vec<String> {
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    let layer = layers(&lib_rs);
    assert!(
        layer.contains_key("fmt") && layer.len() >= 5,
        "no layer list found in the crate doc of src/lib.rs: {layer:?}"
    );
    let mut problems = Vec::new();

    // The crate's modules are what lib.rs declares outside `#[cfg(test)]`; each needs a layer.
    // A module in the list that does not exist (yet) is fine.
    let declared: BTreeSet<String> = without_test_items(&code_only(&lib_rs))
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect();
    for m in declared.difference(&layer.keys().cloned().collect()) {
        problems.push(format!(
            "src/lib.rs: module {m} is in no layer (add it to the list in the crate doc)"
        ));
    }

    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut same_layer: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(src).expect("under src");
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let is_test = parts.iter().any(|p| p == "tests" || p == "tests.rs");
        let module = parts[0].trim_end_matches(".rs").to_string();
        if is_test || !declared.contains(&module) {
            continue; // main.rs, lib.rs, test-only modules (this one) and test files
        }
        let shown = Path::new("src").join(rel).display().to_string();
        let own = layer[&module];
        let text = std::fs::read_to_string(&path).expect("readable source");
        for target in crate_refs(&text) {
            if target == module {
                continue;
            }
            match layer.get(&target) {
                Some(&l) if l > own => problems.push(format!(
                    "{shown}: imports higher layer {target} ({module} is layer {own}, {target} is layer {l})"
                )),
                Some(&l) if l == own => {
                    same_layer.entry(module.clone()).or_default().insert(target);
                }
                Some(_) => {}
                // Not a module of the crate: a root item (`crate::errln!`, `crate::signals`).
                None if !declared.contains(&target) => {}
                None => problems.push(format!("{shown}: imports {target}, which is in no layer")),
            }
        }
    }

    // Within one layer imports may go either way, but never round a loop.
    for (from, tos) in &same_layer {
        for to in tos {
            let mut seen = BTreeSet::new();
            let mut stack = vec![to.clone()];
            while let Some(m) = stack.pop() {
                if &m == from {
                    // A pair that imports each other directly is reported once.
                    let pair = same_layer.get(to).is_some_and(|t| t.contains(from));
                    if !pair || from < to {
                        problems.push(format!(
                            "{from} imports {to} and {to} leads back to {from} (both layer {}): a cycle",
                            layer[from]
                        ));
                    }
                    break;
                }
                if seen.insert(m.clone()) {
                    stack.extend(same_layer.get(&m).into_iter().flatten().cloned());
                }
            }
        }
    }
    problems
}

#[test]
fn imports_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = violations(&src);
    assert!(
        problems.is_empty(),
        "the layer rule (crate doc of src/lib.rs) is broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_layer_list_is_read_from_the_crate_doc() {
    let doc = "//! Layers:\n//!\n//! 1. `fmt`: formatting, see `x`\n//! 2. `a`, `b`: things\n\
               //! 10. `z`\n//! Not 3. `c`\n";
    let l = layers(doc);
    let want: BTreeMap<String, usize> = [("fmt", 1), ("a", 2), ("b", 2), ("z", 10)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(l, want);
}

#[test]
fn imports_are_found_in_code_only() {
    let src = r####"
use crate::{
    alpha::{A, B},
    beta,
    gamma::c::D,
};
use crate::delta::E; // crate::not_in_a_comment
/* crate::nor_here /* nested */ crate::nor_here_either */
fn f<'a>(x: &'a str) -> char {
    let _ = "crate::not_in_a_string \" crate::still_not";
    let _ = r#"crate::not_raw "quoted" "#;
    let _ = ('{', '\'', '"');
    crate::epsilon::call();
    $crate::zeta!();
    notcrate::eta::x();
    '}'
}
#[cfg(test)]
mod tests {
    use crate::theta;
    fn g() { if true { crate::iota::x(); } }
}
#[cfg(test)]
use crate::kappa;
fn after() { crate::lambda::y(); }
"####;
    let found: Vec<String> = crate_refs(src).into_iter().collect();
    assert_eq!(
        found,
        [
            "alpha", "beta", "delta", "epsilon", "gamma", "lambda", "zeta"
        ]
    );
}
