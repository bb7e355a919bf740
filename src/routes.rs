//! The route table of the whole API.

use actix_web::web;

use crate::handlers::chat;
use crate::handlers::conversations::{
    configuration, conversations, memberships, messages, participants, roles, services, users, webhooks,
};
use crate::handlers::{
    api_keys, assets, bindings, console, events, health, media, metrics, push_credentials,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(health::healthz))
        .service(web::resource("/metrics").get(metrics::public))
        .service(web::resource("/").get(assets::index))
        .service(web::resource("/confab.js").get(assets::client_library))
        .service(web::resource("/console/token").post(console::token))
        .service(web::resource("/console/config").get(console::config))
        .service(web::resource("/console/{name}").get(assets::console_file))
        .service(
            web::resource("/2010-04-01/Accounts/{account}/Keys.json")
                .get(api_keys::list)
                .post(api_keys::create),
        )
        .service(
            web::resource("/2010-04-01/Accounts/{account}/Keys/{key}.json")
                .get(api_keys::fetch)
                .post(api_keys::update)
                .delete(api_keys::delete),
        )
        .service(
            web::scope("/v1")
                .service(web::resource("/Events").get(events::stream))
                .service(
                    web::resource("/Configuration").get(configuration::fetch).post(configuration::update),
                )
                .service(
                    web::resource("/Configuration/Webhooks")
                        .get(webhooks::fetch_account)
                        .post(webhooks::update_account),
                )
                .configure(credential_routes)
                .service(web::resource("/Services").get(services::list).post(services::create))
                .service(web::resource("/Services/{service}").get(services::fetch).delete(services::delete))
                .service(
                    web::resource("/Services/{service}/Configuration")
                        .get(configuration::fetch_service)
                        .post(configuration::update_service),
                )
                .service(
                    web::resource("/Services/{service}/Configuration/Webhooks")
                        .get(webhooks::fetch_service)
                        .post(webhooks::update_service),
                )
                .service(
                    web::resource("/Services/{service}/Bindings")
                        .get(bindings::list_v1)
                        .post(bindings::create_v1),
                )
                .service(
                    web::resource("/Services/{service}/Bindings/{binding}")
                        .get(bindings::fetch_v1)
                        .delete(bindings::delete_v1),
                )
                .service(web::scope("/Services/{service}").configure(media_routes).configure(service_routes))
                .configure(service_routes),
        )
        .service(web::scope("/v2").configure(credential_routes).configure(chat_routes))
        .service(web::resource("/v3/Services/{service}/Channels/{channel}").post(chat::channels::update_v3));
}

/// Programmable Chat v2: the same rows as Conversations, in Chat's shapes.
fn chat_routes(cfg: &mut web::ServiceConfig) {
    use chat::{bindings, channels, invites, members, messages, roles, services, users, webhooks};
    cfg.service(web::resource("/Services").get(services::list).post(services::create))
        .service(
            web::resource("/Services/{service}")
                .get(services::fetch)
                .post(services::update)
                .delete(services::delete),
        )
        .service(
            web::scope("/Services/{service}")
                .service(web::resource("/Channels").get(channels::list).post(channels::create))
                .service(
                    web::resource("/Channels/{channel}")
                        .get(channels::fetch)
                        .post(channels::update)
                        .delete(channels::delete),
                )
                .service(
                    web::resource("/Channels/{channel}/Members").get(members::list).post(members::create),
                )
                .service(
                    web::resource("/Channels/{channel}/Members/{member}")
                        .get(members::fetch)
                        .post(members::update)
                        .delete(members::delete),
                )
                .service(
                    web::resource("/Channels/{channel}/Messages").get(messages::list).post(messages::create),
                )
                .service(
                    web::resource("/Channels/{channel}/Messages/{message}")
                        .get(messages::fetch)
                        .post(messages::update)
                        .delete(messages::delete),
                )
                .service(
                    web::resource("/Channels/{channel}/Invites").get(invites::list).post(invites::create),
                )
                .service(
                    web::resource("/Channels/{channel}/Invites/{invite}")
                        .get(invites::fetch)
                        .delete(invites::delete),
                )
                .service(
                    web::resource("/Channels/{channel}/Webhooks").get(webhooks::list).post(webhooks::create),
                )
                .service(
                    web::resource("/Channels/{channel}/Webhooks/{webhook}")
                        .get(webhooks::fetch)
                        .post(webhooks::update)
                        .delete(webhooks::delete),
                )
                .service(web::resource("/Roles").get(roles::list).post(roles::create))
                .service(
                    web::resource("/Roles/{role}")
                        .get(roles::fetch)
                        .post(roles::update)
                        .delete(roles::delete),
                )
                .service(web::resource("/Users").get(users::list).post(users::create))
                .service(
                    web::resource("/Users/{user}")
                        .get(users::fetch)
                        .post(users::update)
                        .delete(users::delete),
                )
                .service(web::resource("/Users/{user}/Channels").get(users::list_channels))
                .service(web::resource("/Users/{user}/Bindings").get(bindings::list_for_user))
                .service(
                    web::resource("/Users/{user}/Bindings/{binding}")
                        .get(bindings::fetch_for_user)
                        .delete(bindings::delete_for_user),
                )
                .service(web::resource("/Bindings").get(bindings::list).post(bindings::create))
                .service(web::resource("/Bindings/{binding}").get(bindings::fetch).delete(bindings::delete))
                .service(
                    web::resource("/Users/{user}/Channels/{channel}")
                        .get(users::fetch_channel)
                        .post(users::update_channel)
                        .delete(users::delete_channel),
                ),
        );
}

/// Push credentials: the same resource under `/v1` and Chat's `/v2`.
fn credential_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/Credentials").get(push_credentials::list).post(push_credentials::create))
        .service(
            web::resource("/Credentials/{credential}")
                .get(push_credentials::fetch)
                .post(push_credentials::update)
                .delete(push_credentials::delete),
        );
}

/// The Media Content Service, under `/v1/Services/{service}`.
fn media_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/Media").post(media::upload::create))
        .service(web::resource("/MediaSet").post(media::metadata::media_set))
        .service(web::resource("/Media/{media}").get(media::metadata::fetch))
        .service(
            web::resource("/Media/{media}/Content")
                .get(media::download::content)
                .route(web::head().to(media::download::content)),
        );
}

/// Resources that exist once per service. Mounted twice: under `/v1`
/// (the account's default service) and under `/v1/Services/{service}`.
fn service_routes(cfg: &mut web::ServiceConfig) {
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
        .service(
            web::resource("/Conversations/{conversation}/Webhooks")
                .get(webhooks::list)
                .post(webhooks::create),
        )
        .service(
            web::resource("/Conversations/{conversation}/Webhooks/{webhook}")
                .get(webhooks::fetch)
                .post(webhooks::update)
                .delete(webhooks::delete),
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
