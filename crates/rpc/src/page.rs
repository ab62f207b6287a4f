//! The live page's files (`GET /live/`): HTML, script and the WASM build of `ordo-light`, read
//! from the directory the node is configured with, so the page is rebuilt without the node.
//!
//! Only plain file names directly inside that directory are served (no paths, no hidden files),
//! with a content type from a short fixed list.

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use std::{path::PathBuf, sync::Arc};

/// Where the page's files are.
#[derive(Clone, Debug)]
pub(crate) struct PageDir(pub Arc<PathBuf>);

/// `/live` -> `/live/`, so the page's relative URLs resolve inside it.
pub(crate) async fn redirect() -> Redirect {
    Redirect::permanent("/live/")
}

pub(crate) async fn index(State(dir): State<Option<PageDir>>) -> Response {
    file(State(dir), Path("index.html".into())).await
}

pub(crate) async fn file(State(dir): State<Option<PageDir>>, Path(name): Path<String>) -> Response {
    let Some(PageDir(dir)) = dir else {
        return (
            StatusCode::NOT_FOUND,
            "no live page: start the node with `node.web_dir` (see `make web`)\n",
        )
            .into_response();
    };
    let Some(content_type) = content_type(&name) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    match tokio::fs::read(dir.join(&name)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                // Each start of the page picks up a rebuilt script or WASM module.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// The content type of a servable file name, or `None` for names that are not served.
fn content_type(name: &str) -> Option<&'static str> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !plain {
        return None;
    }
    match name.rsplit_once('.')?.1 {
        "html" => Some("text/html; charset=utf-8"),
        "js" | "mjs" => Some("text/javascript; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        "wasm" => Some("application/wasm"),
        "svg" => Some("image/svg+xml"),
        "png" => Some("image/png"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn only_plain_names_with_known_types_are_served() {
        assert_eq!(content_type("index.html"), Some("text/html; charset=utf-8"));
        assert_eq!(content_type("ordo_light.wasm"), Some("application/wasm"));
        for refused in [
            "",
            "..",
            "../etc/passwd",
            ".env.js",
            "a/b.js",
            "a\\b.js",
            "x.toml",
            "noext",
            "%2e%2e.js",
        ] {
            assert_eq!(content_type(refused), None, "{refused}");
        }
    }
}
