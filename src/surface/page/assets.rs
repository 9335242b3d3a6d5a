//! The page's stylesheet, script and icon, built into the binary and served under a name that
//! carries a hash of their content, so a browser may keep them for a year and still never
//! runs an old script after an upgrade.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 3] = [
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/style.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/app.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("assets/icon.svg"),
    },
];

/// Each asset's served name: `style.0123456789.css`.
static HASHED: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Md5::digest(a.body);
            let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
            let (stem, ext) = a
                .name
                .rsplit_once('.')
                .expect("asset names have an extension");
            format!("{stem}.{hash}.{ext}")
        })
        .collect()
});

/// The URL of asset `name` (one of `ASSETS`).
pub fn url(name: &str) -> String {
    let i = ASSETS
        .iter()
        .position(|a| a.name == name)
        .expect("only built-in assets are named");
    format!("/assets/{}", HASHED[i])
}

/// `GET /assets/{name}`: an asset by its hashed name; any other name is not found.
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(i) = HASHED.iter().position(|h| *h == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let a = &ASSETS[i];
    let mut response = a.body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

/// `GET /favicon.ico`: browsers ask for it whatever the page says.
pub async fn favicon() -> Response {
    let a = &ASSETS[2];
    let mut response = a.body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_served_by_their_hashed_name_only() {
        let css = url("style.css");
        assert!(
            css.starts_with("/assets/style.") && css.ends_with(".css"),
            "{css}"
        );
        assert_ne!(url("app.js"), url("style.css"));
        for (a, h) in ASSETS.iter().zip(HASHED.iter()) {
            let hash = h.split('.').nth(1).unwrap();
            assert_eq!(hash.len(), 10, "{h}");
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{h}");
            assert!(h.ends_with(a.name.rsplit('.').next().unwrap()), "{h}");
        }
    }
}
