//! Logging and metrics: a tracing subscriber, one span plus one line per
//! request, and the Prometheus recorder behind `/metrics`.
//!
//! The request span records method, path (never the query string: temporary
//! media URLs carry their signature there), status, latency and the
//! request id. Headers, and so credentials, are never recorded. Request
//! metrics are labelled by route pattern (`/v1/Conversations/{sid}`), not
//! path, so their number stays bounded.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::LogFormat;

/// Installs the global subscriber (once per process; later calls are no-ops).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

#[derive(Clone, Copy)]
struct Started(Instant);

pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(req: &ServiceRequest) -> Span {
        req.extensions_mut().insert(Started(Instant::now()));
        let request_id = req.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default();
        tracing::info_span!(
            "request",
            method = %req.method(),
            path = %req.path(),
            request_id = %request_id,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, started) = match outcome {
            Ok(res) => (res.status().as_u16(), res.request().extensions().get::<Started>().copied()),
            Err(e) => (e.as_response_error().status_code().as_u16(), None),
        };
        let latency_ms = started.map(|s| s.0.elapsed().as_secs_f64() * 1000.0);
        span.record("status", status);
        if let Some(ms) = latency_ms {
            span.record("latency_ms", ms);
        }
        span.in_scope(|| {
            tracing::info!(status, latency_ms = latency_ms.unwrap_or_default(), "request finished");
        });
        if let (Ok(res), Some(ms), Some(_)) = (outcome, latency_ms, RECORDER.get()) {
            let req = res.request();
            let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
            // Only the methods routes answer: any other string a client sends
            // would be a new series.
            let method = match req.method().as_str() {
                m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "PATCH") => m,
                _ => "OTHER",
            };
            let labels = [("method", method.to_owned()), ("route", route), ("status", status.to_string())];
            metrics::counter!("confab_http_requests_total", &labels).increment(1);
            metrics::histogram!("confab_http_request_duration_seconds", &labels).record(ms / 1000.0);
        }
    }
}

/// Latency buckets (seconds) of every `_seconds` histogram: 0.5 ms to 30 s.
const BUCKETS: [f64; 16] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0];

/// How often histograms are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's metrics recorder (once; later calls return the
/// same handle). Until it is installed, recording a metric does nothing.
pub fn install_metrics() -> &'static PrometheusHandle {
    RECORDER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics shows nothing of Confab's");
        }
        describe_metrics();
        // Histogram samples wait in the recorder until folded in: without
        // scrapes they would pile up.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        handle
    })
}

/// The metrics in Prometheus' text format, if a recorder is installed.
pub fn render_metrics() -> Option<String> {
    RECORDER.get().map(PrometheusHandle::render)
}

/// The `# HELP` line of each metric.
fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("confab_http_requests_total", "Requests answered, by method, route pattern and status");
    describe_histogram!(
        "confab_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request (to its response head; streamed bodies continue), by method, route and status"
    );
    describe_histogram!(
        "confab_db_pool_wait_seconds",
        Unit::Seconds,
        "Time to get a database connection from the pool"
    );
    describe_counter!(
        "confab_db_connections_lost_total",
        "Pooled connections found dead (database restart or outage) and dropped"
    );
    describe_gauge!("confab_db_pool_connections", "Open connections per pool");
    describe_gauge!("confab_db_pool_idle_connections", "Idle connections per pool");
    describe_gauge!("confab_upload_slots", "Uploads that may stream at once on this instance");
    describe_gauge!("confab_upload_slots_in_use", "Uploads streaming now");
    describe_gauge!("confab_uploads_queued", "Uploads waiting for a slot");
    describe_gauge!(
        "confab_end_user_uploads_in_progress",
        "End users' uploads in progress (each user has a share)"
    );
    describe_counter!("confab_media_uploaded_bytes_total", Unit::Bytes, "Media bytes received");
    describe_counter!("confab_media_downloaded_bytes_total", Unit::Bytes, "Media bytes sent");
    describe_counter!("confab_collector_runs_total", "Collector passes");
    describe_counter!(
        "confab_collector_media_expired_total",
        "Media rows the collector removed (unattached too long, or abandoned uploads)"
    );
    describe_counter!("confab_collector_objects_deleted_total", "Stored objects the collector deleted");
    describe_counter!(
        "confab_collector_objects_failed_total",
        "Object deletions that failed (retried later)"
    );
    describe_gauge!("confab_event_streams_open", "WebSocket event streams open on this instance");
    describe_counter!(
        "confab_webhook_attempts_total",
        "Webhook delivery attempts, by outcome (done, retry, unsent)"
    );
    describe_histogram!(
        "confab_webhook_delivery_lag_seconds",
        Unit::Seconds,
        "How long after it was due a webhook attempt went out"
    );
}
