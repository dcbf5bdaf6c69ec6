//! The pages a logged-in nurse uses: the open batches, the next item, and an item with its
//! review form. Handlers parse, call `review::items` and `review::batches`, and render.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tera::Context;

use super::i18n::{Lang, tr};
use super::session::Viewer;
use super::{PageError, ReviewState, parse_form};
use crate::core::calendar::{date_of_day, day_of};
use crate::review::batches::{self, ItemDetail, Review};
use crate::review::items::{self, FieldError, RawReview, SAFETY_PROBLEMS, TakeError};

fn date(ms: i64) -> String {
    date_of_day(day_of(ms))
}

#[derive(Serialize)]
struct BatchView {
    id: String,
    period: Option<String>,
    created: String,
    window_start: String,
    window_end: String,
    items: i64,
    urgent_items: i64,
    done_items: i64,
    progress: Vec<(String, i64)>,
}

/// `GET /review`: the open batches, newest first, with each nurse's reviews in them.
pub async fn batches(
    State(state): State<ReviewState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let store = &state.store;
    let list = batches::list_batches(store)
        .await
        .map_err(PageError::internal)?;
    let progress = items::progress(store).await.map_err(PageError::internal)?;
    let views: Vec<BatchView> = list
        .into_iter()
        .filter(|b| b.is_open())
        .map(|b| BatchView {
            progress: progress.get(&b.id).cloned().unwrap_or_default(),
            created: date(b.created_at),
            window_start: date(b.window_start),
            window_end: date(b.window_end),
            id: b.id,
            period: b.period,
            items: b.items,
            urgent_items: b.urgent_items,
            done_items: b.done_items,
        })
        .collect();
    let mut ctx = state.pages.viewer_context(&viewer);
    ctx.insert("batches", &views);
    Ok(state
        .pages
        .render(viewer.visitor, StatusCode::OK, "batches.html", &ctx))
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    batch: Option<String>,
}

/// `GET /review/next?batch=ID`: locks this nurse's next item and redirects to it.
pub async fn next(
    State(state): State<ReviewState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let query: Option<NextQuery> = parse_form(query.unwrap_or_default().as_bytes());
    let Some(batch) = query.and_then(|q| q.batch).filter(|b| !b.is_empty()) else {
        return Ok(Redirect::to("/review").into_response());
    };
    let lock = state.settings.lock;
    let next = items::take_next(&state.store, &batch, &viewer.session.reviewer.id, lock)
        .await
        .map_err(PageError::internal)?;
    Ok(match next {
        Some(id) => Redirect::to(&format!("/review/items/{id}")).into_response(),
        None => state.pages.viewer_message(
            &viewer,
            StatusCode::OK,
            "batches_title",
            "nothing_left",
            None,
        ),
    })
}

#[derive(Serialize)]
struct MessageView {
    role: String,
    who: String,
    content: String,
    flags: String,
    failed: bool,
}

#[derive(Serialize)]
struct ReviewView {
    reviewer: String,
    clinical_accuracy: i64,
    tone: i64,
    safety: String,
    should_escalate: bool,
    comment: Option<String>,
    corrected_answer: Option<String>,
}

#[derive(Serialize)]
struct SafetyOption {
    value: &'static str,
    label: String,
}

/// The guard's reading of a message as shown: its categories and actions, e.g.
/// `red_flag, escalate`. The stored JSON holds rule ids, never matched text.
fn guard_flags(json: Option<&str>) -> Vec<String> {
    let Some(value) = json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()) else {
        return Vec::new();
    };
    ["categories", "actions"]
        .iter()
        .filter_map(|k| value.get(*k).and_then(|v| v.as_array()))
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

pub(super) fn safety_label(lang: Lang, problem: &str) -> String {
    tr(lang, &format!("safety_{problem}")).to_string()
}

