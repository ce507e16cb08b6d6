//! Operator authentication for the staff API: an axum extractor that
//! resolves an operator's bearer token and checks one permission of the
//! role matrix (`oriole_core::staff::Permission`).
//!
//! A handler names the permission it needs in its signature, so the check
//! cannot be forgotten and the role-matrix test can rely on it:
//!
//! ```ignore
//! /// `POST /v1/admin/policies`
//! pub async fn publish<S: Store>(
//!     State(state): State<SharedState<S>>,
//!     Staff(op, ..): Staff<perm::PublishPolicy>,
//!     JsonBody(req): JsonBody<PublishPolicy>,
//! ) -> ApiResult<Json<PolicyInfo>> { ... }
//! ```
//!
//! No token, an end-user token, or an unknown, expired or revoked operator
//! token is `unauthorized` (401); a valid operator whose role lacks the
//! permission is `forbidden` (403). Add a route to the matrix test
//! (`crates/oriole/tests/staff.rs`, `ENDPOINTS`) with the permission it
//! requires.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use oriole_core::staff::{Operator, Permission};
use oriole_core::Store;

use crate::error::HttpError;
use crate::extract::{bearer_token, unauthorized};
use crate::state::SharedState;

/// A permission an endpoint requires, as a type (see [`perm`]).
pub trait Requires: Send + Sync + 'static {
    const PERMISSION: Permission;
}

/// One marker type per [`Permission`].
pub mod perm {
    use super::{Permission, Requires};

    macro_rules! markers {
        ($($name:ident),* $(,)?) => {$(
            #[doc = concat!("Requires [`Permission::", stringify!($name), "`].")]
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Requires for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*};
    }

    markers!(
        ManageOperators,
        ViewAccountMetadata,
        RequestContentAccess,
        ApproveContentAccess,
        ReadAuditLog,
        PublishPolicy,
        ManageThirdParties,
        RecordDisclosure,
        ManageDataRequests,
        RunRetention,
    );
}

/// An authenticated operator whose role holds `P`'s permission.
#[derive(Debug, Clone)]
pub struct Staff<P: Requires>(pub Operator, pub PhantomData<P>);

impl<P: Requires> Staff<P> {
    pub fn operator(&self) -> &Operator {
        &self.0
    }
}

/// An authenticated operator, any role (their own session only), with the
/// token they used.
#[derive(Debug, Clone)]
pub struct AnyOperator {
    pub operator: Operator,
    pub token: String,
}

impl<S: Store> FromRequestParts<SharedState<S>> for AnyOperator {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState<S>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)
            .ok_or_else(|| unauthorized("missing `Authorization: Bearer` operator token"))?;
        let operator = state.oriole.authenticate_operator(token).await?;
        Ok(AnyOperator {
            operator,
            token: token.to_owned(),
        })
    }
}

impl<S: Store, P: Requires> FromRequestParts<SharedState<S>> for Staff<P> {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState<S>,
    ) -> Result<Self, Self::Rejection> {
        let AnyOperator { operator, .. } = AnyOperator::from_request_parts(parts, state).await?;
        operator.require(P::PERMISSION)?;
        Ok(Staff(operator, PhantomData))
    }
}
