//! A turn answered in one piece, and the steps it shares with a streamed one: the block path
//! (the guard's safe reply, no upstream call) and the settlement of a failed upstream call.

use std::time::Duration;

use serde_json::Value;

use super::degraded::{self, Degraded};
use super::record::{Outcome, blocked, exchange, failed};
use super::{Pipeline, Prepared, Turn, choices, guarded};
use crate::core::UsdCost;
use crate::error::ApiError;
use crate::guard::Decision;
use crate::metering::{Admission, Metered};
use crate::providers::{Completion, ModelEntry};
use crate::store::messages::MessageStatus;
use crate::wire::ChatRequest;

/// What the input guard's reading lets happen.
pub(super) enum Screen<'c> {
    /// No upstream call: the safe reply is the answer (the turn is already logged); `degraded`
    /// when an urgent turn is blocked only because moderation is down with `fail_closed`.
    Blocked {
        reply: &'c str,
        report: Value,
        degraded: Option<Degraded>,
    },
    /// Go on; the guard's report, when it found anything.
    Go { report: Option<Value> },
}

impl Pipeline {
    /// The guard's report on the turn, and whether it blocks it. A blocked turn is logged here.
    pub(super) async fn screen<'c>(&self, turn: &Turn, call: &'c Prepared) -> Screen<'c> {
        let report = call.verdict.as_ref().map(guarded::report);
        match (call.verdict.as_ref().map(|v| &v.decision), report) {
            (Some(Decision::Block { reply }), Some(report)) => {
                let req = &call.request;
                self.writer
                    .record(exchange(turn, req, blocked(req, reply)))
                    .await;
                Screen::Blocked {
                    reply,
                    report,
                    degraded: Degraded::of_block(turn, call),
                }
            }
            (_, report) => Screen::Go { report },
        }
    }

    /// A failed upstream call: the budget reservation released, the failure logged.
    pub(super) async fn fail(
        &self,
        turn: &Turn,
        req: &ChatRequest,
        admission: Admission,
        e: ApiError,
    ) -> ApiError {
        self.metering.settle(admission, &UsdCost::ZERO).await;
        self.writer
            .record(exchange(turn, req, failed(req, &e)))
            .await;
        e
    }

    /// Answers one turn without streaming, meters and logs it; returns the completion, its
    /// cost and its metered answer tokens. A key over its daily budget gets 429
    /// `insufficient_quota` before any upstream call.
    pub(super) async fn complete(
        &self,
        turn: &Turn,
        call: &Prepared,
    ) -> Result<(Completion, UsdCost, u64), ApiError> {
        let req = &call.request;
        let model = self.model(req)?;
        let report = match self.screen(turn, call).await {
            Screen::Blocked {
                reply,
                report,
                degraded,
            } => {
                let head = turn.head(&req.model);
                let body = match degraded {
                    Some(why) => degraded::completion_body(&head, reply, &report, why),
                    None => guarded::blocked_completion(&head, reply, &report),
                };
                let completion = Completion {
                    body,
                    text: reply.to_string(),
                    finish_reason: Some("stop".into()),
                    usage: None,
                    served_by: req.model.clone(),
                    upstream: Duration::ZERO,
                };
                return Ok((completion, UsdCost::ZERO, 0));
            }
            Screen::Go { report } => report,
        };
        let admission = match self.admit(turn, model, call).await {
            Ok(a) => a,
            Err(e) if turn.urgent => {
                let reply = self.degraded_completion(turn, call, Degraded::of(&e), &e);
                return Ok((reply.await, UsdCost::ZERO, 0));
            }
            Err(e) => return Err(e),
        };
        match self
            .providers
            .complete_for(call.upstream(), turn.urgent, &self.metrics)
            .await
        {
            Ok(completion) => {
                let metered = self.settle(model, call, admission, &completion).await;
                let completion = self.check_answer(call, completion, report.as_ref());
                self.writer
                    .record(exchange(turn, req, answered(&completion, &metered)))
                    .await;
                Ok((completion, metered.cost, metered.tokens.output))
            }
            Err(e) if turn.urgent => {
                self.metering.settle(admission, &UsdCost::ZERO).await;
                let e = ApiError::from(e);
                let reply = self.degraded_completion(turn, call, Degraded::UpstreamUnavailable, &e);
                Ok((reply.await, UsdCost::ZERO, 0))
            }
            Err(e) => Err(self.fail(turn, req, admission, e.into()).await),
        }
    }

    /// The key's daily budget, then the end user's.
    pub(super) async fn admit(
        &self,
        turn: &Turn,
        model: &ModelEntry,
        call: &Prepared,
    ) -> Result<Admission, ApiError> {
        self.metering
            .admit_user(&turn.key, turn.end_user.as_deref(), model, call.upstream())
            .await
    }

    /// Meters the answer on the model that served it and settles the budget reservation.
    async fn settle(
        &self,
        model: &ModelEntry,
        call: &Prepared,
        admission: Admission,
        completion: &Completion,
    ) -> Metered {
        let served = self
            .providers
            .get(&completion.served_by)
            .map_or(model, |m| &**m);
        let metered = self.metering.measure(
            served,
            call.upstream(),
            &completion.text,
            completion.usage.as_ref(),
        );
        self.metering.settle(admission, &metered.cost).await;
        metered
    }

    /// The answer as the user must see it: every choice and every text field through the output
    /// guard (see [`choices`]), the escalation notice in front, the guard's report added.
    fn check_answer(
        &self,
        call: &Prepared,
        mut completion: Completion,
        report: Option<&Value>,
    ) -> Completion {
        let notice = match call.verdict.as_ref().map(|v| &v.decision) {
            Some(Decision::Escalate { notice }) => Some(notice.as_str()),
            _ => None,
        };
        // The output guard reads the model's own words (not the notice).
        let checked =
            choices::check_completion(&self.guard, call.lang, &completion.body, notice, report);
        if let Some(checked) = checked {
            completion.body = checked.body;
            completion.text = checked.text;
            if checked.filtered {
                completion.finish_reason = Some("content_filter".into());
            }
        }
        completion
    }
}

/// How an answered turn ended, for the log.
fn answered<'a>(completion: &'a Completion, metered: &'a Metered) -> Outcome<'a> {
    Outcome {
        status: MessageStatus::Ok,
        text: &completion.text,
        model: &completion.served_by,
        finish_reason: completion.finish_reason.as_deref(),
        usage: completion.usage.as_ref(),
        upstream: completion.upstream,
        error_code: None,
        metered: Some(metered),
    }
}