/// Everything the item page shows about the item; the caller adds the form or the reviews.
pub(super) fn item_context(
    state: &ReviewState,
    viewer: &Viewer,
    detail: &ItemDetail,
    reviews: &[Review],
    emails: &HashMap<String, String>,
) -> Context {
    let lang = viewer.visitor.lang;
    let mut ctx = state.pages.viewer_context(viewer);
    ctx.insert("item", &detail.item);
    let mut all_flags: Vec<String> = Vec::new();
    let messages: Vec<MessageView> = detail
        .messages
        .iter()
        .map(|m| {
            let flags = guard_flags(m.guard.as_deref());
            for f in &flags {
                if !all_flags.contains(f) {
                    all_flags.push(f.clone());
                }
            }
            let role = match m.role.as_str() {
                "user" | "assistant" | "system" => m.role.to_string(),
                _ => "assistant".to_string(),
            };
            MessageView {
                who: tr(lang, &format!("role_{role}")).to_string(),
                role,
                content: m.content.clone(),
                flags: flags.join(", "),
                failed: m.status != "ok",
            }
        })
        .collect();
    ctx.insert("messages", &messages);
    ctx.insert("flags", &all_flags.join(", "));
    ctx.insert("prompt_ref", &detail.prompt_ref);
    ctx.insert("model", &detail.model);
    ctx.insert("cost", &detail.cost_usd.to_string());
    // A nurse sees only her own review, so a second reviewer is not swayed by the first (the
    // agreement statistic depends on it); admins see them all.
    let show_all = viewer.is_admin();
    let shown: Vec<ReviewView> = reviews
        .iter()
        .filter(|r| show_all || r.reviewer_id == viewer.session.reviewer.id)
        .map(|r| ReviewView {
            reviewer: emails
                .get(&r.reviewer_id)
                .cloned()
                .unwrap_or_else(|| r.reviewer_id.clone()),
            clinical_accuracy: r.clinical_accuracy,
            tone: r.tone,
            safety: safety_label(lang, &r.safety_problem),
            should_escalate: r.should_escalate,
            comment: r.comment.clone(),
            corrected_answer: r.corrected_answer.clone(),
        })
        .collect();
    ctx.insert("show_all_reviews", &show_all);
    ctx.insert("reviews", &shown);
    ctx.insert("can_promote", &(viewer.is_admin() && !reviews.is_empty()));
    let options: Vec<SafetyOption> = SAFETY_PROBLEMS
        .iter()
        .map(|p| SafetyOption {
            value: p,
            label: safety_label(lang, p),
        })
        .collect();
    ctx.insert("safety_options", &options);
    ctx.insert("show_form", &false);
    ctx
}

/// The item, its reviews and their authors (e-mail by reviewer id).
pub(super) async fn load(
    state: &ReviewState,
    id: &str,
) -> Result<(ItemDetail, Vec<Review>, HashMap<String, String>), PageError> {
    let detail = batches::item_detail(&state.store, id)
        .await
        .map_err(PageError::internal)?
        .ok_or(PageError::NotFound)?;
    // The reviews and their authors' e-mails in one query.
    let (reviews, emails): (Vec<Review>, Vec<_>) = state
        .store
        .reviews()
        .item_reviews_with_emails(id)
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|(review, email)| {
            let author = email.map(|email| (review.reviewer_id.clone(), email));
            (review, author)
        })
        .unzip();
    Ok((detail, reviews, emails.into_iter().flatten().collect()))
}

#[derive(Debug, Default, Deserialize)]
struct ItemQuery {
    saved: Option<String>,
}

