//! The API description: `GET /api/openapi.json` answers `crates/server/openapi.json`, the
//! hand-written OpenAPI 3.1 document of the whole HTTP interface (the web app renders it at
//! `/api/docs`).
//!
//! The document is embedded as written. The tests below keep it in step with the router: every
//! routed path and method is documented, and everything documented is routed.

use crate::state::AppState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Where the document is served.
pub const PATH: &str = "/api/openapi.json";

/// The document.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

/// `GET /api/openapi.json`.
pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(document))
}

/// Revalidated on every use, so a new binary's description takes effect at once.
async fn document() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DOCUMENT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::{BTreeMap, BTreeSet};

    /// Every file of `http/` that defines routes, by path relative to this one. A new file with
    /// `.route(` calls must be added here, or its routes escape the drift check.
    const SOURCES: &[(&str, &str)] = &[
        ("api.rs", include_str!("api.rs")),
        ("api/ladder.rs", include_str!("api/ladder.rs")),
        ("api/public.rs", include_str!("api/public.rs")),
        ("api/session.rs", include_str!("api/session.rs")),
        ("chat.rs", include_str!("chat.rs")),
        ("directory.rs", include_str!("directory.rs")),
        ("ops.rs", include_str!("ops.rs")),
        ("origin.rs", include_str!("origin.rs")),
        ("web.rs", include_str!("web.rs")),
        ("videos.rs", include_str!("videos.rs")),
        ("jobs.rs", include_str!("jobs.rs")),
        ("vod.rs", include_str!("vod.rs")),
        ("uploads.rs", include_str!("uploads.rs")),
    ];

    /// Routes of the web app's pages and files (docs/WEB.md), not part of the API.
    const PAGES: &[&str] = &[
        "/",
        "/{name}",
        "/login",
        "/signup",
        "/studio",
        "/studio/{*rest}",
        "/videos/{id}",
        "/assets/{*path}",
        "/api/docs",
    ];

    /// Operations docs/WEB.md specifies and the document describes, whose routes have not landed
    /// yet. Exact: an entry that gets routed must be removed.
    const PENDING: &[(&str, &str)] = &[];

    /// The HTTP methods an OpenAPI path item and an axum `MethodRouter` both name.
    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is not JSON")
    }

    /// `(method, path, operation)` for every operation of the document.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let paths = doc["paths"].as_object().expect("`paths` is an object");
        let mut out = Vec::new();
        for (path, item) in paths {
            let item = item.as_object().expect("a path item is an object");
            for (method, operation) in item {
                if METHODS.contains(&method.as_str()) {
                    out.push((method.clone(), path.clone(), operation.clone()));
                }
            }
        }
        out
    }

    /// The path of a route as OpenAPI writes it: axum's `{*rest}` wildcard is `{rest}`.
    fn openapi_path(route: &str) -> String {
        route.replace("{*", "{")
    }

    /// The `.route("PATH", METHODS)` calls of a source file outside its test module: each path
    /// with the methods its method router names (empty when it names none of [`METHODS`], as
    /// `any(...)` does; then only the path is checked).
    fn routes_in(file: &str, source: &str) -> Vec<(String, BTreeSet<String>)> {
        let code = source
            .find("#[cfg(test)]\nmod tests")
            .map_or(source, |end| &source[..end]);
        let mut out = Vec::new();
        for (at, _) in code.match_indices(".route(") {
            let rest = code[at + ".route(".len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                panic!(
                    "{file}: a route path that is not a string literal: `.route({}`; the drift \
                     check needs literals",
                    rest.lines().next().unwrap_or("")
                );
            };
            let end = rest.find('"').expect("an unterminated route path");
            let path = rest[..end].to_owned();
            out.push((path, methods_of(&rest[end + 1..])));
        }
        out
    }

    /// The methods named at the top level of a method router expression (`post(create).get(list)`),
    /// read up to the `)` that closes `.route(`.
    fn methods_of(expr: &str) -> BTreeSet<String> {
        let mut methods = BTreeSet::new();
        let mut depth = 0usize;
        let mut word = String::new();
        for c in expr.chars() {
            match c {
                '(' => {
                    if depth == 0 && METHODS.contains(&word.as_str()) {
                        methods.insert(word.clone());
                    }
                    depth += 1;
                }
                ')' if depth == 0 => break,
                ')' => depth -= 1,
                _ => {}
            }
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
            } else {
                word.clear();
            }
        }
        methods
    }

    /// Every API route of the router: path (as OpenAPI writes it) → methods.
    fn routed() -> BTreeMap<String, BTreeSet<String>> {
        let mut routed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (file, source) in SOURCES {
            for (path, methods) in routes_in(file, source) {
                if PAGES.contains(&path.as_str()) {
                    continue;
                }
                routed
                    .entry(openapi_path(&path))
                    .or_default()
                    .extend(methods);
            }
        }
        routed.insert(PATH.to_owned(), BTreeSet::from(["get".to_owned()]));
        routed
    }

    #[test]
    fn the_document_is_openapi_3_1_with_a_summary_and_responses_everywhere() {
        let doc = document();
        let version = doc["openapi"].as_str().unwrap_or_default();
        assert!(version.starts_with("3.1"), "openapi: {version:?}");
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
        let tags: BTreeSet<&str> = doc["tags"]
            .as_array()
            .expect("`tags` is a list")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        let operations = operations(&doc);
        assert!(operations.len() > 30, "{} operations", operations.len());
        let mut ids = BTreeSet::new();
        for (method, path, op) in &operations {
            let what = format!("{} {path}", method.to_uppercase());
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(!summary.trim().is_empty(), "{what}: no summary");
            let responses = op["responses"].as_object();
            assert!(
                responses.is_some_and(|r| !r.is_empty()),
                "{what}: no responses"
            );
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{what}: no operationId");
            assert!(ids.insert(id.to_owned()), "{what}: operationId {id} twice");
            for tag in op["tags"].as_array().expect("operations are tagged") {
                let tag = tag.as_str().unwrap_or_default();
                assert!(tags.contains(tag), "{what}: undeclared tag {tag:?}");
            }
            for (status, response) in responses.into_iter().flatten() {
                let valid = status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit());
                assert!(valid, "{what}: response {status:?}");
                assert!(
                    response.get("$ref").is_some() || response["description"].is_string(),
                    "{what} {status}: no description"
                );
            }
        }
    }

    /// Every `$ref` points into the document.
    fn check_refs(doc: &Value, v: &Value, bad: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    let found = r.strip_prefix('#').and_then(|p| doc.pointer(p));
                    if found.is_none() {
                        bad.push(r.clone());
                    }
                }
                o.values().for_each(|v| check_refs(doc, v, bad));
            }
            Value::Array(a) => a.iter().for_each(|v| check_refs(doc, v, bad)),
            _ => {}
        }
    }

    #[test]
    fn references_resolve_and_path_parameters_are_declared() {
        let doc = document();
        let mut bad = Vec::new();
        check_refs(&doc, &doc, &mut bad);
        assert!(bad.is_empty(), "unresolved references: {bad:?}");

        let resolve = |p: &Value| match p["$ref"].as_str() {
            Some(r) => doc.pointer(&r[1..]).cloned().unwrap_or_default(),
            None => p.clone(),
        };
        let path_params = |list: &Value| -> BTreeSet<String> {
            list.as_array()
                .into_iter()
                .flatten()
                .map(resolve)
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        };
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let templated: BTreeSet<String> = path
                .split('{')
                .skip(1)
                .filter_map(|s| s.split_once('}'))
                .map(|(name, _)| name.to_owned())
                .collect();
            let shared = path_params(&item["parameters"]);
            for (method, op) in item.as_object().expect("path item") {
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                let mut declared = shared.clone();
                declared.extend(path_params(&op["parameters"]));
                assert_eq!(declared, templated, "{} {path}", method.to_uppercase());
            }
        }
    }

    #[test]
    fn the_route_scanner_reads_paths_and_methods() {
        let source = r#"
            Router::new()
                .route("/a", post(create).get(list))
                .route(
                    "/a/{name}",
                    get(show).delete(delete).patch(ladder::patch),
                )
                .route("/q", post(report).layer(DefaultBodyLimit::max(get(1))))
                .route("/any/{*rest}", any(everything))
        "#;
        let found = routes_in("test", source);
        let set = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            found,
            [
                ("/a".to_owned(), set(&["get", "post"])),
                ("/a/{name}".to_owned(), set(&["delete", "get", "patch"])),
                ("/q".to_owned(), set(&["post"])),
                ("/any/{*rest}".to_owned(), set(&[])),
            ]
        );
        assert_eq!(openapi_path("/studio/{*rest}"), "/studio/{rest}");
    }

    #[test]
    fn every_route_is_documented_and_everything_documented_is_routed() {
        let routed = routed();
        let doc = document();
        let mut documented: BTreeSet<(String, String)> = BTreeSet::new();
        for (method, path, _) in operations(&doc) {
            documented.insert((method, path));
        }
        let is_routed = |method: &str, path: &str| {
            routed
                .get(path)
                .is_some_and(|m| m.is_empty() || m.contains(method))
        };
        let mut undocumented = Vec::new();
        for (path, methods) in &routed {
            if !documented.iter().any(|(_, p)| p == path) {
                undocumented.push(format!("{path} (every method)"));
            }
            for method in methods {
                if !documented.contains(&(method.clone(), path.clone())) {
                    undocumented.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        assert!(
            undocumented.is_empty(),
            "routed but missing from crates/server/openapi.json:\n{}",
            undocumented.join("\n")
        );
        let unrouted: BTreeSet<(String, String)> = documented
            .iter()
            .filter(|(m, p)| !is_routed(m, p))
            .cloned()
            .collect();
        let pending: BTreeSet<(String, String)> = PENDING
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        let show = |set: Vec<&(String, String)>| {
            set.iter()
                .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let gone: Vec<_> = unrouted.difference(&pending).collect();
        assert!(
            gone.is_empty(),
            "documented in crates/server/openapi.json but not routed:\n{}",
            show(gone)
        );
        let landed: Vec<_> = pending.difference(&unrouted).collect();
        assert!(
            landed.is_empty(),
            "routed now (or no longer documented): remove from PENDING:\n{}",
            show(landed)
        );
    }

    #[tokio::test]
    async fn it_is_served_as_json_and_revalidated() {
        let res = super::document().await;
        assert_eq!(res.status(), axum::http::StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("the body");
        assert_eq!(body, DOCUMENT.as_bytes());
    }
}
