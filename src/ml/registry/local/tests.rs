use super::*;
use crate::ml::registry::version_dir::fixture::version_dir;
use crate::ml::registry::{Approver, Refusal};

fn registered(reg: &LocalRegistry, root: &Path, version: &str, auc: f64) -> ModelVersion {
    let dir = version_dir(root, "risk", version, auc);
    reg.register("risk", &VersionDir::read(&dir).unwrap())
        .unwrap()
}

fn request(version: &str, who: &str, reason: Option<&str>) -> PromotionRequest {
    PromotionRequest {
        version: version.into(),
        approver: Approver::parse(who).unwrap(),
        reason: reason.map(Into::into),
    }
}

#[test]
fn a_registered_version_keeps_its_mean_metrics_and_provenance_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::new(tmp.path());
    let v = registered(&reg, tmp.path(), "v1", 0.87);
    assert_eq!(v.gate_metric(), Some(0.87));
    assert_eq!(v.tags["git_sha"], "abc123");
    assert_eq!(v.tags["data_sha256"], "d4t4");
    assert_eq!(reg.versions("risk").unwrap(), vec![v]);
    let again = VersionDir::read(&tmp.path().join("risk/v1")).unwrap();
    assert!(matches!(
        reg.register("risk", &again),
        Err(RegistryError::AlreadyRegistered { .. })
    ));
}

#[test]
fn promotion_records_the_approval_as_a_tag_moves_the_alias_and_appends_history() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::new(tmp.path());
    registered(&reg, tmp.path(), "v1", 0.85);
    registered(&reg, tmp.path(), "v2", 0.88);
    reg.promote("risk", &request("v1", "ana@example.org", Some("first")))
        .unwrap();
    let p = reg
        .promote("risk", &request("v2", "bia@example.org", None))
        .unwrap();
    assert_eq!(p.previous.as_deref(), Some("v1"));

    let versions = reg.versions("risk").unwrap();
    assert_eq!(versions[0].aliases, Vec::<String>::new());
    assert_eq!(versions[1].aliases, ["production"]);
    assert_eq!(versions[0].approved_by(), Some("ana@example.org"));
    assert_eq!(versions[0].tags[TAG_APPROVAL_REASON], "first");
    assert_eq!(versions[1].approved_by(), Some("bia@example.org"));

    let history = reg.history("risk").unwrap();
    let moves: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h.previous.as_deref(),
                h.version.as_str(),
                h.approved_by.as_str(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (None, "v1", "ana@example.org"),
            (Some("v1"), "v2", "bia@example.org")
        ]
    );
    assert!(history.iter().all(|h| h.at.ends_with('Z')));
}

#[test]
fn a_worse_version_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::new(tmp.path());
    registered(&reg, tmp.path(), "good", 0.88);
    registered(&reg, tmp.path(), "worse", 0.84);
    reg.promote("risk", &request("good", "ana@example.org", None))
        .unwrap();
    let before = std::fs::read(reg.path()).unwrap();
    let err = reg
        .promote("risk", &request("worse", "ana@example.org", None))
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Refused(Refusal::Worse { .. })),
        "{err}"
    );
    assert_eq!(
        std::fs::read(reg.path()).unwrap(),
        before,
        "nothing written"
    );
    assert!(matches!(
        reg.promote("risk", &request("nope", "ana@example.org", None)),
        Err(RegistryError::UnknownVersion { .. })
    ));
}

#[test]
fn concurrent_registrations_under_the_lock_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..8)
        .map(|i| version_dir(tmp.path(), "risk", &format!("v{i}"), 0.8))
        .collect();
    std::thread::scope(|s| {
        for dir in &dirs {
            let root = tmp.path();
            s.spawn(move || {
                let reg = LocalRegistry::new(root);
                reg.register("risk", &VersionDir::read(dir).unwrap())
                    .unwrap();
            });
        }
    });
    let reg = LocalRegistry::new(tmp.path());
    assert_eq!(reg.versions("risk").unwrap().len(), 8);
}

#[test]
fn a_registry_file_from_a_newer_format_is_refused_not_misread() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::new(tmp.path());
    std::fs::write(reg.path(), r#"{"format": 2, "models": {}}"#).unwrap();
    let err = reg.versions("risk").unwrap_err().to_string();
    assert!(
        err.contains("registry.json") && err.contains("format 2"),
        "{err}"
    );
}
