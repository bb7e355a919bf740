//! The application: the actix `App` with its middleware, and the server's
//! start (with the background work beside it).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{App, HttpResponse, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::background;
use crate::config::Config;
use crate::error::{ApiError, Code, ErrorBody, NotFoundCode};
use crate::routes;
use crate::telemetry::RequestSpan;

pub use crate::state::AppState;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
        .app_data(state.auth.clone())
        .app_data(crate::api::BodyTimeout(state.config.body_timeout))
        .app_data(state)
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        .app_data(
            web::QueryConfig::default().error_handler(|e, _| ApiError::invalid_param("query", e).into()),
        )
        .wrap(ErrorHandlers::new().default_handler(twilio_error_bodies))
        .wrap(TracingLogger::<RequestSpan>::new())
        .configure(routes::routes)
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
            let code = res.response().extensions().get::<NotFoundCode>().map_or(Code::NotFound, |c| c.0);
            // Chat's texts name the path below its version, as Twilio's did.
            let path = res.request().path();
            let path = if path.starts_with("/v2/") { &path[3..] } else { path };
            (code, format!("The requested resource {path} was not found"))
        }
        StatusCode::METHOD_NOT_ALLOWED => (Code::MethodNotAllowed, "Method not allowed".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => (Code::PayloadTooLarge, "Request body too large".to_owned()),
        StatusCode::UNAUTHORIZED => (Code::Authenticate, "Authenticate".to_owned()),
        s if s.is_server_error() => (Code::Internal, "An internal server error has occurred".to_owned()),
        s => (Code::InvalidParameter, s.canonical_reason().unwrap_or("Bad request").to_owned()),
    };
    // What the caller needs to retry differently survives the new body.
    let kept: Vec<_> = [header::ALLOW, header::RETRY_AFTER]
        .into_iter()
        .filter_map(|name| res.headers().get(&name).cloned().map(|value| (name, value)))
        .collect();
    let (req, _) = res.into_parts();
    let mut response = ErrorBody::new(status, code, message).into_response();
    for (name, value) in kept {
        response.headers_mut().insert(name, value);
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, response).map_into_right_body()))
}

/// Starts the server on the configured address and runs until a signal.
pub fn serve(config: Config) -> Result<(), BoxError> {
    let bind = config.bind;
    let workers = config.workers;
    let state = AppState::initialize(config)?;
    state.bootstrap_accounts()?;
    let public_url = state.config.public_url.clone();
    let data = web::Data::new(state);
    actix_web::rt::System::new().block_on(async move {
        let app_data = data.clone();
        let server = HttpServer::new(move || build(app_data.clone()))
            .workers(workers)
            .shutdown_timeout(30)
            .bind(bind)
            .map_err(|e| format!("CONFAB_BIND: cannot listen on {bind}: {e}"))?
            .run();
        tracing::info!(%bind, %public_url, "confab listening");
        let metrics = match data.config.metrics.bind {
            Some(at) => {
                let metrics_data = data.clone();
                let listener = HttpServer::new(move || {
                    App::new()
                        .app_data(metrics_data.clone())
                        .route("/metrics", web::get().to(crate::handlers::metrics::private))
                })
                .workers(1)
                .disable_signals()
                .bind(at)
                .map_err(|e| format!("CONFAB_METRICS_BIND: cannot listen on {at}: {e}"))?
                .run();
                tracing::info!(%at, "metrics listening");
                Some(listener)
            }
            None => None,
        };
        let metrics_handle = metrics.as_ref().map(actix_web::dev::Server::handle);
        if let Some(listener) = metrics {
            actix_web::rt::spawn(listener);
        }
        let background = background::start(&data);
        let result = server.await;
        drop(background);
        if let Some(handle) = metrics_handle {
            handle.stop(true).await;
        }
        result.map_err(BoxError::from)
    })
}
