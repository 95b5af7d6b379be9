//! Credentials (beyond the reference, whose server never checks them): when the server has
//! `LAKEHOUSE_API_KEY` and `LAKEHOUSE_API_SECRET`, every request must carry the same values in
//! `X-Api-Key` and `X-Api-Secret`, compared in constant time; else 401.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state;

/// Whether `given` equals `expected`, in time that does not depend on where they differ.
fn same(given: Option<&[u8]>, expected: &str) -> bool {
    given.is_some_and(|given| bool::from(given.ct_eq(expected.as_bytes())))
}

/// The middleware (see the module docs).
pub async fn check(State(state): State<state::State>, request: Request, next: Next) -> Response {
    if let Some((key, secret)) = &state.settings.credentials {
        let header = |name: &str| request.headers().get(name).map(|v| v.as_bytes());
        // Both are compared whatever the first gives, so the timing says nothing about which failed.
        let key_ok = same(header("x-api-key"), key);
        let secret_ok = same(header("x-api-secret"), secret);
        if !(key_ok & secret_ok) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}
