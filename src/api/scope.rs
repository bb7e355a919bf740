//! The two path families: `/v1/…` acts on the account's default service,
//! `/v1/Services/{IS}/…` on an explicit one. Handlers are shared; the scope
//! says which service and how to spell URLs back.

use crate::auth::{EndUser, Principal};
use crate::conversations::services;
use crate::db::DbConnection;
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
    /// The service a request acts on: the one in its path (404 unless it
    /// belongs to the caller's account) or the account's default.
    pub fn resolve(
        conn: &mut DbConnection,
        principal: Principal,
        service: Option<&str>,
        v1: String,
    ) -> Result<ServiceScope, ApiError> {
        // An access token acts in its own service only; another service's
        // paths do not exist for it. (Its user row proves the service exists.)
        if let Some(user) = principal.end_user() {
            let own = user.service_sid.clone();
            if service.is_some_and(|s| s != own) {
                return Err(ApiError::NotFound);
            }
            let explicit = service.is_some();
            let prefix = if explicit { format!("{v1}/Services/{own}") } else { v1.clone() };
            return Ok(ServiceScope { principal, service_sid: own, explicit, prefix, v1 });
        }
        match service {
            Some(service) => {
                if !SidKind::Service.matches(service)
                    || !services::exists(conn, principal.account_sid(), service)?
                {
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
                let service_sid = principal
                    .account()
                    .and_then(|a| a.default_service_sid.clone())
                    .ok_or(ApiError::NotFound)?;
                Ok(ServiceScope { prefix: v1.clone(), service_sid, explicit: false, principal, v1 })
            }
        }
    }

    pub fn account_sid(&self) -> &str {
        self.principal.account_sid()
    }

    /// The access token's user, when the caller is one.
    pub fn end_user(&self) -> Option<&EndUser> {
        self.principal.end_user()
    }

    /// `chat_service_sid` as the service-family Message/Participant objects
    /// carry it (the account-family ones lack the field).
    pub fn chat_service_sid(&self) -> Option<&str> {
        self.explicit.then_some(self.service_sid.as_str())
    }
}
