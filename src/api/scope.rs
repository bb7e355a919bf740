//! The two path families: `/v1/…` acts on the account's default service,
//! `/v1/Services/{IS}/…` on an explicit one. Handlers are shared; the scope
//! says which service and how to spell URLs back.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::app::AppState;
use crate::auth::Principal;
use crate::conversations::services;
use crate::error::ApiError;
use crate::sid::SidKind;

#[derive(Debug, Clone)]
pub struct ServiceScope {
    pub principal: Principal,
    pub service_sid: String,
    /// Reached through `/v1/Services/{IS}/…`.
    pub explicit: bool,
    /// Absolute URL prefix of this family: `{public}/v1` or `{public}/v1/Services/{IS}`.
    pub prefix: String,
    /// Absolute `{public}/v1`, for links that always use the short family.
    pub v1: String,
}

impl ServiceScope {
    pub fn account_sid(&self) -> &str {
        self.principal.account_sid()
    }

    /// `chat_service_sid` as the service-family Message/Participant objects
    /// carry it (the account-family ones lack the field).
    pub fn chat_service_sid(&self) -> Option<&str> {
        self.explicit.then_some(self.service_sid.as_str())
    }
}

impl FromRequest for ServiceScope {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let principal = principal.await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("AppState missing"))?
                .clone();
            let v1 = format!("{}/v1", state.config.public_url);
            match req.match_info().get("service") {
                Some(service) => {
                    if !SidKind::Service.matches(service) {
                        return Err(ApiError::NotFound);
                    }
                    let (sid, account) = (service.to_owned(), principal.account_sid().to_owned());
                    let exists =
                        state.db.run(move |conn| Ok(services::exists(conn, &account, &sid)?)).await?;
                    if !exists {
                        return Err(ApiError::NotFound);
                    }
                    Ok(ServiceScope {
                        prefix: format!("{v1}/Services/{service}"),
                        service_sid: service.to_owned(),
                        explicit: true,
                        principal,
                        v1,
                    })
                }
                None => {
                    let service_sid =
                        principal.account().default_service_sid.clone().ok_or(ApiError::NotFound)?;
                    Ok(ServiceScope { prefix: v1.clone(), service_sid, explicit: false, principal, v1 })
                }
            }
        })
    }
}
