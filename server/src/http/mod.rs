//! The Axum router: Leptos pages and server functions, health endpoints, middleware.

mod audit;
pub mod auth;
mod error;
mod events;
mod health;
mod kubeconfig;
mod metrics;
mod middleware;
mod oidc;
mod scopes;
mod server_fn_status;
mod static_files;
mod tokens;
pub mod v1;

use std::sync::Arc;

use app::backend::SharedBackend;
use app::{App, shell};
use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;

use crate::config::{AuthConfig, Config, HttpConfig};
use crate::error::Error;
use crate::services::Services;

pub use error::ApiError;

/// The directory, under the site root and in URLs, of the bundle, its chunks and the CSS.
pub const PKG_DIR: &str = "pkg";

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub services: Arc<Services>,
    pub auth: AuthConfig,
    /// Sign-in through an identity provider, when configured.
    pub oidc: Option<Arc<crate::config::OidcConfig>>,
    /// `berth demo`: the demo sign-in route exists only then.
    pub demo: bool,
    /// Live event streams open on this server.
    pub streams: Arc<events::Streams>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Leptos options from Berth's own config; Berth does not read Leptos' Cargo metadata.
pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("berth")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir(PKG_DIR)
        .site_addr(config.listen)
        .build()
}

pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = generate_route_list(App);
    let backend: SharedBackend = state.services.clone();
    let options = state.leptos_options.clone();
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/auth/signout", post(auth::sign_out))
        .route("/auth/oidc/login", get(oidc::login))
        .route("/auth/oidc/callback", get(oidc::callback))
        .merge(v1::router());
    if state.demo {
        router = router.route("/auth/demo", post(auth::demo_sign_in));
    }
    let router = router
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .nest_service(
            &format!("/{PKG_DIR}"),
            static_files::service(&state.leptos_options.site_root),
        )
        // Other files under the site root, else the 404 page.
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Inner first: the origin check needs the session the outer layer found.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::same_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::load_session,
        ))
        .layer(axum::middleware::from_fn(static_files::revalidate))
        .layer(axum::middleware::from_fn(server_fn_status::correct))
        // Outermost of the per-route layers, where the matched route is known.
        .layer(axum::middleware::from_fn(metrics::count));
    middleware::apply(router, http).with_state(state)
}

/// Binds `addr`, naming the fix when the port is taken.
pub async fn bind(addr: std::net::SocketAddr, hint: &'static str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            Error::AddressInUse { addr, hint }
        } else {
            Error::Bind { addr, source }
        }
    })
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> Result<(), Error> {
    // Peer addresses reach handlers for the audit trail's source field.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Without TCP_NODELAY a kept-alive connection's next small response waits for the
    // client's delayed ACK (~40 ms on Linux): a first visit fetching a hundred route chunks
    // over a browser's six connections took a second longer.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "TCP_NODELAY not set on a connection");
        }
    });
    let (begun, began) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = begun.send(());
    });
    // A graceful shutdown waits for every open request; a slow or stuck one (a client that
    // never finishes its body, a handler waiting on a cluster that went away) must not hold
    // the process for ever.
    let deadline = async move {
        if began.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server => served.map_err(Error::Serve),
        () = deadline => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still open after the shutdown grace; closing them");
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends before it kills a pod). A second
/// signal after that ends the process at once, finished or not.
pub async fn shutdown_signal() {
    ctrl_c_or_terminate().await;
    tracing::info!(
        "shutdown requested; finishing in-flight requests (a second signal stops at once)"
    );
    tokio::spawn(async {
        ctrl_c_or_terminate().await;
        eprintln!("berth: a second signal: stopping now, without finishing");
        std::process::exit(130);
    });
}

async fn ctrl_c_or_terminate() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
