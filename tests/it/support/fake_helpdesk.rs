//! A fake helpdesk API on loopback: an axum server on port 0 that answers the Zendesk, Freshdesk
//! and Zammad calls triage makes, in their real shapes, records every request, and can be told to
//! answer 429 with `Retry-After`, 500, or hang.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

/// How the fake answers the next request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    Ok,
    TooMany {
        retry_after_secs: u64,
    },
    ServerError,
    /// 422: the helpdesk refuses the call for good (a closed ticket, say).
    Refuse,
    /// Never answers (until the client gives up).
    Hang,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub raw: String,
    /// What the fake answered.
    pub answer: Answer,
}

#[derive(Default)]
struct Inner {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Answer>>,
    /// Answer used when the script is empty.
    default: Mutex<Option<Answer>>,
    next_id: AtomicI64,
}

#[derive(Clone)]
pub struct FakeHelpdesk {
    pub address: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeHelpdesk {
    pub async fn start() -> FakeHelpdesk {
        FakeHelpdesk::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(address: &str) -> FakeHelpdesk {
        let inner = Arc::new(Inner { next_id: AtomicI64::new(1000), ..Inner::default() });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeHelpdesk { address, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The next answers, in order; after them, `Ok` (or what `answer_always` set).
    pub fn script(&self, answers: &[Answer]) {
        self.inner.script.lock().unwrap().extend(answers.iter().copied());
    }

    pub fn answer_always(&self, answer: Answer) {
        *self.inner.default.lock().unwrap() = Some(answer);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Requests that the fake answered with success.
    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.answer == Answer::Ok).collect()
    }

    /// Waits until `n` requests were accepted, or `within` passes; returns them.
    pub async fn wait_accepted(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let until = Instant::now() + within;
        loop {
            let got = self.accepted();
            if got.len() >= n || Instant::now() > until {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_requests(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let until = Instant::now() + within;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() > until {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let answer = inner.script.lock().unwrap().pop_front().or(*inner.default.lock().unwrap()).unwrap_or(Answer::Ok);
    let raw = String::from_utf8_lossy(&body).into_owned();
    inner.requests.lock().unwrap().push(Recorded {
        method: method.clone(),
        path: uri.path().to_string(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw,
        answer,
    });
    match answer {
        Answer::TooMany { retry_after_secs } => {
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", retry_after_secs.to_string())], "{\"error\":\"slow down\"}")
                .into_response()
        }
        Answer::ServerError => return (StatusCode::INTERNAL_SERVER_ERROR, "{\"error\":\"oops\"}").into_response(),
        Answer::Refuse => return (StatusCode::UNPROCESSABLE_ENTITY, "{\"error\":\"RecordInvalid\"}").into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Answer::Ok => {}
    }
    let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
    let path = uri.path();
    // The shapes the real APIs answer with, cut to what triage reads.
    let body = if path.starts_with("/api/v2/tickets/") && path.ends_with(".json") {
        json!({ "ticket": { "id": 1 }, "audit": { "id": id, "events": [ { "type": "Comment", "id": id + 1 } ] } })
    } else if path.ends_with("/reply") || path.ends_with("/notes") {
        json!({ "id": id })
    } else if path.starts_with("/api/v2/tickets/") && method == Method::GET {
        json!({ "id": 1, "tags": ["existing"] })
    } else if path == "/api/v1/ticket_articles" {
        json!({ "id": id, "ticket_id": 1 })
    } else if path == "/api/v1/tags/add" {
        json!(true)
    } else {
        json!({})
    };
    let status = if method == Method::POST && path != "/api/v1/tags/add" { StatusCode::CREATED } else { StatusCode::OK };
    (status, axum::Json(body)).into_response()
}
