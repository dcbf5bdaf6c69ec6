//! Declared variables: their types (string, integer with bounds, enum, bool), whether each is
//! required, defaulted or optional, and checking the values a request supplies against them.
//! Every problem with a request's variables is reported at once.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use super::PromptProblem;
use super::format::Source;

/// One declared variable of a prompt version.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableSpec {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) kind: VariableKind,
    pub(crate) presence: Presence,
}

/// A variable's type and its constraints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum VariableKind {
    String {
        #[serde(skip_serializing_if = "Option::is_none")]
        max_length: Option<usize>,
    },
    Integer {
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    Enum {
        values: Vec<String>,
    },
    Bool,
}

/// What happens when a request does not supply the variable.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Presence {
    /// The request is refused.
    Required,
    /// This value is used.
    Default(Value),
    /// The variable is absent from the template context: templates must guard it with
    /// `{% if name %}` (checked at load by rendering without it).
    Optional,
}

impl VariableSpec {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn kind(&self) -> &VariableKind {
        &self.kind
    }

    pub fn is_required(&self) -> bool {
        self.presence == Presence::Required
    }

    pub fn default_value(&self) -> Option<&Value> {
        match &self.presence {
            Presence::Default(v) => Some(v),
            _ => None,
        }
    }

    /// Checks one supplied value; the message names the variable.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let name = &self.name;
        match (&self.kind, value) {
            (VariableKind::String { max_length }, Value::String(s)) => match max_length {
                Some(max) if s.chars().count() > *max => {
                    Err(format!("`{name}` is longer than {max} characters"))
                }
                _ => Ok(()),
            },
            (VariableKind::Integer { min, max }, Value::Number(n)) => match n.as_i64() {
                None => Err(format!("`{name}` must be a whole number, got {n}")),
                Some(i) if min.is_some_and(|m| i < m) => Err(format!(
                    "`{name}` is {i}, below the minimum {}",
                    min.unwrap_or_default()
                )),
                Some(i) if max.is_some_and(|m| i > m) => Err(format!(
                    "`{name}` is {i}, above the maximum {}",
                    max.unwrap_or_default()
                )),
                Some(_) => Ok(()),
            },
            (VariableKind::Enum { values }, Value::String(s)) => {
                if values.iter().any(|v| v == s) {
                    Ok(())
                } else {
                    Err(format!(
                        "`{name}` is \"{s}\", not one of: {}",
                        values.join(", ")
                    ))
                }
            }
            (VariableKind::Bool, Value::Bool(_)) => Ok(()),
            (kind, other) => Err(format!(
                "`{name}` must be {}, got {}",
                kind.expected(),
                json_kind(other)
            )),
        }
    }

    /// Turns command-line text (`--var gestational_week=32`) into a value of this variable's
    /// type; the value is then checked like any other.
    pub fn parse_text(&self, text: &str) -> Result<Value, String> {
        match &self.kind {
            VariableKind::String { .. } | VariableKind::Enum { .. } => Ok(Value::from(text)),
            VariableKind::Integer { .. } => text
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("`{}` must be a whole number, got `{text}`", self.name)),
            VariableKind::Bool => match text.trim() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!(
                    "`{}` must be true or false, got `{text}`",
                    self.name
                )),
            },
        }
    }

    /// A valid value for load-time test renders: `low` picks the minimum / first enum value /
    /// `true`, otherwise the maximum / last value / `false`, so both branches of a comparison run.
    pub(crate) fn sample(&self, low: bool) -> Value {
        match &self.kind {
            VariableKind::String { max_length } => {
                let s: String = "Maria".chars().take(max_length.unwrap_or(5)).collect();
                Value::from(s)
            }
            VariableKind::Integer { min, max } => {
                let (first, second) = if low { (min, max) } else { (max, min) };
                Value::from(first.or(*second).unwrap_or(1))
            }
            VariableKind::Enum { values } => {
                let v = if low { values.first() } else { values.last() };
                Value::from(v.cloned().unwrap_or_default())
            }
            VariableKind::Bool => Value::Bool(low),
        }
    }
}

