//! The promotion gate: a version becomes `production` only when its mean cross-validated ROC AUC
//! (high risk against the rest) is at least production's — or there is no production — and a
//! person approved it. Both backends call [`check`] before they move the alias.

use super::{GATE_METRIC, ModelVersion};

/// Who approved a promotion: an email address, or `bootstrap` for the model trained at start-up
/// on a machine with none (only the library can make that one; the command line takes emails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver(String);

impl Approver {
    /// The approver recorded for the start-up model.
    pub const BOOTSTRAP: &'static str = "bootstrap";

    /// An email address: one `@`, a local part, and a domain with a dot.
    pub fn parse(email: &str) -> Result<Self, String> {
        let e = email.trim();
        let valid = e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(char::is_whitespace)
        });
        if valid {
            Ok(Self(e.to_string()))
        } else {
            Err(format!(
                "{email:?} is not an email address: approvals name the person who approved"
            ))
        }
    }

    /// The start-up approver (`bootstrap`).
    pub fn bootstrap() -> Self {
        Self(Self::BOOTSTRAP.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a promotion was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "version {candidate} has CV {GATE_METRIC} {candidate_auc:.4}, below production \
         (version {production}: {production_auc:.4}); production is unchanged"
    )]
    Worse {
        candidate: String,
        candidate_auc: f64,
        production: String,
        production_auc: f64,
    },
    #[error("version {0} is already production")]
    AlreadyProduction(String),
    #[error("version {0} has no CV {GATE_METRIC} to compare; production is unchanged")]
    NoMetric(String),
}

/// Whether `candidate` may replace `production` (or become the first production).
pub fn check(candidate: &ModelVersion, production: Option<&ModelVersion>) -> Result<(), Refusal> {
    let Some(candidate_auc) = candidate.gate_metric().filter(|a| a.is_finite()) else {
        return Err(Refusal::NoMetric(candidate.version.clone()));
    };
    let Some(production) = production else {
        return Ok(());
    };
    if production.registry_version == candidate.registry_version {
        return Err(Refusal::AlreadyProduction(candidate.version.clone()));
    }
    // A production version without the metric (registered by hand) cannot block a measured one.
    match production.gate_metric() {
        Some(production_auc) if candidate_auc < production_auc => Err(Refusal::Worse {
            candidate: candidate.version.clone(),
            candidate_auc,
            production: production.version.clone(),
            production_auc,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str, auc: Option<f64>) -> ModelVersion {
        ModelVersion {
            version: v.into(),
            registry_version: v.into(),
            source: String::new(),
            run_id: None,
            metrics: auc
                .map(|a| (GATE_METRIC.to_string(), a))
                .into_iter()
                .collect(),
            tags: Default::default(),
            aliases: vec![],
        }
    }

    #[test]
    fn the_first_version_with_a_metric_may_become_production() {
        assert_eq!(check(&version("a", Some(0.8)), None), Ok(()));
    }

    #[test]
    fn an_equal_auc_passes_and_a_lower_one_is_refused_with_both_numbers() {
        let prod = version("a", Some(0.86));
        assert_eq!(check(&version("b", Some(0.86)), Some(&prod)), Ok(()));
        let refusal = check(&version("c", Some(0.85)), Some(&prod)).unwrap_err();
        let text = refusal.to_string();
        assert!(
            text.contains("0.8500") && text.contains("0.8600") && text.contains("version a"),
            "{text}"
        );
    }

    #[test]
    fn promoting_production_again_or_an_unmeasured_version_is_refused() {
        let prod = version("a", Some(0.86));
        assert_eq!(
            check(&prod, Some(&prod)),
            Err(Refusal::AlreadyProduction("a".into()))
        );
        assert_eq!(
            check(&version("n", Some(f64::NAN)), None),
            Err(Refusal::NoMetric("n".into()))
        );
    }

    #[test]
    fn an_approver_is_an_email_address() {
        assert_eq!(
            Approver::parse(" ana@example.org ").unwrap().as_str(),
            "ana@example.org"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.org",
            "ana@localhost",
            "a b@x.org",
            "bootstrap",
        ] {
            assert!(Approver::parse(bad).is_err(), "{bad}");
        }
    }
}
