//! The tests of `api`.

use super::*;

#[test]
fn times_are_read_with_or_without_a_zone() {
    for (text, expected) in [
        ("2024-01-01T12:00:00", Some(1_704_110_400_000)),
        ("2024-01-01T12:00:00Z", Some(1_704_110_400_000)),
        ("2024-01-01T12:00:00.250Z", Some(1_704_110_400_250)),
        ("2024-01-01T14:00:00+02:00", Some(1_704_110_400_000)),
        ("2024-01-01T07:00:00-0500", Some(1_704_110_400_000)),
        ("2024-01-01 12:00", Some(1_704_110_400_000)),
        ("2024-01-01", Some(1_704_067_200_000)),
        ("1970-01-01T00:00:00Z", Some(0)),
        ("2024-13-01", None),
        ("2024-01-01T25:00:00", None),
        ("yesterday", None),
        ("2024-01-01T12:00:00+2", None),
        ("", None),
    ] {
        assert_eq!(parse_iso8601(text), expected, "{text}");
    }
}

/// The router and `ROUTES`, with no credentials: a route served answers 401 (or, for the
/// document, 200), never the fallback's 404 or the 405 of a method not served.
async fn answer_to(router: &Router, method: &str, path: &str) -> (StatusCode, String) {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .body(axum::body::Body::empty())
        .expect("a valid request");
    let response = tower::ServiceExt::oneshot(router.clone(), request)
        .await
        .expect("the router always answers");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_BODY)
        .await
        .expect("a body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn served(status: StatusCode, body: &str) -> bool {
    status != StatusCode::METHOD_NOT_ALLOWED
        && !(status == StatusCode::NOT_FOUND
            && (body.contains("no such route") || body.contains("does not serve")))
}

/// `{id}` and the like become a value each route takes.
fn concrete(path: &str) -> String {
    let full = if path.starts_with("/metrics") {
        path.to_owned()
    } else {
        format!("/api/v2{path}")
    };
    full.replace("{id}", "1").replace("{activityId}", "1")
}

#[tokio::test]
async fn every_route_served_is_in_the_openapi_document_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(ApiState {
        control: crate::service::activity::test_control(dir.path(), ""),
        limiter: Arc::new(Limiter::default()),
    });
    let router = router(state);

    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.0.3");
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    documented.sort();
    let mut listed: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    listed.sort();
    assert_eq!(documented, listed, "openapi.json and ROUTES differ");

    // Every listed route is served, and on a path served, every other method is refused.
    for (method, path) in ROUTES {
        let (status, body) = answer_to(&router, method, &concrete(path)).await;
        assert!(
            served(status, &body),
            "{method} {path} is not served: {status} {body}"
        );
        for other in ["GET", "POST", "PATCH", "PUT", "DELETE"] {
            if ROUTES.contains(&(other, path)) {
                continue;
            }
            let (status, body) = answer_to(&router, other, &concrete(path)).await;
            assert!(
                !served(status, &body),
                "{other} {path} is served but not in ROUTES: {status} {body}"
            );
        }
    }
    // The document needs no credentials, at both addresses.
    for at in ["/api/v2/openapi.json", "/openapi.json"] {
        let (status, body) = answer_to(&router, "GET", at).await;
        assert_eq!(status, StatusCode::OK, "{at}");
        assert_eq!(body, OPENAPI, "{at}");
    }
}

fn test_router(dir: &std::path::Path) -> Router {
    router(Arc::new(ApiState {
        control: crate::service::activity::test_control(dir, ""),
        limiter: Arc::new(Limiter::default()),
    }))
}

#[tokio::test]
async fn exavault_s_routes_not_served_say_so_in_exavault_s_error_before_reading_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let router = test_router(dir.path());
    for (method, path, what) in NOT_SERVED {
        let (status, body) = answer_to(&router, method, &concrete(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(body["responseStatus"], 404, "{method} {path}");
        assert_eq!(body["errors"][0]["code"], "ERROR_RESOURCE_NOT_FOUND");
        let detail = body["errors"][0]["detail"].as_str().unwrap();
        assert!(
            detail.contains("does not serve") && detail.contains(what),
            "{method} {path}: {detail}"
        );
        assert!(
            !ROUTES.contains(&(method, path)),
            "{method} {path} is served and not served"
        );
    }
    // A path of its own is not served with any method, nor read as a file's name.
    for method in ["GET", "POST", "DELETE"] {
        let (status, body) = answer_to(&router, method, "/api/v2/resources/preview").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {body}");
        assert!(body.contains("does not serve"), "{method}: {body}");
    }
}

#[tokio::test]
async fn a_path_parameter_that_is_not_utf8_is_refused_in_exavault_s_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let router = test_router(dir.path());
    for (method, path) in ROUTES.iter().filter(|(_, p)| p.contains('{')) {
        let bad = concrete(path).replace("/1", "/%FF");
        let (status, body) = answer_to(&router, method, &bad).await;
        if path.starts_with("/resources/") {
            // A file's name is bytes: the resources routes read it, and here (no
            // credentials) refuse the caller first.
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {bad}: {body}");
            continue;
        }
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {bad}: {body}");
        let body: Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("{method} {bad}: not JSON: {body}"));
        assert_eq!(body["errors"][0]["code"], "ERROR_INVALID_PARAMETER");
        let detail = body["errors"][0]["detail"].as_str().unwrap();
        let name = path.rsplit('{').next().unwrap().split('}').next().unwrap();
        assert!(
            detail.starts_with(&format!("{name}: ")) && detail.contains("UTF-8"),
            "{method} {bad}: {detail}"
        );
    }
}

#[test]
fn form_values_decode_plus_and_percent() {
    assert_eq!(form_decode("a+b%2Fc").as_deref(), Some("a b/c"));
    assert_eq!(form_decode("%E2%9C%93").as_deref(), Some("✓"));
    assert_eq!(form_decode("%FF"), None);
}
