//! The clinicians' lexicons: loading `guard/lexicons/<lang>/*.toml` (every term normalised like a
//! message, every error as `file:line: message`) and one Aho-Corasick automaton over all of them,
//! built once at load, that finds every whole-word occurrence in a normalised message.
//!
//! Files per language: `red_flag.toml` and `self_harm.toml` hold terms that are a category by
//! themselves; `spelling.toml` maps informal spellings; every other file holds *signals*, terms
//! the rules combine (a headache, a medicine, a negation…), one known signal per entry.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use serde::Deserialize;
use toml::Spanned;

use super::normalize::{Normalized, Spelling, normalize, normalize_plain};
pub use super::signal::Signal;
use super::{GuardLoadError, Lang};

/// What a lexicon entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    RedFlag,
    SelfHarm,
    Signal(Signal),
}

/// One entry of a lexicon file: an id and what its terms mean.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `red_flag:heavy_bleeding`, `signal:headache` — what `matched` reports.
    pub id: String,
    pub lang: Lang,
    pub kind: Kind,
    /// For context cues: how many words may stand between the cue and the term it modifies.
    pub max_gap: Option<usize>,
    /// Self-harm entries: checked in user messages / in model answers.
    pub input: bool,
    pub output: bool,
}

/// One occurrence of an entry's term: token range `[first, end)` of the normalised message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub entry: u32,
    pub first: usize,
    pub end: usize,
}

/// Everything the automaton found in one message.
#[derive(Debug, Default)]
pub struct Scan {
    /// Hits other than stopwords, in order of their end.
    pub hits: Vec<Hit>,
    /// Language votes `[pt-BR, en]` from terms found in only one language's lexicons.
    pub votes: [u32; 2],
}

/// All languages' lexicons and the automaton over them.
pub struct Lexicon {
    ac: AhoCorasick,
    /// Per pattern: the entries it belongs to.
    owners: Vec<Vec<u32>>,
    /// Per pattern: the only language it belongs to, if one.
    pattern_lang: Vec<Option<Lang>>,
    entries: Vec<Entry>,
    spelling: Spelling,
}

impl std::fmt::Debug for Lexicon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexicon")
            .field("patterns", &self.owners.len())
            .field("entries", &self.entries.len())
            .field("spellings", &self.spelling.count())
            .finish()
    }
}

/// An entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    terms: Vec<Spanned<String>>,
    signal: Option<Spanned<String>>,
    max_gap: Option<usize>,
    scope: Option<Spanned<String>>,
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpelling {
    map: BTreeMap<String, Spanned<String>>,
}

/// Line (1-based) of byte `pos` in `text`.
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads and parses a TOML file; errors carry the file and line.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(T, String), GuardLoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| GuardLoadError::new(path, None, format!("cannot read: {e}")))?;
    let parsed = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| line_of(&text, s.start));
        GuardLoadError::new(path, line, e.message().trim().to_string())
    })?;
    Ok((parsed, text))
}

/// Builds the lexicon as files are read.
#[derive(Default)]
struct Builder {
    patterns: Vec<String>,
    index: HashMap<String, usize>,
    owners: Vec<Vec<u32>>,
    entries: Vec<Entry>,
    /// (pattern, lang, kind) → where it was first listed, to refuse duplicates.
    seen: HashMap<(usize, Lang, Kind), String>,
}

impl Lexicon {
    /// Loads `dir/<lang>/*.toml` for every language.
    pub fn load(dir: &Path) -> Result<Lexicon, GuardLoadError> {
        let mut spelling = Spelling::default();
        for lang in Lang::ALL {
            let path = dir.join(lang.as_str()).join("spelling.toml");
            if path.exists() {
                load_spelling(&path, &mut spelling)?;
            }
        }
        let mut b = Builder::default();
        for lang in Lang::ALL {
            let lang_dir = dir.join(lang.as_str());
            let listing = std::fs::read_dir(&lang_dir).map_err(|e| {
                GuardLoadError::new(&lang_dir, None, format!("cannot read lexicon folder: {e}"))
            })?;
            let mut files: Vec<_> = listing
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .filter(|p| p.file_name().is_some_and(|n| n != "spelling.toml"))
                .collect();
            files.sort();
            for path in files {
                b.load_file(&path, lang, &spelling)?;
            }
        }
        if b.patterns.is_empty() {
            return Err(GuardLoadError::new(dir, None, "no lexicon terms found"));
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&b.patterns)
            .map_err(|e| GuardLoadError::new(dir, None, format!("automaton: {e}")))?;
        let pattern_lang = b
            .owners
            .iter()
            .map(|owners| {
                let first = b.entries[owners[0] as usize].lang;
                owners
                    .iter()
                    .all(|&e| b.entries[e as usize].lang == first)
                    .then_some(first)
            })
            .collect();
        Ok(Lexicon {
            ac,
            owners: b.owners,
            pattern_lang,
            entries: b.entries,
            spelling,
        })
    }

