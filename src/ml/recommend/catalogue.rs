//! The content catalogue: `content/articles/<id>.md` (YAML front matter between `---` lines,
//! then the Markdown body) and `content/topics.yaml` (each topic's id and its pt-BR and English
//! labels), loaded once at start-up and on refresh. Every error names the file and the line.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The two languages the catalogue is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
pub enum Lang {
    #[serde(rename = "pt-BR")]
    PtBr,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    /// The BCP 47 tag written in the catalogue and the API (`pt-BR`, `en`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::PtBr => "pt-BR",
            Lang::En => "en",
        }
    }

    /// Reads a tag leniently: `pt`, `pt-BR`, `pt_br` → pt-BR; `en`, `en-US` → en.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "pt" => Some(Lang::PtBr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// One topic and its labels in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: String,
    #[serde(rename = "pt-BR")]
    pub pt_br: String,
    pub en: String,
}

impl Topic {
    /// The label in `lang`.
    pub fn label(&self, lang: Lang) -> &str {
        match lang {
            Lang::PtBr => &self.pt_br,
            Lang::En => &self.en,
        }
    }
}

/// Who reviewed an article for clinical safety, and when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reviewed {
    pub by: String,
    pub on: String,
}

/// An article's front matter, exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: String,
    title: String,
    language: Lang,
    topics: Vec<String>,
    weeks: [u32; 2],
    reading_minutes: u32,
    published: String,
    #[serde(default)]
    translation_of: Option<String>,
    #[serde(default)]
    reviewed: Option<Reviewed>,
}

/// One article, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub language: Lang,
    pub topics: Vec<String>,
    /// The gestational weeks it is written for, inclusive.
    pub weeks: (u32, u32),
    pub reading_minutes: u32,
    /// Publication day (days since 1970-01-01, UTC).
    pub published_day: i64,
    pub translation_of: Option<String>,
    pub reviewed: Option<Reviewed>,
    pub body: String,
    /// SHA-256 (hex) of what is embedded (title and body): the embedding cache's key.
    pub content_hash: String,
}

impl Article {
    /// The text the embedding is computed from.
    pub fn embedding_text(&self) -> String {
        format!("{}\n\n{}", self.title, self.body)
    }
}

/// A catalogue problem: the file, the line (1-based; 0 when the whole file is concerned) and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct CatalogueError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// The articles (sorted by id) and the topics.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    articles: Vec<Article>,
    topics: BTreeMap<String, Topic>,
    index: HashMap<String, usize>,
}

impl Catalogue {
    /// A catalogue from articles and topics already checked (benchmarks, tests).
    pub fn from_parts(mut articles: Vec<Article>, topics: Vec<Topic>) -> Catalogue {
        articles.sort_by(|a, b| a.id.cmp(&b.id));
        let index = articles
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        let topics = topics.into_iter().map(|t| (t.id.clone(), t)).collect();
        Catalogue {
            articles,
            topics,
            index,
        }
    }

    /// Loads `dir/topics.yaml` and every `dir/articles/*.md`. A missing `dir` is an empty
    /// catalogue (a gateway without content is valid); anything wrong in an existing one is an
    /// error naming the file and line. Every problem is returned, not just the first.
    pub fn load(dir: &Path) -> Result<Catalogue, Vec<CatalogueError>> {
        if !dir.exists() {
            return Ok(Catalogue::default());
        }
        let topics_path = dir.join("topics.yaml");
        let topics = load_topics(&topics_path).map_err(|e| vec![e])?;
        let known: HashMap<&str, ()> = topics.iter().map(|t| (t.id.as_str(), ())).collect();
        let mut problems = Vec::new();
        let mut articles = Vec::new();
        let articles_dir = dir.join("articles");
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(&articles_dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect(),
            Err(e) => return Err(vec![whole(&articles_dir, e.to_string())]),
        };
        paths.sort();
        for path in paths {
            match load_article(&path, &|t| known.contains_key(t)) {
                Ok(a) => articles.push(a),
                Err(e) => problems.push(e),
            }
        }
        let catalogue = Catalogue::from_parts(articles, topics);
        problems.extend(catalogue.check_pairs(&articles_dir));
        if problems.is_empty() {
            Ok(catalogue)
        } else {
            Err(problems)
        }
    }