/// `GET /review/items/{id}`: the conversation; the form when this nurse can review it (which
/// locks it for her, as `/review/next` does), else her review, or 409 while another nurse
/// holds it.
pub async fn item(
    State(state): State<ReviewState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let (detail, reviews, emails) = load(&state, &id).await?;
    let mut ctx = item_context(&state, &viewer, &detail, &reviews, &emails);
    let saved = parse_form::<ItemQuery>(query.unwrap_or_default().as_bytes())
        .is_some_and(|q| q.saved.is_some());
    ctx.insert("saved", &saved);
    let lang = viewer.visitor.lang;
    let lock = state.settings.lock;
    match items::take(&state.store, &id, &viewer.session.reviewer.id, lock).await {
        Ok(()) => {
            ctx.insert("show_form", &true);
            ctx.insert("form", &RawReview::default());
            ctx.insert("errors", &HashMap::<&str, &str>::new());
        }
        Err(TakeError::AlreadyReviewed) => {
            if !saved {
                ctx.insert("notice", tr(lang, "already_reviewed"));
            }
        }
        Err(TakeError::Complete) => ctx.insert("notice", tr(lang, "complete")),
        Err(TakeError::LockedByOther) if viewer.is_admin() && !reviews.is_empty() => {
            // An admin may still look at (and promote) an item a second nurse is reviewing.
            ctx.insert("notice", tr(lang, "locked_text"));
        }
        Err(TakeError::LockedByOther) => {
            return Err(PageError::Locked {
                batch: Some(detail.item.batch_id),
            });
        }
        Err(TakeError::NotFound) => return Err(PageError::NotFound),
        Err(TakeError::Db(e)) => return Err(PageError::internal(e)),
    }
    Ok(state
        .pages
        .render(viewer.visitor, StatusCode::OK, "item.html", &ctx))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReviewForm {
    csrf: String,
    #[serde(flatten)]
    review: RawReview,
}

/// `POST /review/items/{id}`: validates (400 with the form again, values kept, each problem
/// next to its field), stores the review and releases the lock, then shows the item with
/// "saved" and a link to the next one.
pub async fn submit(
    State(state): State<ReviewState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = parse_form::<ReviewForm>(&body).ok_or(PageError::BadRequest)?;
    if !viewer.csrf_ok(&form.csrf) {
        return Err(PageError::Csrf);
    }
    let conflict = |text_key, batch| Err(PageError::Conflict { text_key, batch });
    let input = match form.review.parse() {
        Ok(input) => input,
        Err(problems) => {
            // The form again shows the conversation: only to the nurse who may review the item
            // now (the same check as opening its page), never to one another nurse holds.
            let lock = state.settings.lock;
            return match items::take(&state.store, &id, &viewer.session.reviewer.id, lock).await {
                Ok(()) => invalid_form(&state, &viewer, &id, &form.review, &problems).await,
                Err(TakeError::LockedByOther) => Err(PageError::Locked { batch: None }),
                Err(TakeError::AlreadyReviewed) => conflict("already_reviewed", None),
                Err(TakeError::Complete) => conflict("complete", None),
                Err(TakeError::NotFound) => Err(PageError::NotFound),
                Err(TakeError::Db(e)) => Err(PageError::internal(e)),
            };
        }
    };
    match items::submit(&state.store, &id, &viewer.session.reviewer.id, &input).await {
        Ok(_) => {
            tracing::info!(item = %id, user_id = %viewer.session.reviewer.id, "review stored");
            Ok(Redirect::to(&format!("/review/items/{id}?saved=1")).into_response())
        }
        Err(TakeError::LockedByOther) => {
            let batch = batches::item(&state.store, &id)
                .await
                .ok()
                .flatten()
                .map(|i| i.batch_id);
            conflict("locked_text", batch)
        }
        Err(TakeError::AlreadyReviewed) => conflict("already_reviewed", None),
        Err(TakeError::Complete) => conflict("complete", None),
        Err(TakeError::NotFound) => Err(PageError::NotFound),
        Err(TakeError::Db(e)) => Err(PageError::internal(e)),
    }
}

/// The item page again with the posted values and a message beside each bad field.
async fn invalid_form(
    state: &ReviewState,
    viewer: &Viewer,
    id: &str,
    posted: &RawReview,
    problems: &[FieldError],
) -> Result<Response, PageError> {
    let (detail, reviews, emails) = load(state, id).await?;
    let lang = viewer.visitor.lang;
    let mut ctx = item_context(state, viewer, &detail, &reviews, &emails);
    let errors: HashMap<&str, &str> = problems
        .iter()
        .map(|p| (p.field, tr(lang, p.problem)))
        .collect();
    ctx.insert("show_form", &true);
    ctx.insert("saved", &false);
    ctx.insert("form", posted);
    ctx.insert("errors", &errors);
    Ok(state
        .pages
        .render(viewer.visitor, StatusCode::BAD_REQUEST, "item.html", &ctx))
}
