//! Prometheus metrics: requests, latency, classifications, replies and suppressions.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabel {
    pub category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabel, Histogram>,
    pub classifications: Family<CategoryLabel, Counter>,
    pub replies: Counter,
    pub suppressions: Family<ReasonLabel, Counter>,
    /// Failed bearer tokens and logins.
    pub auth_failures: Counter,
    /// Connections turned away at a cap.
    pub connections_refused: Counter,
    /// Connections never answered, closed at the cap in all to make room for new ones.
    pub connections_evicted: Counter,
    /// Helpdesk reply attempts, by helpdesk and outcome (sent, retried, failed).
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Webhooks refused for a bad or missing signature, by helpdesk.
    pub webhook_rejections: Family<HelpdeskLabel, Counter>,
    pub outbox_pending: Gauge,
    pub outbox_oldest_pending_seconds: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub helpdesk: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HelpdeskLabel {
    pub helpdesk: String,
}

impl Metrics {
    /// Metrics whose every sample carries `replica="NAME"`, so that the processes behind one
    /// load balancer can be told apart. Not `instance`: Prometheus sets that label itself from
    /// the scrape target, and renames a scraped one to `exported_instance`.
    pub fn for_replica(replica: &str) -> Metrics {
        let mut registry = Registry::with_prefix_and_labels("triage", [("replica".into(), replica.to_string().into())].into_iter());
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0].into_iter())
        });
        let classifications = Family::<CategoryLabel, Counter>::default();
        let replies = Counter::default();
        let suppressions = Family::<ReasonLabel, Counter>::default();
        registry.register("http_requests", "HTTP requests by route, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        registry.register("classifications", "Messages classified, by category", classifications.clone());
        registry.register("replies", "Replies decided to be posted", replies.clone());
        registry.register("suppressions", "Replies held back, by reason", suppressions.clone());
        let auth_failures = Counter::default();
        let connections_refused = Counter::default();
        registry.register("auth_failures", "Requests and logins with a wrong token or session", auth_failures.clone());
        registry.register("connections_refused", "Connections refused at the connection caps", connections_refused.clone());
        let connections_evicted = Counter::default();
        registry.register(
            "connections_evicted",
            "Connections never answered, closed at the connection cap to make room",
            connections_evicted.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let webhook_rejections = Family::<HelpdeskLabel, Counter>::default();
        let outbox_pending = Gauge::default();
        let outbox_oldest_pending_seconds = Gauge::default();
        registry.register("helpdesk_deliveries", "Helpdesk reply attempts by helpdesk and outcome", deliveries.clone());
        registry.register("helpdesk_webhook_rejections", "Helpdesk webhooks refused for their signature", webhook_rejections.clone());
        registry.register("outbox_pending", "Helpdesk replies waiting to be posted", outbox_pending.clone());
        registry.register(
            "outbox_oldest_pending_seconds",
            "Age of the oldest reply waiting to be posted",
            outbox_oldest_pending_seconds.clone(),
        );
        Metrics {
            deliveries,
            webhook_rejections,
            outbox_pending,
            outbox_oldest_pending_seconds,
            registry,
            requests,
            latency,
            classifications,
            replies,
            suppressions,
            auth_failures,
            connections_refused,
            connections_evicted,
        }
    }
}

impl Metrics {
    /// Counts one freshly stored case.
    pub fn record_case(&self, case: &crate::store::CaseRecord) {
        self.classifications.get_or_create(&CategoryLabel { category: case.category.clone() }).inc();
        match case.suppressed_reason {
            Some(reason) => {
                self.suppressions.get_or_create(&ReasonLabel { reason: reason.as_str().to_string() }).inc();
            }
            None => {
                self.replies.inc();
            }
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The method as a label: one of HTTP's own, or `other`. Anything a client sends would otherwise
/// become a series of its own, kept forever (100k made-up methods once took 700 MB).
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Route templates only (`/v1/cases/{id}`), never the path a client made up.
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method()).to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let m = &state.metrics;
    m.latency.get_or_create(&RouteLabel { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    m.requests.get_or_create(&RequestLabels { route, method, status: response.status().as_u16() }).inc();
    response
}

pub async fn get(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode()).into_response()
}
