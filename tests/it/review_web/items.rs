//! Taking items: urgent first, locks (never one item to two nurses, also under concurrency on
//! both backends), the review form and its validation, overlap items for a second nurse.

use super::*;
use crate::common::on_both_backends;

async fn next_takes_urgent_items_first_and_opens_the_conversation() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let (batch, items) = seed_batch(
        &app.store,
        &[
            Seed::default(),
            Seed {
                urgent: true,
                ..Seed::default()
            },
        ],
    )
    .await;
    let ana = logged_in(&app, "ana@x.org").await;
    let batches = ana
        .get(app.url("/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(batches.contains(&format!("/review/next?batch={batch}")));
    assert!(batches.contains("Urgentes: 1"));
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[1].as_str())
    );
    let page = ana
        .get(app.url(&format!("/review/items/{}", items[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    for shown in [
        "Pergunta 1: estou com dor de cabeça forte e vendo pontinhos [NOME]",
        "Resposta 1: vá hoje à maternidade.",
        "assistant-general@1;lang=pt-BR;persona=doula",
        "gpt-echo",
        "red_flag, escalate",
        "US$ 0.000123",
        "URGENTE",
        "name=\"clinical_accuracy\"",
        "name=\"corrected_answer\"",
    ] {
        assert!(html.contains(shown), "{shown:?} missing from the item page");
    }
    assert!(!html.contains("/promote"), "nurses get no promote button");
    let unknown = ana.get(app.url("/review/items/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
on_both_backends!(next_takes_urgent_items_first_and_opens_the_conversation);

async fn two_nurses_never_get_the_same_item_and_a_locked_item_is_409() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    account(&app.store, "bia@x.org", ReviewerRole::Nurse).await;
    let (batch, items) = seed_batch(&app.store, &[Seed::default(), Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let bia = logged_in(&app, "bia@x.org").await;
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    assert_eq!(
        next(&app, &bia, &batch).await.as_deref(),
        Some(items[1].as_str())
    );
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[0].as_str()),
        "a nurse keeps the item she holds"
    );
    let locked = bia
        .get(app.url(&format!("/review/items/{}", items[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), StatusCode::CONFLICT);
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Outra enfermeira está revisando")
    );
    let csrf = session_csrf(&app, &bia).await;
    let refused = submit(&app, &bia, &items[0], &good_review(&csrf)).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(reviews_of(&app.store, &items[0]).await.is_empty());
}
on_both_backends!(two_nurses_never_get_the_same_item_and_a_locked_item_is_409);

async fn an_expired_lock_can_be_taken_by_another_nurse() {
    let app = review_app("lock_minutes = 1").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    account(&app.store, "bia@x.org", ReviewerRole::Nurse).await;
    let (batch, items) = seed_batch(&app.store, &[Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let bia = logged_in(&app, "bia@x.org").await;
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    let until: i64 = sqlx::query_scalar("SELECT locked_until FROM review_items WHERE id = $1")
        .bind(&items[0])
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    let held = until - now_ms();
    assert!(
        (50_000..=60_000).contains(&held),
        "lock_minutes = 1 holds it a minute: {held}"
    );
    assert_eq!(next(&app, &bia, &batch).await, None, "held by Ana");
    // Ana walks away; her minute passes.
    sqlx::query("UPDATE review_items SET locked_until = $1 WHERE id = $2")
        .bind(now_ms() - 1)
        .bind(&items[0])
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_eq!(
        next(&app, &bia, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    let ana_csrf = session_csrf(&app, &ana).await;
    let late = submit(&app, &ana, &items[0], &good_review(&ana_csrf)).await;
    assert_eq!(late.status(), StatusCode::CONFLICT, "the lock is Bia's now");
}
on_both_backends!(an_expired_lock_can_be_taken_by_another_nurse);

async fn a_review_is_stored_the_lock_released_and_next_offered() {
    let app = review_app("").await;
    let ana_id = account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let (batch, items) = seed_batch(&app.store, &[Seed::default(), Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let item = next(&app, &ana, &batch).await.unwrap();
    let csrf = session_csrf(&app, &ana).await;
    let res = submit(&app, &ana, &item, &good_review(&csrf)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/review/items/{item}?saved=1"));
    assert_eq!(
        reviews_of(&app.store, &item).await,
        [(ana_id, 4, 5, "none".to_string(), 1)]
    );
    let row = sqlx::query("SELECT locked_by, locked_until FROM review_items WHERE id = $1")
        .bind(&item)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<Option<String>, _>("locked_by"), None);
    assert_eq!(row.get::<Option<i64>, _>("locked_until"), None);
    let saved = ana
        .get(app.url(&location(&res)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(saved.contains("Avaliação salva"));
    assert!(saved.contains(&format!("/review/next?batch={batch}")));
    assert!(
        !saved.contains("name=\"clinical_accuracy\""),
        "no second form"
    );
    let batches = ana
        .get(app.url("/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        batches.contains("<td>ana@x.org</td><td>1</td>"),
        "each nurse's progress: {batches}"
    );
    assert!(batches.contains("1 / 2"), "done items of the batch");
    // Posting again is refused: one review per nurse and item.
    let again = submit(&app, &ana, &item, &good_review(&csrf)).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[1].as_str())
    );
}
on_both_backends!(a_review_is_stored_the_lock_released_and_next_offered);

async fn bad_form_values_get_400_with_each_problem_and_the_values_kept() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let (batch, _) = seed_batch(&app.store, &[Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let item = next(&app, &ana, &batch).await.unwrap();
    let csrf = session_csrf(&app, &ana).await;
    let res = submit(
        &app,
        &ana,
        &item,
        &[
            ("csrf", &csrf),
            ("clinical_accuracy", "9"),
            ("safety_problem", "rudeness"),
            ("should_escalate", "no"),
            ("comment", "Faltou empatia <b>aqui</b>"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(html.contains("Corrija os campos marcados."));
    assert_eq!(
        html.matches("Escolha um valor de 1 a 5.").count(),
        2,
        "accuracy and tone"
    );
    assert!(html.contains("Escolha uma opção da lista."));
    assert!(
        html.contains("Faltou empatia &lt;b&gt;aqui&lt;&#x2F;b&gt;"),
        "kept, escaped"
    );
    assert!(
        html.contains("value=\"no\" checked"),
        "the answer given is kept"
    );
    assert!(reviews_of(&app.store, &item).await.is_empty());
}
on_both_backends!(bad_form_values_get_400_with_each_problem_and_the_values_kept);

async fn a_missing_or_stale_csrf_token_is_refused() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let (batch, _) = seed_batch(&app.store, &[Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let item = next(&app, &ana, &batch).await.unwrap();
    let stale = session_csrf(&app, &ana).await;
    let mut fields = good_review("");
    fields.retain(|(k, _)| *k != "csrf");
    let missing = submit(&app, &ana, &item, &fields).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    // Log out and in again: the old session's token is stale.
    post_form(&ana, &app.url("/review/logout"), &[("csrf", &stale)]).await;
    let res = try_login(&app, &ana, "ana@x.org", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let refused = submit(&app, &ana, &item, &good_review(&stale)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("O formulário expirou")
    );
    assert!(reviews_of(&app.store, &item).await.is_empty());
    let fresh = session_csrf(&app, &ana).await;
    assert_ne!(fresh, stale);
    let ok = submit(&app, &ana, &item, &good_review(&fresh)).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
}
on_both_backends!(a_missing_or_stale_csrf_token_is_refused);

async fn an_overlap_item_goes_to_one_second_nurse_after_the_first_review() {
    let app = review_app("").await;
    for email in ["ana@x.org", "bia@x.org", "cris@x.org"] {
        account(&app.store, email, ReviewerRole::Nurse).await;
    }
    let (batch, items) = seed_batch(
        &app.store,
        &[Seed {
            overlap: true,
            ..Seed::default()
        }],
    )
    .await;
    let ana = logged_in(&app, "ana@x.org").await;
    let bia = logged_in(&app, "bia@x.org").await;
    let cris = logged_in(&app, "cris@x.org").await;
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    assert_eq!(
        next(&app, &bia, &batch).await,
        None,
        "locked while Ana reviews"
    );
    let csrf = session_csrf(&app, &ana).await;
    submit(&app, &ana, &items[0], &good_review(&csrf)).await;
    assert_eq!(
        next(&app, &ana, &batch).await,
        None,
        "Ana has done her part"
    );
    assert_eq!(
        next(&app, &bia, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    let csrf = session_csrf(&app, &bia).await;
    submit(&app, &bia, &items[0], &good_review(&csrf)).await;
    assert_eq!(
        next(&app, &cris, &batch).await,
        None,
        "two reviews are enough"
    );
    assert_eq!(reviews_of(&app.store, &items[0]).await.len(), 2);
    // A finished batch leaves the list of open batches.
    let html = cris
        .get(app.url("/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&batch));
    assert!(html.contains("Nenhum lote aberto"));
}
on_both_backends!(an_overlap_item_goes_to_one_second_nurse_after_the_first_review);

/// Many nurses asking for the next item at the same moment each get a different one, and the
/// ones left over get none.
async fn concurrent_next_never_hands_out_an_item_twice(app: &TestApp) {
    let nurses = 8;
    for i in 0..nurses {
        account(&app.store, &format!("n{i}@x.org"), ReviewerRole::Nurse).await;
    }
    let (batch, items) = seed_batch(&app.store, &[Seed::default(); 5]).await;
    let mut clients = Vec::new();
    for i in 0..nurses {
        clients.push(logged_in(app, &format!("n{i}@x.org")).await);
    }
    let taken = futures_util::future::join_all(clients.iter().map(|c| next(app, c, &batch))).await;
    let mut got: Vec<String> = taken.into_iter().flatten().collect();
    assert_eq!(
        got.len(),
        items.len(),
        "every item handed out, the rest told none is left"
    );
    got.sort();
    got.dedup();
    assert_eq!(got.len(), items.len(), "no item handed out twice");
}

#[tokio::test]
async fn concurrent_next_calls_never_return_the_same_item_on_sqlite() {
    let app = review_app("").await;
    concurrent_next_never_hands_out_an_item_twice(&app).await;
}

#[tokio::test]
async fn concurrent_next_calls_never_return_the_same_item_on_postgres() {
    let Some(base) = common::pg_url() else { return };
    let db = common::fresh_pg_database(&base).await;
    let app = spawn_app_with(Spawn {
        extra_toml: "[review]\nschedule = \"off\"\n".into(),
        db_url: Some(db.url.clone()),
        ..Spawn::default()
    })
    .await;
    concurrent_next_never_hands_out_an_item_twice(&app).await;
}
