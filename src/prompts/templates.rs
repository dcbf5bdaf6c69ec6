//! Template checks at load time: a message template must parse, may use only the variables its
//! version declares, and may use only the small, pure subset of tera a prompt needs.
//!
//! Tera's own strict mode only fails when a render reaches an undefined name; walking the parsed
//! AST finds every name a template can reach, on every branch, before anything is served. The
//! subset excludes everything that reads outside the template or hides a missing value:
//! functions (`get_env` would leak the environment), `include`/`extends`/`import`/macros (a
//! prompt version must be self-contained to be immutable) and the `default` filter (defaults are
//! declared in `version.toml`, where the API and lint can see them).

use std::collections::BTreeSet;

use tera::ast::{Expr, ExprVal, FunctionCall, Node};

/// Filters a prompt template may use: pure text transformations.
pub(crate) const ALLOWED_FILTERS: &[&str] = &[
    "lower",
    "upper",
    "capitalize",
    "title",
    "trim",
    "trim_start",
    "trim_end",
    "truncate",
    "replace",
];

/// A problem inside a template; `line` is 1-based within the template text.
#[derive(Debug, PartialEq)]
pub(crate) struct TemplateProblem {
    pub line: Option<usize>,
    pub message: String,
}

/// Parses `source` and returns the root names of every variable it reads, or its problems.
pub(crate) fn check(name: &str, source: &str) -> Result<BTreeSet<String>, Vec<TemplateProblem>> {
    let template = match tera::Template::new(name, None, source) {
        Ok(t) => t,
        Err(e) => return Err(vec![syntax_problem(&error_chain(&e))]),
    };
    let mut walker = Walker {
        source,
        used: BTreeSet::new(),
        locals: Vec::new(),
        problems: Vec::new(),
    };
    walker.nodes(&template.ast);
    if walker.problems.is_empty() {
        Ok(walker.used)
    } else {
        Err(walker.problems)
    }
}

struct Walker<'a> {
    source: &'a str,
    used: BTreeSet<String>,
    /// Names bound by `{% set %}` and `{% for %}` (and `loop`) in the enclosing scopes.
    locals: Vec<String>,
    problems: Vec<TemplateProblem>,
}

impl Walker<'_> {
    fn refuse(&mut self, what: &str, needle: &str) {
        let line = find_line(self.source, needle);
        self.problems.push(TemplateProblem {
            line,
            message: format!("{what} is not allowed in prompt templates (see docs/prompts.md)"),
        });
    }

    fn nodes(&mut self, nodes: &[Node]) {
        let scope = self.locals.len();
        for node in nodes {
            self.node(node);
        }
        self.locals.truncate(scope);
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Text(_)
            | Node::Raw(..)
            | Node::Comment(..)
            | Node::Break(_)
            | Node::Continue(_) => {}
            Node::VariableBlock(_, expr) => self.expr(expr),
            Node::Set(_, set) => {
                self.expr(&set.value);
                self.locals.push(set.key.clone());
            }
            Node::Forloop(_, l, _) => {
                self.expr(&l.container);
                let scope = self.locals.len();
                self.locals.extend(l.key.iter().cloned());
                self.locals.push(l.value.clone());
                self.locals.push("loop".into());
                self.nodes(&l.body);
                if let Some(body) = &l.empty_body {
                    self.nodes(body);
                }
                self.locals.truncate(scope);
            }
            Node::If(cond, _) => {
                for (_, expr, body) in &cond.conditions {
                    self.expr(expr);
                    self.nodes(body);
                }
                if let Some((_, body)) = &cond.otherwise {
                    self.nodes(body);
                }
            }
            Node::FilterSection(_, section, _) => {
                self.filter(&section.filter);
                self.nodes(&section.body);
            }
            Node::Extends(..) => self.refuse("`{% extends %}`", "extends"),
            Node::Include(..) => self.refuse("`{% include %}`", "include"),
            Node::ImportMacro(..) => self.refuse("`{% import %}`", "import"),
            Node::MacroDefinition(..) => self.refuse("`{% macro %}`", "macro"),
            Node::Block(..) => self.refuse("`{% block %}`", "block"),
            Node::Super => self.refuse("`super()`", "super"),
        }
    }

    fn filter(&mut self, call: &FunctionCall) {
        if !ALLOWED_FILTERS.contains(&call.name.as_str()) {
            let line = find_line(self.source, &call.name);
            let message = if call.name == "default" {
                "the `default` filter is not allowed: declare a `default` for the variable in version.toml".to_owned()
            } else {
                format!(
                    "filter `{}` is not allowed (allowed: {})",
                    call.name,
                    ALLOWED_FILTERS.join(", ")
                )
            };
            self.problems.push(TemplateProblem { line, message });
        }
        for arg in call.args.values() {
            self.expr(arg);
        }
    }

    fn expr(&mut self, expr: &Expr) {
        self.val(&expr.val);
        for f in &expr.filters {
            self.filter(f);
        }
    }

    fn val(&mut self, val: &ExprVal) {
        match val {
            ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) => {}
            ExprVal::Ident(ident) => self.ident(ident),
            ExprVal::Math(m) => {
                self.expr(&m.lhs);
                self.expr(&m.rhs);
            }
            ExprVal::Logic(l) => {
                self.expr(&l.lhs);
                self.expr(&l.rhs);
            }
            ExprVal::In(i) => {
                self.expr(&i.lhs);
                self.expr(&i.rhs);
            }
            ExprVal::Test(t) => {
                self.ident(&t.ident);
                for arg in &t.args {
                    self.expr(arg);
                }
            }
            ExprVal::Array(items) => items.iter().for_each(|e| self.expr(e)),
            ExprVal::StringConcat(c) => c.values.iter().for_each(|v| self.val(v)),
            ExprVal::FunctionCall(f) => {
                self.refuse(&format!("calling the function `{}()`", f.name), &f.name)
            }
            ExprVal::MacroCall(m) => {
                self.refuse(&format!("calling the macro `{}`", m.name), &m.name)
            }
        }
    }

    /// Records the root of a (possibly dotted or indexed) name: `user.name[i]` reads `user`
    /// and `i`.
    fn ident(&mut self, ident: &str) {
        let mut roots = vec![root_of(ident)];
        // Index expressions inside brackets that are names, not literals.
        for part in ident.split('[').skip(1) {
            let inner = part.split(']').next().unwrap_or("").trim();
            let literal =
                inner.starts_with(['"', '\'']) || inner.chars().all(|c| c.is_ascii_digit());
            if !inner.is_empty() && !literal {
                roots.push(root_of(inner));
            }
        }
        for root in roots {
            if !self.locals.iter().any(|l| l == root) {
                self.used.insert(root.to_owned());
            }
        }
    }
}

