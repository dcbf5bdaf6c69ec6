//! The fixed safe texts (urgent-care notice, crisis notice, dosing reply, the replies when external
//! moderation flags a message or cannot be reached, the text after an urgent notice when no
//! answer can be produced) and the PII
//! placeholders, per language, loaded from `guard/notices.toml` so that clinicians word them and
//! review them in a pull request. Every kind must exist in every language, or loading fails.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::lexicon::read_toml;
use super::pii::PiiKind;
use super::{GuardLoadError, Lang, NoticeKind};

/// The loaded texts.
#[derive(Debug, Clone)]
pub struct Notices {
    /// `[kind][lang]`
    texts: [[String; 2]; NoticeKind::COUNT],
    /// `[lang][pii kind]`
    placeholders: [[String; 5]; 2],
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotices {
    urgent: BTreeMap<String, String>,
    crisis: BTreeMap<String, String>,
    dosing: BTreeMap<String, String>,
    moderated: BTreeMap<String, String>,
    unavailable: BTreeMap<String, String>,
    degraded: BTreeMap<String, String>,
    placeholders: BTreeMap<String, RawPlaceholders>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaceholders {
    cpf: String,
    cns: String,
    phone: String,
    email: String,
    address: String,
}

impl Notices {
    /// Reads `path` (normally `guard/notices.toml`).
    pub fn load(path: &Path) -> Result<Notices, GuardLoadError> {
        let (raw, _): (RawNotices, String) = read_toml(path)?;
        let err = |m: String| GuardLoadError::new(path, None, m);
        let mut texts: [[String; 2]; NoticeKind::COUNT] = Default::default();
        for (kind, table) in [
            (NoticeKind::Urgent, &raw.urgent),
            (NoticeKind::Crisis, &raw.crisis),
            (NoticeKind::Dosing, &raw.dosing),
            (NoticeKind::Moderated, &raw.moderated),
            (NoticeKind::Unavailable, &raw.unavailable),
            (NoticeKind::Degraded, &raw.degraded),
        ] {
            check_langs(table.keys(), kind.as_str()).map_err(err)?;
            for lang in Lang::ALL {
                let text = table.get(lang.as_str()).map(|t| t.trim()).unwrap_or("");
                if text.is_empty() {
                    return Err(err(format!(
                        "[{}] needs a non-empty \"{}\" text",
                        kind.as_str(),
                        lang.as_str()
                    )));
                }
                texts[kind as usize][lang as usize] = text.to_string();
            }
        }
        check_langs(raw.placeholders.keys(), "placeholders").map_err(err)?;
        let mut placeholders: [[String; 5]; 2] = Default::default();
        for lang in Lang::ALL {
            let p = raw
                .placeholders
                .get(lang.as_str())
                .ok_or_else(|| err(format!("[placeholders.\"{}\"] is missing", lang.as_str())))?;
            for (kind, text) in [
                (PiiKind::Cpf, &p.cpf),
                (PiiKind::Cns, &p.cns),
                (PiiKind::Phone, &p.phone),
                (PiiKind::Email, &p.email),
                (PiiKind::Address, &p.address),
            ] {
                if text.trim().is_empty() || text.chars().any(|c| c.is_ascii_digit() || c == '@') {
                    return Err(err(format!(
                        "[placeholders.\"{}\"] {} must be non-empty, without digits or '@' (it would be redacted again)",
                        lang.as_str(),
                        kind.as_str()
                    )));
                }
                placeholders[lang as usize][kind as usize] = text.trim().to_string();
            }
        }
        Ok(Notices {
            texts,
            placeholders,
        })
    }

    pub fn text(&self, kind: NoticeKind, lang: Lang) -> &str {
        &self.texts[kind as usize][lang as usize]
    }

    pub fn placeholder(&self, kind: PiiKind, lang: Lang) -> &str {
        &self.placeholders[lang as usize][kind as usize]
    }
}

fn check_langs<'a>(keys: impl Iterator<Item = &'a String>, table: &str) -> Result<(), String> {
    for k in keys {
        if Lang::ALL.iter().all(|l| l.as_str() != k) {
            return Err(format!(
                "[{table}] has language \"{k}\"; the guard knows \"pt-BR\" and \"en\""
            ));
        }
    }
    Ok(())
}