    /// Translation pairs: `translation_of` names an article in the other language that names
    /// this one back, with the same topics and weeks.
    fn check_pairs(&self, articles_dir: &Path) -> Vec<CatalogueError> {
        let mut problems = Vec::new();
        for a in &self.articles {
            let Some(other) = &a.translation_of else {
                continue;
            };
            let path = articles_dir.join(format!("{}.md", a.id));
            let problem = match self.get(other) {
                None => Some(format!("translation_of {other:?} is not an article")),
                Some(o) if o.language == a.language => {
                    Some(format!("translation_of {other:?} is in the same language"))
                }
                Some(o) if o.translation_of.as_deref() != Some(a.id.as_str()) => Some(format!(
                    "{other:?} does not name {:?} as its translation",
                    a.id
                )),
                Some(o) if o.topics != a.topics || o.weeks != a.weeks => Some(format!(
                    "{other:?} has other topics or weeks than its translation"
                )),
                Some(_) => None,
            };
            problems.extend(problem.map(|m| whole(&path, m)));
        }
        problems
    }

    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    pub fn len(&self) -> usize {
        self.articles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.articles.is_empty()
    }

    /// The position of article `id` (the same in every per-article vector).
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn get(&self, id: &str) -> Option<&Article> {
        self.position(id).map(|i| &self.articles[i])
    }

    pub fn topic(&self, id: &str) -> Option<&Topic> {
        self.topics.get(id)
    }

    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.values()
    }
}

fn whole(path: &Path, message: String) -> CatalogueError {
    CatalogueError {
        path: path.to_path_buf(),
        line: 0,
        message,
    }
}

fn load_topics(path: &Path) -> Result<Vec<Topic>, CatalogueError> {
    let text = std::fs::read_to_string(path).map_err(|e| whole(path, e.to_string()))?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TopicsFile {
        topics: Vec<Topic>,
    }
    let TopicsFile { topics } = serde_norway::from_str(&text).map_err(|e| CatalogueError {
        path: path.to_path_buf(),
        line: e.location().map_or(0, |l| l.line()),
        message: e.to_string(),
    })?;
    let mut seen = HashMap::new();
    for (i, t) in topics.iter().enumerate() {
        if seen.insert(t.id.as_str(), i).is_some() {
            return Err(whole(path, format!("topic {:?} appears twice", t.id)));
        }
    }
    Ok(topics)
}