impl VariableKind {
    fn expected(&self) -> &'static str {
        match self {
            VariableKind::String { .. } => "a string",
            VariableKind::Integer { .. } => "a whole number",
            VariableKind::Enum { .. } => "one of its enum values (a string)",
            VariableKind::Bool => "true or false",
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds the template context from a request's variables: supplied values (checked), then
/// defaults; optional variables not supplied stay absent. `null` counts as not supplied.
/// Returns every problem at once, in a stable order.
pub(crate) fn context(
    specs: &[VariableSpec],
    given: &Map<String, Value>,
) -> Result<tera::Context, Vec<String>> {
    let mut problems = Vec::new();
    let mut ctx = tera::Context::new();
    for spec in specs {
        match (
            given.get(&spec.name).filter(|v| !v.is_null()),
            &spec.presence,
        ) {
            (Some(value), _) => match spec.check(value) {
                Ok(()) => ctx.insert(spec.name.as_str(), value),
                Err(e) => problems.push(e),
            },
            (None, Presence::Required) => {
                problems.push(format!("`{}` is required and missing", spec.name));
            }
            (None, Presence::Default(value)) => ctx.insert(spec.name.as_str(), value),
            (None, Presence::Optional) => {}
        }
    }
    for name in given.keys() {
        if !specs.iter().any(|s| &s.name == name) {
            let declared: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            let declared = if declared.is_empty() {
                "none".into()
            } else {
                declared.join(", ")
            };
            problems.push(format!(
                "`{name}` is not a variable of this prompt (declared: {declared})"
            ));
        }
    }
    if problems.is_empty() {
        Ok(ctx)
    } else {
        Err(problems)
    }
}

/// A `[variables.NAME]` table as written in `version.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVariable {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    required: Option<Spanned<bool>>,
    #[serde(default)]
    default: Option<Spanned<toml::Value>>,
    #[serde(default)]
    min: Option<Spanned<i64>>,
    #[serde(default)]
    max: Option<Spanned<i64>>,
    #[serde(default)]
    values: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    max_length: Option<Spanned<usize>>,
}

/// Names a template can never use for a variable (tera keywords and its loop variable).
const RESERVED: &[&str] = &[
    "loop",
    "true",
    "false",
    "and",
    "or",
    "not",
    "in",
    "is",
    "super",
    "__tera_context",
];

/// Validates the declared variables of one version; problems carry the line of the culprit key.
pub(crate) fn from_raw(
    raw: BTreeMap<Spanned<String>, RawVariable>,
    src: &Source<'_>,
    problems: &mut Vec<PromptProblem>,
) -> Vec<VariableSpec> {
    let mut specs = Vec::new();
    for (name, raw) in raw {
        let before = problems.len();
        let mut bad =
            |span: std::ops::Range<usize>, msg: String| problems.push(src.problem(span, msg));
        check_name(&name, &mut bad);
        let Some(kind) = raw.variable_kind(&mut bad) else {
            continue;
        };
        raw.check_constraints(&mut bad);
        let presence = raw.presence(&mut bad);
        let spec = VariableSpec {
            name: name.get_ref().clone(),
            description: raw.description,
            kind,
            presence,
        };
        if let (Presence::Default(value), Some(d)) = (&spec.presence, &raw.default)
            && let Err(e) = spec.check(value)
        {
            problems.push(src.problem(d.span(), format!("the default is not valid: {e}")));
        }
        if problems.len() == before {
            specs.push(spec);
        }
    }
    specs
}

/// Where a declaration problem is reported: the span of the culprit key, and the message.
type Report<'r> = &'r mut dyn FnMut(std::ops::Range<usize>, String);

fn check_name(name: &Spanned<String>, bad: Report<'_>) {
    let valid_name = name
        .get_ref()
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_lowercase() || b == b'_' || (i > 0 && b.is_ascii_digit()));
    if name.get_ref().is_empty() || !valid_name || RESERVED.contains(&name.get_ref().as_str()) {
        let msg = format!(
            "`{}` is not a valid variable name (lowercase letters, digits and `_`, not a tera keyword)",
            name.get_ref()
        );
        bad(name.span(), msg);
    }
}