    /// Normalises a message with the spelling table.
    pub fn normalize(&self, text: &str) -> Normalized {
        normalize(text, &self.spelling)
    }

    pub fn entry(&self, i: u32) -> &Entry {
        &self.entries[i as usize]
    }

    /// Every whole-word occurrence of every term (overlapping ones included).
    pub fn scan(&self, n: &Normalized) -> Scan {
        let mut scan = Scan::default();
        for m in self.ac.find_overlapping_iter(&n.text) {
            let p = m.pattern().as_usize();
            let Some(first) = n.token_at(m.start() + 1) else {
                continue;
            };
            // A full-word pattern ends with its space; a `prefix*` one ends inside a word.
            let last_byte = if n.text.as_bytes()[m.end() - 1] == b' ' {
                m.end() - 2
            } else {
                m.end() - 1
            };
            let end = n.token_containing(last_byte) + 1;
            if let Some(lang) = self.pattern_lang[p] {
                scan.votes[lang as usize] += 1;
            }
            for &e in &self.owners[p] {
                if self.entries[e as usize].kind == Kind::Signal(Signal::Stopword) {
                    continue;
                }
                scan.hits.push(Hit {
                    entry: e,
                    first,
                    end,
                });
            }
        }
        scan
    }
}

fn load_spelling(path: &Path, spelling: &mut Spelling) -> Result<(), GuardLoadError> {
    let (raw, text): (RawSpelling, String) = read_toml(path)?;
    let file = FileAt::new(path, &text);
    for (from, to) in raw.map {
        let line = file.line(to.span().start);
        let key = normalize_plain(&from);
        if key.tokens.len() != 1 {
            return Err(GuardLoadError::new(
                path,
                line,
                format!(
                    "`{from}` must be one word (it normalises to `{}`)",
                    key.text.trim()
                ),
            ));
        }
        let value = normalize_plain(to.get_ref());
        if value.tokens.is_empty()
            || value
                .tokens
                .iter()
                .any(|t| t.kind != super::normalize::TokKind::Word)
        {
            return Err(GuardLoadError::new(
                path,
                line,
                format!("`{}` must be one or more words", to.get_ref()),
            ));
        }
        let (k, v) = (key.text.trim().to_string(), value.text.trim().to_string());
        if let Some(prev) = spelling.insert(k.clone(), v.clone())
            && *prev != *v
        {
            return Err(GuardLoadError::new(
                path,
                line,
                format!(
                    "`{k}` is already mapped to `{prev}` (spellings are shared by all languages)"
                ),
            ));
        }
    }
    Ok(())
}

/// A lexicon file being read: where its errors point.
struct FileAt<'a> {
    path: &'a Path,
    /// Byte offset of every newline, so a term's line is a binary search: counting newlines
    /// from the start for each of a file's thousand terms made loading quadratic.
    newlines: Vec<usize>,
}

impl<'a> FileAt<'a> {
    fn new(path: &'a Path, text: &str) -> FileAt<'a> {
        let newlines = text.bytes().enumerate().filter(|&(_, b)| b == b'\n');
        FileAt {
            path,
            newlines: newlines.map(|(i, _)| i).collect(),
        }
    }

    /// Line (1-based) of byte `pos`, as [`line_of`].
    fn line(&self, pos: usize) -> Option<usize> {
        Some(self.newlines.partition_point(|&nl| nl < pos) + 1)
    }

    fn error(&self, line: Option<usize>, message: String) -> GuardLoadError {
        GuardLoadError::new(self.path, line, message)
    }
}

impl Builder {
    fn load_file(
        &mut self,
        path: &Path,
        lang: Lang,
        spelling: &Spelling,
    ) -> Result<(), GuardLoadError> {
        let (raw, text): (BTreeMap<String, RawEntry>, String) = read_toml(path)?;
        let file_kind = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let file = FileAt::new(path, &text);
        for (name, entry) in raw {
            let kind = entry_kind(file_kind, &name, &entry, &file)?;
            let (input, output) = scope(&entry, &file)?;
            if entry.terms.is_empty() {
                return Err(file.error(None, format!("[{name}] has no terms")));
            }
            let prefix = match kind {
                Kind::RedFlag => "red_flag",
                Kind::SelfHarm => "self_harm",
                Kind::Signal(_) => "signal",
            };
            let idx = self.entries.len() as u32;
            self.entries.push(Entry {
                id: format!("{prefix}:{name}"),
                lang,
                kind,
                max_gap: entry.max_gap,
                input,
                output,
            });
            for term in &entry.terms {
                self.add_term(term, idx, &file, spelling)?;
            }
        }
        Ok(())
    }