/// Reads and checks one article; `known` says whether a topic id exists. Long because it is
/// the one list of front-matter checks, each naming its line, read top to bottom.
fn load_article(path: &Path, known: &dyn Fn(&str) -> bool) -> Result<Article, CatalogueError> {
    let text = std::fs::read_to_string(path).map_err(|e| whole(path, e.to_string()))?;
    let at = |line: usize, message: String| CatalogueError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or_else(|| {
            at(
                1,
                "the file must start with a `---` front matter line".into(),
            )
        })?;
    let end = rest
        .find("\n---")
        .ok_or_else(|| at(1, "the front matter has no closing `---` line".into()))?;
    let (yaml, body) = (&rest[..=end], &rest[end + 4..]);
    let body = body.trim_start_matches(['\r', '\n']).trim_end().to_string();
    // Front matter line N is line N + 1 of the file (after the opening `---`).
    let fm: FrontMatter = serde_norway::from_str(yaml)
        .map_err(|e| at(e.location().map_or(1, |l| l.line() + 1), e.to_string()))?;
    let line_of = |key: &str| {
        yaml.lines()
            .position(|l| l.starts_with(&format!("{key}:")))
            .map_or(1, |i| i + 2)
    };
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if fm.id != stem {
        return Err(at(
            line_of("id"),
            format!("id {:?} must equal the file name {stem:?}", fm.id),
        ));
    }
    if fm.title.trim().is_empty() {
        return Err(at(line_of("title"), "title is empty".into()));
    }
    if fm.topics.is_empty() {
        return Err(at(line_of("topics"), "topics is empty".into()));
    }
    if let Some(t) = fm.topics.iter().find(|t| !known(t)) {
        return Err(at(
            line_of("topics"),
            format!("topic {t:?} is not in topics.yaml"),
        ));
    }
    let [from, to] = fm.weeks;
    if from > to || to > 42 {
        return Err(at(
            line_of("weeks"),
            format!("weeks [{from}, {to}] must satisfy 0 ≤ from ≤ to ≤ 42"),
        ));
    }
    if fm.reading_minutes == 0 || fm.reading_minutes > 60 {
        return Err(at(
            line_of("reading_minutes"),
            "reading_minutes must be 1–60".into(),
        ));
    }
    let published = crate::core::calendar::parse_instant(&fm.published)
        .ok()
        .filter(|_| fm.published.len() == 10)
        .ok_or_else(|| {
            at(
                line_of("published"),
                format!("published {:?} is not YYYY-MM-DD", fm.published),
            )
        })?;
    if body.is_empty() {
        return Err(at(line_of("id"), "the article has no body".into()));
    }
    let content_hash = hex::encode(Sha256::digest(format!("{}\n\n{}", fm.title, body)));
    Ok(Article {
        id: fm.id,
        title: fm.title,
        language: fm.language,
        topics: fm.topics,
        weeks: (from, to),
        reading_minutes: fm.reading_minutes,
        published_day: crate::core::calendar::day_of(published),
        translation_of: fm.translation_of,
        reviewed: fm.reviewed,
        body,
        content_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join("articles")).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    const TOPICS: &str = "topics:\n  - id: sleep\n    pt-BR: Sono\n    en: Sleep\n";

    fn article(id: &str, extra: &str) -> String {
        format!(
            "---\nid: {id}\ntitle: Dormir bem\nlanguage: pt-BR\ntopics: [sleep]\nweeks: [10, 20]\nreading_minutes: 3\npublished: 2026-10-01\n{extra}---\n\nCorpo do texto.\n"
        )
    }

    #[test]
    fn an_article_loads_with_its_weeks_topics_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "topics.yaml", TOPICS);
        write(dir.path(), "articles/sono-1.md", &article("sono-1", ""));
        let c = Catalogue::load(dir.path()).unwrap();
        let a = c.get("sono-1").unwrap();
        assert_eq!(
            (a.weeks, a.language, a.body.as_str()),
            ((10, 20), Lang::PtBr, "Corpo do texto.")
        );
        assert_eq!(a.content_hash.len(), 64);
        assert_eq!(c.topic("sleep").unwrap().label(Lang::En), "Sleep");
    }

    #[test]
    fn an_unknown_topic_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "topics.yaml", TOPICS);
        let text = article("x", "").replace("[sleep]", "[diet]");
        write(dir.path(), "articles/x.md", &text);
        let err = Catalogue::load(dir.path()).unwrap_err();
        assert!(
            err[0]
                .to_string()
                .ends_with("x.md:5: topic \"diet\" is not in topics.yaml"),
            "{}",
            err[0]
        );
    }

    #[test]
    fn a_yaml_error_names_the_line_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "topics.yaml", TOPICS);
        let text = article("x", "").replace("reading_minutes: 3", "reading_minutes: three");
        write(dir.path(), "articles/x.md", &text);
        let err = Catalogue::load(dir.path()).unwrap_err();
        assert!(err[0].to_string().contains("x.md:7:"), "{}", err[0]);
    }

    #[test]
    fn a_translation_must_point_to_the_other_language() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "topics.yaml", TOPICS);
        write(dir.path(), "articles/a.md", &article("a", ""));
        write(
            dir.path(),
            "articles/b.md",
            &article("b", "translation_of: a\n"),
        );
        let err = Catalogue::load(dir.path()).unwrap_err();
        assert!(
            err[0]
                .to_string()
                .contains("b.md:0: translation_of \"a\" is in the same language"),
            "{}",
            err[0]
        );
    }

    #[test]
    fn a_missing_content_folder_is_an_empty_catalogue() {
        assert!(
            Catalogue::load(Path::new("/nonexistent/content"))
                .unwrap()
                .is_empty()
        );
    }
}
