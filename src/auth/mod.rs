//! Who is calling: credentials in, a [`Principal`] out.

pub mod accounts;
pub mod basic;
pub mod password;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use crate::app::AppState;
use crate::error::ApiError;

pub use accounts::AccountRow;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Basic auth with the account's credentials: full access to the
    /// account's resources and nothing else.
    Account(AccountRow),
}

impl Principal {
    pub fn account(&self) -> &AccountRow {
        match self {
            Principal::Account(a) => a,
        }
    }

    pub fn account_sid(&self) -> &str {
        &self.account().sid
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Several extractors of one request may ask; authenticate once.
        if let Some(p) = req.extensions().get::<Principal>() {
            let p = p.clone();
            return Box::pin(async move { Ok(p) });
        }
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("AppState missing"))?
                .clone();
            let (user, secret) = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(basic::parse_basic)
                .ok_or(ApiError::Unauthenticated)?;
            let account = state.auth.authenticate(&state.db, &user, &secret).await?;
            let principal = Principal::Account(account);
            req.extensions_mut().insert(principal.clone());
            Ok(principal)
        })
    }
}
