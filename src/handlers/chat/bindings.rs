//! Chat's Bindings (`/v2/Services/{IS}/Bindings`) and a user's
//! (`/v2/Services/{IS}/Users/{US}/Bindings`): the push registrations of
//! `handlers::bindings`, in Chat's shapes.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::handlers::bindings::{self, Registration, filter_pairs, filter_params};
use crate::views::chat::bindings::{Binding, UserBinding};

use super::{Named, chat, urls};

#[derive(Deserialize)]
pub struct BindingPath {
    binding: String,
}

#[derive(Deserialize)]
pub struct UserPath {
    user: String,
}

#[derive(Deserialize)]
pub struct UserBindingPath {
    user: String,
    binding: String,
}

fn user_named(user: &str) -> Named {
    Named { user: Some(user.to_owned()), ..Named::default() }
}

/// Registers a device (Confab's registration endpoint; see `handlers::bindings`).
pub async fn create(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let reg = Registration::from_params(&p)?;
    let (scope, (row, created)) = chat!(caller, Named::default(), bindings::register(&caller, reg));
    let view = Binding::new(row, &urls(&caller, &scope));
    Ok(if created { api::created(view) } else { api::ok(view) })
}

pub async fn fetch(caller: Caller, path: web::Path<BindingPath>) -> ApiResult<HttpResponse> {
    let (scope, row) =
        chat!(caller, Named::default(), bindings::fetch(&caller, path.into_inner().binding, None));
    Ok(api::ok(Binding::new(row, &urls(&caller, &scope))))
}

pub async fn delete(caller: Caller, path: web::Path<BindingPath>) -> ApiResult<HttpResponse> {
    chat!(caller, Named::default(), bindings::delete(&caller, path.into_inner().binding, None));
    Ok(api::no_content())
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let filter = filter_params(&q, true)?;
    let pairs: Vec<(String, String)> =
        filter_pairs(&filter).into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let page = PageRequest::from_params(&q, 50, "bindings")?;
    let seek = page.seek(false);
    let (scope, (_, rows)) = chat!(caller, Named::default(), bindings::list(&caller, filter, seek.query));
    let urls = urls(&caller, &scope);
    let window = seek.finish(rows, |r| r.id).map(|r| Binding::new(r, &urls));
    let url = format!("{}/Bindings", urls.service);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Ok(ListPage::new("bindings", &url, &pairs, &page, window).respond())
}

pub async fn fetch_for_user(caller: Caller, path: web::Path<UserBindingPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let (scope, row) = chat!(
        caller,
        user_named(&path.user),
        bindings::fetch(&caller, path.binding, Some(path.user.clone()))
    );
    Ok(api::ok(UserBinding::new(row, &urls(&caller, &scope))))
}

pub async fn delete_for_user(caller: Caller, path: web::Path<UserBindingPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    chat!(caller, user_named(&path.user), bindings::delete(&caller, path.binding, Some(path.user.clone())));
    Ok(api::no_content())
}

pub async fn list_for_user(
    caller: Caller,
    path: web::Path<UserPath>,
    Query(q): Query,
) -> ApiResult<HttpResponse> {
    let mut filter = filter_params(&q, false)?;
    let pairs: Vec<(String, String)> =
        filter_pairs(&filter).into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let user = path.into_inner().user;
    filter.user_sid = Some(user.clone());
    let page = PageRequest::from_params(&q, 50, "bindings")?;
    let seek = page.seek(false);
    let (scope, (user_sid, rows)) =
        chat!(caller, user_named(&user), bindings::list(&caller, filter, seek.query));
    let urls = urls(&caller, &scope);
    let window = seek.finish(rows, |r| r.id).map(|r| UserBinding::new(r, &urls));
    let url = format!("{}/Users/{}/Bindings", urls.service, user_sid.unwrap_or(user));
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Ok(ListPage::new("bindings", &url, &pairs, &page, window).respond())
}
