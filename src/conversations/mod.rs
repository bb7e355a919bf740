//! The Conversations v1 resources and their routes.

pub mod configuration;
#[allow(clippy::module_inception)]
pub mod conversations;
pub mod memberships;
pub mod messages;
pub mod participants;
pub mod services;
pub mod users;

use std::time::Duration;

use actix_web::web;

use crate::db::Db;
use crate::roles;

/// Resources that exist once per service. Mounted twice: under `/v1`
/// (the account's default service) and under `/v1/Services/{service}`.
pub fn service_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/Conversations").get(conversations::list).post(conversations::create))
        .service(
            web::resource("/Conversations/{conversation}")
                .get(conversations::fetch)
                .post(conversations::update)
                .delete(conversations::delete),
        )
        .service(
            web::resource("/Conversations/{conversation}/Participants")
                .get(participants::list)
                .post(participants::create),
        )
        .service(
            web::resource("/Conversations/{conversation}/Participants/{participant}")
                .get(participants::fetch)
                .post(participants::update)
                .delete(participants::delete),
        )
        .service(
            web::resource("/Conversations/{conversation}/Messages")
                .get(messages::list)
                .post(messages::create),
        )
        .service(
            web::resource("/Conversations/{conversation}/Messages/{message}")
                .get(messages::fetch)
                .post(messages::update)
                .delete(messages::delete),
        )
        .service(web::resource("/ConversationWithParticipants").post(memberships::create_with_participants))
        .service(web::resource("/ParticipantConversations").get(memberships::list_participant_conversations))
        .service(web::resource("/Users").get(users::list).post(users::create))
        .service(web::resource("/Users/{user}").get(users::fetch).post(users::update).delete(users::delete))
        .service(web::resource("/Users/{user}/Conversations").get(memberships::list_user_conversations))
        .service(
            web::resource("/Users/{user}/Conversations/{conversation}")
                .get(memberships::fetch_user_conversation)
                .post(memberships::update_user_conversation)
                .delete(memberships::delete_user_conversation),
        )
        .service(web::resource("/Roles").get(roles::list).post(roles::create))
        .service(web::resource("/Roles/{role}").get(roles::fetch).post(roles::update).delete(roles::delete));
}

/// Background task: applies conversation state timers every `interval`.
/// Idempotent UPDATEs, so several instances may run it side by side.
pub async fn run_timers(db: Db, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = crate::api::time::now();
        match db.write(move |conn| Ok(conversations::apply_due_timers(conn, now)?)).await {
            Ok((0, 0)) => {}
            Ok((inactive, closed)) => tracing::info!(inactive, closed, "conversation timers applied"),
            Err(e) => tracing::warn!(error = %e, "conversation timers failed"),
        }
    }
}
