//! The site's static files (`/pkg/…`: the WebAssembly main module and chunks, their JS glue,
//! the stylesheet): which requests ask for them, and how long a browser may keep them.

use std::path::Path;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, header};
use tower_http::services::ServeDir;

/// The files of `<site root>/pkg`, with the Brotli and gzip copies the release build stores
/// beside them. Served here rather than by leptos_axum's fallback handler, which passes the
/// file server only the path and Accept-Encoding: it drops If-Modified-Since, so a browser
/// revalidating a file it holds would get the whole file again instead of a 304.
pub fn service(site_root: &str) -> ServeDir {
    ServeDir::new(Path::new(site_root).join(super::PKG_DIR))
        .precompressed_br()
        .precompressed_gzip()
}

/// Whether `path` names one of the site's static files (`/pkg/…`).
pub fn is_static(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(super::PKG_DIR))
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Static files answer with `Cache-Control: no-cache`: a browser keeps them but asks again
/// (a 304 when unchanged) before each use. Their names do not change between builds
/// (`chunk_19.wasm` holds other code after an upgrade), and with no Cache-Control at all a
/// browser reuses a file on heuristic freshness, a tenth of its age, so it could load an old
/// build's chunk into a new build's page and fail to hydrate.
pub async fn revalidate(request: Request, next: Next) -> Response {
    let asks_for_file = is_static(request.uri().path());
    let mut response = next.run(request).await;
    if asks_for_file && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_the_package_directory_are_static() {
        assert!(is_static("/pkg/berth.js"));
        assert!(is_static("/pkg/chunk_19.wasm"));
        assert!(!is_static("/pkg"));
        assert!(!is_static("/pkgs/berth.js"));
        assert!(!is_static("/namespaces"));
        assert!(!is_static("/api/v1/pkg/x"));
    }
}
