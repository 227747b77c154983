//! `PATCH /api/v1/channels/NAME`: a channel's title and its own transcoding ladder.
//!
//! The body is `{"title": T, "ladder": L}` with either or both. T is a string (see
//! [`validate_title`]); L is `null` (follow the server's ladder), `"off"` (the source only) or
//! `{"rungs": [RUNG, ...]}` with the config file's rung fields. Channel views show the effective
//! ladder in the same form, so one can be sent back as it was read.

use super::{authorize, validate_title, view, ChannelName};
use crate::accounts::Principal;
use crate::http::error::AppError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_ladder::{Ladder, LadderError, Rung, MAX_RUNGS};
use serde::Deserialize as _;
use serde_json::{json, Map, Value};

/// The body field.
const FIELD: &str = "ladder";
/// The other body field.
const TITLE: &str = "title";
/// The word for the source only.
const OFF: &str = "off";

/// `ladder` in the API form: `"off"` or `{"rungs": [...]}`.
pub(super) fn to_api(ladder: &Ladder) -> Value {
    if !ladder.enabled || ladder.rungs.is_empty() {
        return Value::from(OFF);
    }
    json!({ "rungs": ladder.rungs })
}

/// What a PATCH body asks to change.
#[derive(Debug, PartialEq)]
pub(super) struct Patch {
    /// A new title (trimmed and checked).
    title: Option<String>,
    /// `Some(None)` to follow the server's ladder, `Some(Some(l))` for the channel's own.
    ladder: Option<Option<Ladder>>,
}

/// Reads a PATCH body: the title, checked, and the ladder, validated against any encoder's
/// presets (the running one's are checked by the caller).
pub(super) fn parse_patch(body: Value) -> Result<Patch, AppError> {
    let Value::Object(mut body) = body else {
        return Err(shape(format!(
            "expected an object {{\"{TITLE}\": ..., \"{FIELD}\": ...}}"
        )));
    };
    only_keys(&body, &[FIELD, TITLE], "")?;
    let title = match body.remove(TITLE) {
        None => None,
        Some(Value::String(t)) => Some(validate_title(&t)?),
        Some(_) => return Err(shape(format!("{TITLE}: expected a string"))),
    };
    let ladder = body.remove(FIELD).map(parse_ladder).transpose()?;
    if title.is_none() && ladder.is_none() {
        return Err(shape(format!(
            "nothing to change: expected `{TITLE}` and/or `{FIELD}`"
        )));
    }
    Ok(Patch { title, ladder })
}

/// Reads the `ladder` field: `Ok(None)` to follow the server's ladder, else the channel's own.
fn parse_ladder(ladder: Value) -> Result<Option<Ladder>, AppError> {
    let ladder = match ladder {
        Value::Null => return Ok(None),
        Value::String(s) if s == OFF => return Ok(Some(Ladder::source_only())),
        Value::Object(o) => o,
        _ => {
            return Err(shape(format!(
                "{FIELD}: expected null, \"{OFF}\" or {{\"rungs\": [...]}}"
            )))
        }
    };
    only_keys(&ladder, &["rungs"], FIELD)?;
    let Some(Value::Array(items)) = ladder.get("rungs") else {
        return Err(shape(format!("{FIELD}.rungs: expected a list of rungs")));
    };
    if items.is_empty() {
        return Err(AppError::bad_request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ladder",
            format!("{FIELD}.rungs: no rungs; \"{OFF}\" serves the source only"),
        ));
    }
    if items.len() > MAX_RUNGS {
        let error = LadderError::TooManyRungs {
            count: items.len(),
            max: MAX_RUNGS,
        };
        return Err(invalid(&Ladder::source_only(), &error));
    }
    let rungs = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Rung::deserialize(item).map_err(|e| shape(format!("{FIELD}.rungs[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ladder = Ladder::of(rungs);
    ladder.validate().map_err(|e| invalid(&ladder, &e))?;
    Ok(Some(ladder))
}

/// Refuses keys of `object` not in `allowed`; `at` is the object's path for the message.
fn only_keys(object: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), AppError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => {
            let at = if at.is_empty() {
                String::new()
            } else {
                format!("{at}: ")
            };
            Err(shape(format!(
                "{at}unknown field `{key}`, expected `{}`",
                allowed.join("`, `")
            )))
        }
    }
}

