//! The two path families: `/v1/…` acts on the account's default service,
//! `/v1/Services/{IS}/…` on an explicit one. Handlers are shared; the scope
//! says who acts, on which service, and how to spell URLs back.

use crate::api::Urls;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::sid::SidKind;
use crate::store;

use super::{EndUser, Principal};

#[derive(Debug, Clone)]
pub struct ServiceScope {
    pub principal: Principal,
    pub service_sid: String,
    pub urls: Urls,
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
            let urls = Urls::new(v1, service.is_some().then_some(own.as_str()));
            return Ok(ServiceScope { principal, service_sid: own, urls });
        }
        let service_sid = match service {
            Some(service) => {
                let owned = match principal.owns_service(service) {
                    Some(owned) => owned,
                    None => {
                        SidKind::Service.matches(service)
                            && store::services::exists(conn, principal.account_sid(), service)?
                    }
                };
                if !owned {
                    return Err(ApiError::NotFound);
                }
                service.to_owned()
            }
            None => {
                principal.account().and_then(|a| a.default_service_sid.clone()).ok_or(ApiError::NotFound)?
            }
        };
        let urls = Urls::new(v1, service.map(|_| service_sid.as_str()));
        Ok(ServiceScope { principal, service_sid, urls })
    }

    pub fn account_sid(&self) -> &str {
        self.principal.account_sid()
    }

    /// The access token's user, when the caller is one.
    pub fn end_user(&self) -> Option<&EndUser> {
        self.principal.end_user()
    }

    /// Administration (roles): account credentials only, 403 for tokens.
    pub fn require_account_credentials(&self) -> Result<(), ApiError> {
        self.principal.require_account_credentials()
    }
}
