//! The admin and shared pages: promotion into the eval set, statistics with kappa, the language
//! switch.

use super::*;
use crate::common::on_both_backends;

async fn only_admins_promote_a_reviewed_conversation_into_the_eval_set() {
    let dir = tempfile::tempdir().unwrap();
    let evalset = dir.path().join("reviewed.toml");
    let app = review_app(&format!("evalset = {:?}", evalset.display().to_string())).await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    account(&app.store, "chefe@x.org", ReviewerRole::Admin).await;
    let (batch, items) = seed_batch(&app.store, &[Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    next(&app, &ana, &batch).await.unwrap();
    let csrf = session_csrf(&app, &ana).await;
    submit(&app, &ana, &items[0], &good_review(&csrf)).await;
    let promote = app.url(&format!("/review/items/{}/promote", items[0]));
    let forbidden = post_form(&ana, &promote, &[("csrf", &csrf)]).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(
        forbidden
            .text()
            .await
            .unwrap()
            .contains("Só administradores")
    );
    assert!(!evalset.exists());
    let admin = logged_in(&app, "chefe@x.org").await;
    let page = admin
        .get(app.url(&format!("/review/items/{}", items[0])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Promover para o conjunto de avaliação"));
    assert!(page.contains("ana@x.org"), "admins see every review");
    let admin_csrf = session_csrf(&app, &admin).await;
    let no_token = post_form(&admin, &promote, &[]).await;
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let done = post_form(&admin, &promote, &[("csrf", &admin_csrf)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    let html = done.text().await.unwrap();
    assert!(html.contains(&format!("review-{}", items[0])), "{html}");
    let text = std::fs::read_to_string(&evalset).unwrap();
    assert!(
        text.contains(&format!("id = \"review-{}\"", items[0])),
        "{text}"
    );
    assert!(
        text.contains("Vá agora à maternidade"),
        "the corrected answer is the reference"
    );
    let again = post_form(&admin, &promote, &[("csrf", &admin_csrf)]).await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "an item is promoted once"
    );
}
on_both_backends!(only_admins_promote_a_reviewed_conversation_into_the_eval_set);

async fn stats_show_weeks_distributions_and_kappa_once_there_is_overlap() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    account(&app.store, "bia@x.org", ReviewerRole::Nurse).await;
    let overlap = Seed {
        overlap: true,
        ..Seed::default()
    };
    let (batch, items) = seed_batch(&app.store, &[overlap, overlap, overlap]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let bia = logged_in(&app, "bia@x.org").await;
    let empty = ana
        .get(app.url("/review/stats"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(empty.contains("Ainda não há revisões."));
    assert!(empty.contains("Sobreposição insuficiente"));
    // (Ana, Bia) clinical accuracy: (5,5) (3,4) (4,4) → κ = 0.50; escalation agrees → κ = 1.00.
    let ratings = [
        (("5", "yes"), ("5", "yes")),
        (("3", "no"), ("4", "no")),
        (("4", "no"), ("4", "no")),
    ];
    for (item, (a, b)) in items.iter().zip(ratings) {
        for (client, (score, escalate)) in [(&ana, a), (&bia, b)] {
            assert_eq!(
                next(&app, client, &batch).await.as_deref(),
                Some(item.as_str())
            );
            let csrf = session_csrf(&app, client).await;
            let res = submit(
                &app,
                client,
                item,
                &[
                    ("csrf", &csrf),
                    ("clinical_accuracy", score),
                    ("tone", "4"),
                    ("safety_problem", "none"),
                    ("should_escalate", escalate),
                ],
            )
            .await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
        }
    }
    let html = ana
        .get(app.url("/review/stats?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let week = powerbirth::core::calendar::iso_week(now_ms());
    assert!(
        html.contains(&format!("<td>{week}</td><td>6</td>")),
        "{html}"
    );
    assert!(html.contains("Conversations reviewed by two nurses: 3"));
    assert!(
        html.contains("<dt>Clinical accuracy</dt><dd>0.50</dd>"),
        "{html}"
    );
    assert!(html.contains("<dt>Escalation</dt><dd>1.00</dd>"), "{html}");
    assert!(!html.contains("Not enough overlap"));
}
on_both_backends!(stats_show_weeks_distributions_and_kappa_once_there_is_overlap);

async fn the_pages_switch_to_english_and_remember_it() {
    let app = review_app("").await;
    let client = browser();
    let pt = client.get(app.url("/review/login")).send().await.unwrap();
    let html = pt.text().await.unwrap();
    assert!(html.contains("<html lang=\"pt-BR\">") && html.contains("Senha"));
    let en = client
        .get(app.url("/review/login?lang=en"))
        .send()
        .await
        .unwrap();
    assert!(
        set_cookies(&en)
            .iter()
            .any(|c| c.starts_with("pb_review_lang=en"))
    );
    assert!(en.text().await.unwrap().contains("Password"));
    let later = client.get(app.url("/review/login")).send().await.unwrap();
    let html = later.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Password"));
}
on_both_backends!(the_pages_switch_to_english_and_remember_it);