/// A 400 for a body that is not of the documented shape.
fn shape(message: String) -> AppError {
    AppError::bad_request(StatusCode::BAD_REQUEST, "invalid_body", message)
}

/// A 422 for a well-formed ladder with a value out of bounds, the message led by the path of the
/// field at fault (`ladder.rungs[1].height`).
pub(super) fn invalid(ladder: &Ladder, error: &LadderError) -> AppError {
    let path = match error.rung_field() {
        Some((rung, field)) => {
            let mut named = ladder
                .rungs
                .iter()
                .enumerate()
                .filter(|(_, r)| r.name == rung);
            // A duplicate is the second rung of the name.
            let found = match error {
                LadderError::DuplicateName { .. } => named.nth(1),
                _ => named.next(),
            };
            match found {
                Some((i, _)) => format!("{FIELD}.rungs[{i}].{field}"),
                None => format!("{FIELD}.rungs"),
            }
        }
        None => format!("{FIELD}.rungs"),
    };
    AppError::bad_request(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ladder",
        format!("{path}: {error}"),
    )
}

/// `PATCH /api/v1/channels/NAME`: sets the title, and sets or clears the channel's own ladder.
/// A live channel's transcoder restarts with a new ladder at once.
pub(super) async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ChannelName(name): ChannelName,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(body) = body.map_err(|e| {
        AppError::bad_request(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
    })?;
    let patch = parse_patch(body)?;
    authorize(&state, &principal, &name).await?;
    if let Some(ladder) = patch
        .ladder
        .as_ref()
        .and_then(Option::as_ref)
        .filter(|l| l.enabled)
    {
        // Refused now rather than found out at the next publish.
        let encoder = state.transcode.encoder().await.ok_or_else(|| {
            AppError::bad_request(
                StatusCode::CONFLICT,
                "transcoding_unavailable",
                "no H.264 encoder works on this server (is ffmpeg installed?)",
            )
        })?;
        ladder
            .validate_for(encoder)
            .map_err(|e| invalid(ladder, &e))?;
    }
    if let Some(title) = &patch.title {
        if !state.db.set_channel_title(&name, title).await? {
            return Err(AppError::not_found("channel"));
        }
        tracing::info!(channel = %name, by = principal.label(), title = %title, "channel title set");
    }
    if let Some(own) = &patch.ladder {
        state
            .transcode
            .channels
            .set(&name, own.as_ref())
            .await?
            .ok_or_else(|| AppError::not_found("channel"))?;
        let shown = own.as_ref().map_or(Value::Null, to_api);
        tracing::info!(channel = %name, by = principal.label(), ladder = %shown, "channel ladder set");
    }
    let details = state
        .db
        .channel_details(&name)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    Ok(Json(view(&state, &headers, &details, None)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(name: &str, height: u32) -> Value {
        json!({"name": name, "height": height, "video_bitrate_kbps": 800,
               "audio_bitrate_kbps": 96, "frame_rate": 30})
    }

    fn error(body: Value) -> (u16, &'static str, String) {
        let e = parse_patch(body).unwrap_err();
        (e.status.as_u16(), e.code, e.message)
    }

    /// The ladder a body sets.
    fn ladder_of(body: Value) -> Option<Ladder> {
        let patch = parse_patch(body).unwrap();
        assert_eq!(patch.title, None);
        patch.ladder.expect("a ladder change")
    }

    #[test]
    fn titles() {
        let patch = parse_patch(json!({"title": "  Speedrun  "})).unwrap();
        assert_eq!(
            patch,
            Patch {
                title: Some("Speedrun".into()),
                ladder: None
            }
        );
        let both = parse_patch(json!({"title": "", "ladder": "off"})).unwrap();
        assert_eq!(both.title.as_deref(), Some(""));
        assert_eq!(both.ladder, Some(Some(Ladder::source_only())));
        assert!(parse_patch(json!({"title": "é".repeat(140)})).is_ok());
        for (body, status, code) in [
            (json!({"title": "é".repeat(141)}), 422, "invalid_title"),
            (json!({"title": "two\nlines"}), 422, "invalid_title"),
            (json!({"title": 7}), 400, "invalid_body"),
            (json!({"title": null}), 400, "invalid_body"),
        ] {
            let (s, c, _) = error(body.clone());
            assert_eq!((s, c), (status, code), "{body}");
        }
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(ladder_of(json!({"ladder": null})), None);
        assert_eq!(
            ladder_of(json!({"ladder": "off"})),
            Some(Ladder::source_only())
        );
        let one = ladder_of(json!({"ladder": {"rungs": [rung("360p", 360)]}})).unwrap();
        assert!(one.enabled);
        assert_eq!(one.rungs.len(), 1);
        assert_eq!(one.rungs[0].height, 360);
        assert_eq!(one.rungs[0].preset, None);
        // What a view shows is accepted back as it is.
        assert_eq!(
            ladder_of(json!({ "ladder": to_api(&one) })),
            Some(one.clone())
        );
        assert_eq!(to_api(&Ladder::source_only()), json!("off"));
        assert_eq!(
            to_api(&Ladder::default()),
            json!("off"),
            "a disabled ladder"
        );
        assert_eq!(to_api(&one)["rungs"][0]["video_bitrate_kbps"], 800);
    }

    #[test]
    fn malformed_bodies_are_400_naming_the_field() {
        let bad = [
            (json!([]), "expected an object"),
            (
                json!({}),
                "nothing to change: expected `title` and/or `ladder`",
            ),
            (json!({"ladder": null, "x": 1}), "unknown field `x`"),
            (json!({"ladder": "on"}), "ladder: expected null"),
            (json!({"ladder": []}), "ladder: expected null"),
            (
                json!({"ladder": {"rung": []}}),
                "ladder: unknown field `rung`",
            ),
            (json!({"ladder": {}}), "ladder.rungs: expected a list"),
            (
                json!({"ladder": {"rungs": [rung("a", 360), {"name": "b", "height": 240}]}}),
                "ladder.rungs[1]: missing field `video_bitrate_kbps`",
            ),
            (
                json!({"ladder": {"rungs": [{"name": "a", "heigth": 360}]}}),
                "ladder.rungs[0]: unknown field `heigth`",
            ),
            (
                json!({"ladder": {"rungs": [{"name": "a", "height": -360}]}}),
                "ladder.rungs[0]: invalid value",
            ),
        ];
        for (body, expected) in bad {
            let (status, code, message) = error(body.clone());
            assert_eq!((status, code), (400, "invalid_body"), "{body}");
            assert!(message.starts_with(expected), "{body}: {message}");
        }
    }

    #[test]
    fn invalid_ladders_are_422_naming_the_field() {
        let mut fast = rung("fast", 240);
        fast["frame_rate"] = json!(500);
        let mut preset = rung("p", 240);
        preset["preset"] = json!("ludicrous");
        let bad = [
            (json!([]), "ladder.rungs: no rungs; \"off\""),
            (
                json!([rung("a", 360), rung("b", 361)]),
                "ladder.rungs[1].height:",
            ),
            (
                json!([rung("a", 360), rung("a", 240)]),
                "ladder.rungs[1].name:",
            ),
            (json!([rung("source", 360)]), "ladder.rungs[0].name:"),
            (json!([rung("Big", 360)]), "ladder.rungs[0].name:"),
            (json!([fast]), "ladder.rungs[0].frame_rate:"),
            (json!([preset]), "ladder.rungs[0].preset:"),
            (
                json!(vec![rung("a", 360); 9]),
                "ladder.rungs: 9 rungs, at most 8",
            ),
        ];
        for (rungs, expected) in bad {
            let (status, code, message) = error(json!({"ladder": {"rungs": rungs}}));
            assert_eq!((status, code), (422, "invalid_ladder"), "{rungs}");
            assert!(message.starts_with(expected), "{rungs}: {message}");
        }
    }
}