impl RawVariable {
    /// The declared `type` with its constraints; `None` (reported) for an unknown type.
    fn variable_kind(&self, bad: Report<'_>) -> Option<VariableKind> {
        Some(match self.kind.get_ref().as_str() {
            "string" => VariableKind::String {
                max_length: self.max_length.as_ref().map(|m| *m.get_ref()),
            },
            "integer" => VariableKind::Integer {
                min: self.min.as_ref().map(|m| *m.get_ref()),
                max: self.max.as_ref().map(|m| *m.get_ref()),
            },
            "enum" => VariableKind::Enum {
                values: self
                    .values
                    .as_ref()
                    .map(|v| v.get_ref().clone())
                    .unwrap_or_default(),
            },
            "bool" => VariableKind::Bool,
            other => {
                let msg = format!(
                    "unknown variable type `{other}` (expected string, integer, enum or bool)"
                );
                bad(self.kind.span(), msg);
                return None;
            }
        })
    }

    /// Constraints that belong to another type, or contradict each other.
    fn check_constraints(&self, bad: Report<'_>) {
        let is = |k: &str| self.kind.get_ref() == k;
        let only_for =
            |field: &str, kind: &str| format!("`{field}` only applies to `{kind}` variables");
        for (field, span, kind_name) in [
            ("min", self.min.as_ref().map(|s| s.span()), "integer"),
            ("max", self.max.as_ref().map(|s| s.span()), "integer"),
            ("values", self.values.as_ref().map(|s| s.span()), "enum"),
            (
                "max_length",
                self.max_length.as_ref().map(|s| s.span()),
                "string",
            ),
        ] {
            if let Some(span) = span.filter(|_| !is(kind_name)) {
                bad(span, only_for(field, kind_name));
            }
        }
        if let (Some(min), Some(max)) = (&self.min, &self.max)
            && min.get_ref() > max.get_ref()
        {
            let msg = format!(
                "`min` ({}) is above `max` ({})",
                min.get_ref(),
                max.get_ref()
            );
            bad(min.span(), msg);
        }
        if let Some(values) = self.values.as_ref().filter(|_| is("enum")) {
            let v = values.get_ref();
            let mut sorted = v.clone();
            sorted.sort();
            sorted.dedup();
            if v.is_empty() || v.iter().any(|s| s.trim().is_empty()) || sorted.len() != v.len() {
                bad(
                    values.span(),
                    "enum `values` must be distinct, non-empty strings".into(),
                );
            }
        } else if is("enum") {
            bad(
                self.kind.span(),
                "an `enum` variable needs `values = [...]`".into(),
            );
        }
        if let Some(m) = self.max_length.as_ref().filter(|m| *m.get_ref() == 0) {
            bad(m.span(), "`max_length` must be at least 1".into());
        }
    }

    /// `required = true`, a `default`, or neither (optional); both is a problem.
    fn presence(&self, bad: Report<'_>) -> Presence {
        match (&self.required, &self.default) {
            (Some(r), Some(_)) if *r.get_ref() => {
                bad(
                    r.span(),
                    "a variable is either `required = true` or has a `default`, not both".into(),
                );
                Presence::Required
            }
            (Some(r), None) if *r.get_ref() => Presence::Required,
            (_, Some(d)) => match toml_to_json(d.get_ref()) {
                Some(value) => Presence::Default(value),
                None => {
                    bad(
                        d.span(),
                        "a default must be a string, an integer or a boolean".into(),
                    );
                    Presence::Optional
                }
            },
            (_, None) => Presence::Optional,
        }
    }
}

fn toml_to_json(v: &toml::Value) -> Option<Value> {
    match v {
        toml::Value::String(s) => Some(Value::from(s.as_str())),
        toml::Value::Integer(i) => Some(Value::from(*i)),
        toml::Value::Boolean(b) => Some(Value::Bool(*b)),
        _ => None,
    }
}
