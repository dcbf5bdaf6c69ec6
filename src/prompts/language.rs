//! Languages: the `Language` tag type (BCP 47, canonical casing) and choosing a variant's
//! language from a requested tag or an `Accept-Language` header.
//!
//! Matching is RFC 4647 "lookup" (strip subtags from the end: `en-US` → `en`) followed by one
//! product rule: a bare or other-region language matches any variant of the same primary
//! language (`pt`, `pt-PT` → `pt-BR`), preferring the prompt's default language. A Brazilian
//! user whose phone says `pt` must get Portuguese, not the English fallback.
//! Header syntax: RFC 9110 §12.5.4 (`tag;q=0.8`, `*`, `q=0` means "not acceptable").

use std::fmt;
use std::str::FromStr;

/// A language tag such as `pt-BR` or `en`, in canonical casing (language lowercase, script
/// titlecase, region uppercase). Parsed once at load; compared exactly afterwards.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Language(String);

impl Language {
    /// Parses a BCP 47 tag of the common shape `language[-Script][-REGION][-variant…]` and
    /// returns it in canonical casing. `_` is accepted as a separator (`pt_BR`).
    pub fn parse(tag: &str) -> Result<Language, String> {
        let bad = || format!("`{tag}` is not a language tag (BCP 47, like `pt-BR` or `en`)");
        if tag.is_empty() || tag.len() > 35 {
            return Err(bad());
        }
        let mut out = String::with_capacity(tag.len());
        for (i, sub) in tag.split(['-', '_']).enumerate() {
            let ok_chars = sub.bytes().all(|b| b.is_ascii_alphanumeric());
            if sub.is_empty() || sub.len() > 8 || !ok_chars {
                return Err(bad());
            }
            if i == 0 {
                if !(2..=3).contains(&sub.len()) || !sub.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(bad());
                }
                out.push_str(&sub.to_ascii_lowercase());
                continue;
            }
            out.push('-');
            let alpha = sub.bytes().all(|b| b.is_ascii_alphabetic());
            let digits = sub.bytes().all(|b| b.is_ascii_digit());
            if sub.len() == 4 && alpha {
                out.push_str(&sub[..1].to_ascii_uppercase());
                out.push_str(&sub[1..].to_ascii_lowercase());
            } else if (sub.len() == 2 && alpha) || (sub.len() == 3 && digits) {
                out.push_str(&sub.to_ascii_uppercase());
            } else {
                out.push_str(&sub.to_ascii_lowercase());
            }
        }
        Ok(Language(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag (`pt` of `pt-BR`).
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Language::parse(s)
    }
}

/// Case-insensitive tag equality that treats `_` as `-`, without allocating.
fn tag_eq(a: &str, b: &str) -> bool {
    let norm = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

/// The available language that best serves `requested`, if any (see the module docs).
/// `default` must be one of `available` to be preferred among same-language variants.
pub(crate) fn best_match<'a>(
    requested: &str,
    available: &'a [Language],
    default: &Language,
) -> Option<&'a Language> {
    let mut tag = requested.trim();
    if tag.is_empty() {
        return None;
    }
    loop {
        if let Some(found) = available.iter().find(|l| tag_eq(l.as_str(), tag)) {
            return Some(found);
        }
        match tag.rfind(['-', '_']) {
            Some(i) => tag = &tag[..i],
            None => break,
        }
    }
    // `tag` is now the primary subtag: any variant of that language will do, the default first.
    available
        .iter()
        .find(|l| *l == default && tag_eq(l.primary(), tag))
        .or_else(|| available.iter().find(|l| tag_eq(l.primary(), tag)))
}

/// The most preferred available language in an `Accept-Language` value, or `None` when the
/// header names nothing available (the caller then uses the prompt's default). `*` picks
/// `default`. Malformed entries are skipped, never an error: the header is a hint.
pub(crate) fn negotiate<'a>(
    accept_language: &str,
    available: &'a [Language],
    default: &'a Language,
) -> Option<&'a Language> {
    // Headers are short; bounding the entries keeps a hostile one cheap.
    const MAX_ENTRIES: usize = 16;
    let mut prefs: Vec<(f32, &str)> = Vec::with_capacity(4);
    for entry in accept_language.split(',').take(MAX_ENTRIES) {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or("").trim();
        if tag.is_empty() {
            continue;
        }
        let mut q = 1.0f32;
        for param in parts {
            let param = param.trim();
            if let Some(v) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                q = v.trim().parse().unwrap_or(-1.0);
            }
        }
        if q > 0.0 && q <= 1.0 {
            prefs.push((q, tag));
        }
    }
    // Stable: equal weights keep the header's order.
    prefs.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, tag) in prefs {
        if tag == "*" {
            return Some(default);
        }
        if let Some(found) = best_match(tag, available, default) {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs(tags: &[&str]) -> Vec<Language> {
        tags.iter().map(|t| Language::parse(t).unwrap()).collect()
    }

    #[test]
    fn tags_are_stored_in_canonical_casing() {
        assert_eq!(Language::parse("PT-br").unwrap().as_str(), "pt-BR");
        assert_eq!(Language::parse("pt_BR").unwrap().as_str(), "pt-BR");
        assert_eq!(
            Language::parse("zh-hant-tw").unwrap().as_str(),
            "zh-Hant-TW"
        );
        assert_eq!(Language::parse("es-419").unwrap().as_str(), "es-419");
        assert_eq!(Language::parse("en").unwrap().primary(), "en");
    }

    #[test]
    fn malformed_tags_are_refused() {
        for bad in [
            "",
            "p",
            "portuguese",
            "pt-",
            "pt--BR",
            "pt BR",
            "1a",
            "pt-toolongsubtag",
        ] {
            assert!(Language::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_bare_language_falls_back_to_a_regional_variant_and_a_region_to_the_bare_language() {
        let available = langs(&["en", "pt-BR"]);
        let default = &available[1];
        assert_eq!(
            best_match("pt", &available, default).unwrap().as_str(),
            "pt-BR"
        );
        assert_eq!(
            best_match("pt-PT", &available, default).unwrap().as_str(),
            "pt-BR"
        );
        assert_eq!(
            best_match("en-US", &available, default).unwrap().as_str(),
            "en"
        );
        assert_eq!(
            best_match("EN_gb", &available, default).unwrap().as_str(),
            "en"
        );
        assert!(best_match("fr-FR", &available, default).is_none());
    }

    #[test]
    fn accept_language_is_ordered_by_q_value_then_by_position() {
        let available = langs(&["en", "pt-BR"]);
        let default = &available[1];
        let pick = |h: &str| negotiate(h, &available, default).map(|l| l.as_str().to_owned());
        assert_eq!(pick("pt;q=0.9,en;q=0.8").as_deref(), Some("pt-BR"));
        assert_eq!(pick("en;q=0.5, pt-BR;q=0.9").as_deref(), Some("pt-BR"));
        assert_eq!(pick("fr-FR, en-US;q=0.7").as_deref(), Some("en"));
        assert_eq!(pick("en-US").as_deref(), Some("en"));
        assert_eq!(pick("de, *;q=0.1").as_deref(), Some("pt-BR"));
        assert_eq!(pick("en;q=0, fr").as_deref(), None);
        assert_eq!(pick("fr, de;q=garbage, ,;").as_deref(), None);
    }
}