    /// Adds one term of entry `idx` as a pattern (shared with other entries that list the same
    /// normalised text); the same term twice for the same meaning is an error.
    fn add_term(
        &mut self,
        term: &Spanned<String>,
        idx: u32,
        file: &FileAt<'_>,
        spelling: &Spelling,
    ) -> Result<(), GuardLoadError> {
        let Entry { lang, kind, .. } = self.entries[idx as usize];
        let line = file.line(term.span().start);
        let raw_term = term.get_ref().trim();
        let (body, wildcard) = match raw_term.strip_suffix('*') {
            Some(b) => (b, true),
            None => (raw_term, false),
        };
        let n = normalize(body, spelling);
        if n.tokens.is_empty() {
            return Err(file.error(line, format!("term {raw_term:?} has no letters or digits")));
        }
        let pattern = if wildcard {
            n.text.trim_end().to_string()
        } else {
            n.text
        };
        let p = match self.index.get(&pattern) {
            Some(&p) => p,
            None => {
                self.patterns.push(pattern.clone());
                self.owners.push(Vec::new());
                self.index.insert(pattern.clone(), self.patterns.len() - 1);
                self.patterns.len() - 1
            }
        };
        let here = format!("{}:{}", file.path.display(), line.unwrap_or(0));
        if let Some(prev) = self.seen.insert((p, lang, kind), here) {
            return Err(file.error(
                line,
                format!(
                    "term {raw_term:?} (normalised `{}`) is already listed for the same meaning at {prev}",
                    pattern.trim()
                ),
            ));
        }
        if !self.owners[p].contains(&idx) {
            self.owners[p].push(idx);
        }
        Ok(())
    }
}

/// What an entry is: its file says so for red flags and self-harm; elsewhere its `signal`, or
/// its name, must be a known signal.
fn entry_kind(
    file_kind: &str,
    name: &str,
    entry: &RawEntry,
    file: &FileAt<'_>,
) -> Result<Kind, GuardLoadError> {
    match file_kind {
        "red_flag" => return Ok(Kind::RedFlag),
        "self_harm" => return Ok(Kind::SelfHarm),
        _ => {}
    }
    let (sig_name, line) = match &entry.signal {
        Some(s) => (s.get_ref().as_str(), file.line(s.span().start)),
        None => (
            name,
            entry.terms.first().and_then(|t| file.line(t.span().start)),
        ),
    };
    let signal = Signal::from_name(sig_name).ok_or_else(|| {
        let known: Vec<_> = Signal::ALL.iter().map(|s| s.name()).collect();
        file.error(
            line,
            format!(
                "`{sig_name}` is not a known signal; set `signal = \"…\"` to one of: {}",
                known.join(", ")
            ),
        )
    })?;
    Ok(Kind::Signal(signal))
}

/// `(input, output)`: where a self-harm entry is checked; user messages unless it says otherwise.
fn scope(entry: &RawEntry, file: &FileAt<'_>) -> Result<(bool, bool), GuardLoadError> {
    match entry
        .scope
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None => Ok((true, false)),
        Some(("input", _)) => Ok((true, false)),
        Some(("output", _)) => Ok((false, true)),
        Some(("both", _)) => Ok((true, true)),
        Some((other, span)) => Err(file.error(
            file.line(span.start),
            format!("scope = {other:?}: expected \"input\", \"output\" or \"both\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{FileAt, line_of};
    use std::path::Path;

    #[test]
    fn a_files_line_index_agrees_with_counting_newlines() {
        let text = "a = 1\n\n[b]\nterms = [\"x\"]\nlast";
        let file = FileAt::new(Path::new("x.toml"), text);
        for pos in 0..=text.len() + 2 {
            assert_eq!(file.line(pos), Some(line_of(text, pos)), "byte {pos}");
        }
    }
}
