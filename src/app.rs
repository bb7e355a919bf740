//! Application state, the route table, middleware, and the server's start.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{App, HttpResponse, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::auth::access_token::TokenVerifier;
use crate::auth::accounts;
use crate::auth::basic::Authenticator;
use crate::config::Config;
use crate::conversations::{self, configuration, services};
use crate::db::{Db, migrations};
use crate::error::{ApiError, ErrorBody, codes};
use crate::media::{self, MediaState};
use crate::telemetry::RequestSpan;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Shared by every worker; cheap to clone behind `web::Data`.
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub auth: Authenticator,
    pub tokens: TokenVerifier,
    pub media: MediaState,
}

impl AppState {
    /// Connects to the database and applies pending migrations. Blocking:
    /// call before the server starts (or from a blocking context).
    pub fn initialize(config: Config) -> Result<AppState, BoxError> {
        // The embedded defaults keep their files here: say so by name if it
        // cannot be made, rather than as a database or key-file error later.
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("CONFAB_DATA_DIR: cannot create {}: {e}", config.data_dir.display()))?;
        let db = Db::connect(&config.database_url, config.db_pool_size)
            .map_err(|e| format!("DATABASE_URL: cannot connect to {:?}: {e}", config.database_url))?;
        let mut conn = db.get().map_err(|e| format!("DATABASE_URL: cannot connect: {e}"))?;
        let applied = migrations::run_pending(&mut conn).map_err(|e| format!("migrations failed: {e}"))?;
        drop(conn);
        for name in &applied {
            tracing::info!(migration = %name, "migration applied");
        }
        Ok(AppState {
            auth: Authenticator::new(config.auth_cache_ttl, config.hash_cost),
            tokens: TokenVerifier::new(config.auth_cache_ttl),
            media: MediaState::new(&config)?,
            config: Arc::new(config),
            db,
        })
    }

    /// `CONFAB_ACCOUNT_SID`/`CONFAB_AUTH_TOKEN` create that account if it is
    /// missing; with neither set and no account at all, one is created and
    /// its credentials printed once to stderr.
    pub fn bootstrap_accounts(&self) -> Result<(), BoxError> {
        let mut conn = self.db.get()?;
        let cost = self.config.hash_cost;
        let bootstrap = self.config.bootstrap_account.clone();
        // Under the start-up lock: instances starting together create the
        // account once between them.
        migrations::exclusive(&mut conn, |conn| {
            match &bootstrap {
                Some((sid, token)) => {
                    if accounts::find(conn, sid)?.is_none() {
                        accounts::create(conn, "Confab account", Some(sid), Some(token), cost)
                            .map_err(|e| format!("creating CONFAB_ACCOUNT_SID account: {e}"))?;
                        tracing::info!(account_sid = %sid, "account created from CONFAB_ACCOUNT_SID");
                    }
                }
                None => {
                    if accounts::count(conn)? == 0 {
                        let creds = accounts::create(conn, "Confab account", None, None, cost)
                            .map_err(|e| format!("creating the first account: {e}"))?;
                        eprintln!(
                            "\nConfab created an account (shown once; keep the token):\n  Account SID: {}\n  Auth Token:  {}\n",
                            creds.account_sid, creds.auth_token
                        );
                    }
                }
            }
            Ok(())
        })
    }
}

/// The whole route table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(healthz))
        .service(web::resource("/").get(index))
        .configure(crate::auth::api_keys::routes)
        .service(
            web::scope("/v1")
                .service(
                    web::resource("/Configuration").get(configuration::fetch).post(configuration::update),
                )
                .service(web::resource("/Services").get(services::list).post(services::create))
                .service(web::resource("/Services/{service}").get(services::fetch).delete(services::delete))
                .service(
                    web::resource("/Services/{service}/Configuration")
                        .get(configuration::fetch_service)
                        .post(configuration::update_service),
                )
                .service(
                    web::scope("/Services/{service}")
                        .configure(media::routes)
                        .configure(conversations::service_routes),
                )
                .configure(conversations::service_routes),
        );
}

/// The application as the server and the tests run it.
pub fn build(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        .app_data(
            web::QueryConfig::default().error_handler(|e, _| ApiError::invalid_param("query", e).into()),
        )
        .wrap(ErrorHandlers::new().default_handler(twilio_error_bodies))
        .wrap(TracingLogger::<RequestSpan>::new())
        .configure(routes)
        .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::NotFound) }))
}

/// Gives every error response Twilio's JSON body: 404s name the requested
/// path, and errors produced by actix itself (405, 413, …) get one too.
fn twilio_error_bodies<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json && status != StatusCode::NOT_FOUND {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => {
            (codes::NOT_FOUND, format!("The requested resource {} was not found", res.request().path()))
        }
        StatusCode::METHOD_NOT_ALLOWED => (codes::METHOD_NOT_ALLOWED, "Method not allowed".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => (codes::PAYLOAD_TOO_LARGE, "Request body too large".to_owned()),
        StatusCode::UNAUTHORIZED => (codes::AUTHENTICATE, "Authenticate".to_owned()),
        s if s.is_server_error() => (codes::INTERNAL, "An internal server error has occurred".to_owned()),
        s => (codes::INVALID_PARAMETER, s.canonical_reason().unwrap_or("Bad request").to_owned()),
    };
    let (req, _) = res.into_parts();
    let response = ErrorBody::new(status, code, message).into_response();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, response).map_into_right_body()))
}

async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.ping().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")))
        .body(include_str!("../static/index.html"))
}

/// Starts the server on the configured address and runs until a signal.
pub fn serve(config: Config) -> Result<(), BoxError> {
    let bind = config.bind;
    let workers = config.workers;
    let timers_interval = config.timers_interval;
    let state = AppState::initialize(config)?;
    state.bootstrap_accounts()?;
    let db = state.db.clone();
    let public_url = state.config.public_url.clone();
    let data = web::Data::new(state);
    let collector_state = data.clone();
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || build(data.clone()))
            .workers(workers)
            .shutdown_timeout(30)
            .bind(bind)
            .map_err(|e| format!("CONFAB_BIND: cannot listen on {bind}: {e}"))?
            .run();
        tracing::info!(%bind, %public_url, "confab listening");
        let timers = actix_web::rt::spawn(conversations::run_timers(db, timers_interval));
        let collector = actix_web::rt::spawn(media::gc::run(collector_state));
        let result = server.await;
        timers.abort();
        collector.abort();
        result.map_err(BoxError::from)
    })
}