fn root_of(ident: &str) -> &str {
    ident.split(['.', '[']).next().unwrap_or(ident).trim()
}

/// The 1-based line of the first tag (`{{ }}` or `{% %}`) in `source` that mentions `word` as a
/// whole word: tera's AST has no positions, so problems are placed by searching the text.
pub(crate) fn find_line(source: &str, word: &str) -> Option<usize> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut pos = 0;
    while let Some(open) = source[pos..].find(['{']).map(|i| i + pos) {
        let rest = &source[open..];
        let close = if rest.starts_with("{{") {
            "}}"
        } else if rest.starts_with("{%") {
            "%}"
        } else {
            pos = open + 1;
            continue;
        };
        let end = rest
            .find(close)
            .map(|i| open + i + 2)
            .unwrap_or(source.len());
        let tag = &source[open..end];
        let mut from = 0;
        while let Some(i) = tag[from..].find(word).map(|i| i + from) {
            let before = tag[..i].chars().next_back().is_some_and(is_word);
            let after = tag[i + word.len()..].chars().next().is_some_and(is_word);
            if !before && !after {
                return Some(source[..open + i].matches('\n').count() + 1);
            }
            from = i + word.len();
        }
        pos = end;
    }
    None
}

/// A tera error with all its causes, which is where tera puts the useful part.
pub(crate) fn error_chain(e: &tera::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Tera parse errors are pest's multi-line art (` --> line:col`, the source line, a caret,
/// `= expected …`); keep the position and the explanation, on one line.
fn syntax_problem(raw: &str) -> TemplateProblem {
    let position = raw.find("--> ").map(|at| {
        let mut nums = raw[at + 4..]
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<usize>().ok());
        (nums.next(), nums.next())
    });
    let (line, column) = position.unwrap_or((None, None));
    let expected = raw
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("= "))
        .unwrap_or(raw.trim());
    let message = match column {
        Some(c) => format!("template syntax error at column {c}: {expected}"),
        None => format!("template syntax error: {expected}"),
    };
    TemplateProblem { line, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(source: &str) -> Vec<String> {
        check("t", source).unwrap().into_iter().collect()
    }

    #[test]
    fn every_variable_on_every_branch_is_found_and_locals_are_not() {
        let src = "{% if week %}{{ week }}{% else %}{{ name | upper }}{% endif %}\
                   {% set x = 3 %}{{ x }}{% for i in items %}{{ i }}{{ loop.index }}{% endfor %}\
                   {% if flag is defined and n > 2 %}.{% endif %}{{ user.first }}";
        assert_eq!(used(src), ["flag", "items", "n", "name", "user", "week"]);
    }

    #[test]
    fn functions_includes_and_the_default_filter_are_refused_with_their_line() {
        let problems = check(
            "t",
            "ok\n{{ get_env(name=\"HOME\") }}\n{{ a | default(value=1) }}",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].line, Some(2));
        assert!(problems[0].message.contains("get_env"));
        assert_eq!(problems[1].line, Some(3));
        assert!(problems[1].message.contains("default"));
        assert!(check("t", "{% include \"x\" %}").is_err());
    }

    #[test]
    fn a_syntax_error_reports_its_line_inside_the_template() {
        let problems = check("t", "line one\nline two {{ 1 + }}\nthree").unwrap_err();
        assert_eq!(
            problems,
            [TemplateProblem {
                line: Some(2),
                message: "template syntax error at column 17: expected an integer, a float, `true` or `false`, \
                          an identifier (must start with a-z), a square bracketed identifier (identifiers \
                          separated by `.` or `[]`s), or an expression"
                    .into()
            }]
        );
    }

    #[test]
    fn find_line_only_matches_whole_words_inside_tags() {
        let src = "week is text\n{{ weeks }}\n{% if week %}";
        assert_eq!(find_line(src, "week"), Some(3));
        assert_eq!(find_line(src, "nothing"), None);
    }
}
