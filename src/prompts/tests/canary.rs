//! The `canary` label written as a table: loading, lint, and routing a prompt's default traffic
//! by conversation, with the gate's overrides.

use std::collections::HashMap;

use serde_json::json;

use super::{GREET_PROMPT, Tree};
use crate::prompts::canary::{CanaryOverrides, LabelOverride, OnSuccess, OverrideOutcome};
use crate::prompts::lint;
use crate::wire::PromptSelector;

const CANARY: &str =
    "canary = { version = 2, traffic_percent = 20, on_success = \"promote\", min_samples = 50 }\n";

fn tree_with(labels: &str) -> Tree {
    let tree = Tree::with_greet();
    tree.write(
        "greet/prompt.toml",
        &GREET_PROMPT.replace("staging = 2\n", labels),
    );
    tree
}

fn greet() -> PromptSelector {
    let mut sel = PromptSelector::new("greet");
    sel.variables.insert("channel".into(), json!("app"));
    sel
}

fn overrides(outcome: OverrideOutcome) -> CanaryOverrides {
    CanaryOverrides::new(HashMap::from([(
        "greet".to_owned(),
        LabelOverride {
            candidate: 2,
            baseline: 1,
            outcome,
            decided_at: 1,
        },
    )]))
}

#[test]
fn a_canary_table_is_a_label_with_a_traffic_share_and_a_policy() {
    let registry = tree_with(CANARY).load().unwrap();
    let prompt = registry.get("greet").unwrap();
    let canary = prompt.canary().unwrap();
    assert_eq!(canary.version, 2);
    assert_eq!(canary.traffic_percent, 20.0);
    assert_eq!(canary.on_success, OnSuccess::Promote);
    assert_eq!(canary.min_samples, 50);
    assert_eq!(prompt.labels().get("canary"), Some(&2));
    // A plain `canary = 2` is still an ordinary label, with no traffic of its own.
    let plain = tree_with("canary = 2\n").load().unwrap();
    assert!(plain.get("greet").unwrap().canary().is_none());
}

#[test]
fn a_bad_canary_table_is_refused_at_its_line() {
    let problems = tree_with("canary = { version = 2, traffic_percent = 120 }\n").problems();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("greet/prompt.toml:8: label `canary`: `traffic_percent` must be above 0"),
        "{problems:#?}"
    );
    let problems =
        tree_with("canary = { version = 2, traffic_percent = 5, share = 1 }\n").problems();
    assert!(
        problems[0].contains("unknown field `share`"),
        "{problems:#?}"
    );
    let problems = tree_with("staging = { version = 2 }\n").problems();
    assert!(
        problems[0].contains("only `canary` may be a table"),
        "{problems:#?}"
    );
    let problems = tree_with("canary = { version = 9, traffic_percent = 5 }\n").problems();
    assert!(
        problems[0].contains("version 9, which does not exist"),
        "{problems:#?}"
    );
}

#[test]
fn lint_refuses_a_canary_that_serves_the_production_version() {
    let tree = tree_with("canary = { version = 1, traffic_percent = 5 }\n");
    let problems = tree.strip(&lint(tree.dir(), None));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("greet/prompt.toml:8: label `canary` serves 5% of the traffic from v1"),
        "{problems:#?}"
    );
}

#[test]
fn default_traffic_is_split_by_conversation_and_sticks() {
    let registry = tree_with(CANARY).load().unwrap();
    let none = CanaryOverrides::default();
    let mut served = [0usize; 3];
    for i in 0..1000 {
        let key = format!("key:c-{i}");
        let r = registry
            .render_routed(&greet(), None, Some((&none, &key)))
            .unwrap();
        served[r.prompt_ref.version as usize] += 1;
        let again = registry
            .render_routed(&greet(), None, Some((&none, &key)))
            .unwrap();
        assert_eq!(again.prompt_ref, r.prompt_ref, "{key} moved");
    }
    assert!((150..=250).contains(&served[2]), "{served:?}");
    // An explicit version or another label is never rerouted.
    let v1 = PromptSelector {
        version: Some(1),
        ..greet()
    };
    for i in 0..100 {
        let key = format!("key:c-{i}");
        let r = registry
            .render_routed(&v1, None, Some((&none, &key)))
            .unwrap();
        assert_eq!(r.prompt_ref.version, 1);
    }
}

#[test]
fn a_rollback_stops_the_share_and_a_promotion_serves_the_candidate_to_everyone() {
    let registry = tree_with(CANARY).load().unwrap();
    for (outcome, expected) in [
        (OverrideOutcome::RolledBack, 1),
        (OverrideOutcome::Promoted, 2),
    ] {
        let o = overrides(outcome);
        for i in 0..300 {
            let key = format!("key:c-{i}");
            let r = registry
                .render_routed(&greet(), None, Some((&o, &key)))
                .unwrap();
            assert_eq!(r.prompt_ref.version, expected, "{outcome:?}");
        }
        let prompt = registry.get("greet").unwrap();
        assert!(prompt.running_canary(&o).is_none());
    }
}
