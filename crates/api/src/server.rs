//! The router and the listening server.
//!
//! Lakehouse routes (`/{dataset}/_api/…`) are matched first, then `/openapi.json` and the docs
//! page at `/` (`GET` only), and every other request goes to the blob protocol. Around them, from
//! the outside in: the request timeout (408), the body limit (413), the credential check (401).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Html;
use axum::routing::{delete, get, post};
use axum::serve::ListenerExt;
use lakehouse::repository::Catalog;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::settings::ApiSettings;
use crate::state::AppState;
use crate::{auth, blob, docs, entities, operations, query};

/// The application: every route over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let doc = serde_json::to_value(docs::document(&state.settings)).expect("OpenAPI document serialises");
    let page = docs::page(&doc);
    let mut app = Router::new()
        .route("/{dataset}/_api/ensure", post(entities::ensure))
        .route("/{dataset}/_api/journal/bulk", post(entities::journal_bulk))
        .route("/{dataset}/_api/entities/flush", post(entities::flush))
        .route("/{dataset}/_api/entities/query", post(query::entities))
        .route("/{dataset}/_api/entities/statements/query", post(query::statements))
        .route("/{dataset}/_api/entities/stats", get(entities::stats))
        .route("/{dataset}/_api/entities/statements/version", get(entities::version))
        .route("/{dataset}/_api/entities/origins/{origin}", delete(entities::delete_origin))
        .route("/{dataset}/_api/entities/{entity_id}", delete(entities::delete_entity))
        .route("/{dataset}/_api/operations", post(operations::run))
        .route("/openapi.json", get(move || async move { axum::Json(doc) }))
        .route("/", get(move || async move { Html(page) }).fallback(blob::serve))
        .fallback(blob::serve)
        .layer(middleware::from_fn_with_state(state.clone(), auth::check))
        .layer(RequestBodyLimitLayer::new(state.settings.max_body_bytes))
        .layer(DefaultBodyLimit::disable());
    if let Some(timeout) = state.settings.request_timeout {
        app = app.layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout));
    }
    app.with_state(state)
}

/// A server bound to its address, not yet serving.
pub struct Server {
    listener: TcpListener,
    app: Router,
}

impl Server {
    /// Binds `addr` (`host:port`; port 0 picks a free one) for a server over `catalog`.
    ///
    /// # Errors
    /// [`Error::Io`](lakehouse::Error::Io) if the address cannot be bound; as
    /// [`AppState::new`].
    pub async fn bind(catalog: Catalog, settings: ApiSettings, addr: &str) -> lakehouse::Result<Server> {
        let state = Arc::new(AppState::new(catalog, settings)?);
        let listener = TcpListener::bind(addr).await.map_err(|e| lakehouse::Error::Io(addr.to_string(), e))?;
        Ok(Server { listener, app: router(state) })
    }

    /// The bound address.
    ///
    /// # Panics
    /// Never for a bound TCP listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then stops accepting and waits for the requests in
    /// flight (writes, flushes, jobs) to finish. Connections send without delay
    /// (`TCP_NODELAY`): a response's head and its first body chunk are separate writes, and
    /// with Nagle's algorithm the second would wait for the client's delayed acknowledgement
    /// (40 ms on Linux) on a kept-alive connection.
    ///
    /// # Errors
    /// An I/O error of the listener.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "TCP_NODELAY could not be set");
            }
        });
        axum::serve(listener, self.app).with_graceful_shutdown(shutdown).await
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
///
/// # Panics
/// If the signal handlers cannot be installed.
pub async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
