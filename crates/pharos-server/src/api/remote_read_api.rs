//! `POST /api/v1/read`: remote read served from local storage, with the server's external
//! labels, under `--storage.remote.read-*` limits. Samples responses are one snappy body;
//! streamed chunk responses are sent frame by frame as storage is read.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pharos_model::Labels;
use pharos_remote::read_handler::{
    decode_request, samples_outcome, stream_chunks, ReadOutcome, STREAMED_CONTENT_TYPE,
};
use pharos_remote::read_message::ResponseType;
use tokio::sync::mpsc;

use crate::server::AppState;

/// Frames in flight between the storage reader and the connection; bounds memory per request.
const FRAMES_IN_FLIGHT: usize = 4;

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn outcome_response(outcome: ReadOutcome) -> Response {
    if outcome.status >= 400 {
        tracing::warn!(status = outcome.status, error = %String::from_utf8_lossy(&outcome.body).trim_end(), "remote read request failed");
    }
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, outcome.body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(outcome.content_type),
    );
    if let Some(enc) = outcome.content_encoding {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    response
}

/// What the storage reader sends to the connection.
enum StreamMessage {
    Frame(Bytes),
    Failed(u16, String),
}

/// A response body fed by the storage reader through a bounded channel.
struct FrameBody {
    first: Option<Bytes>,
    rx: mpsc::Receiver<StreamMessage>,
}

impl http_body::Body for FrameBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if let Some(b) = self.first.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(b))));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(StreamMessage::Frame(b))) => {
                Poll::Ready(Some(Ok(http_body::Frame::data(b))))
            }
            // Headers are gone already: aborting the body is how the client learns of it.
            Poll::Ready(Some(StreamMessage::Failed(status, message))) => {
                tracing::warn!(status, error = %message, "remote read stream failed midway");
                Poll::Ready(Some(Err(std::io::Error::other(message))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Answers one remote read request.
pub async fn read(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    // Like Prometheus, requests over the concurrency limit wait for a slot.
    let permit = match &st.remote_read.gate {
        Some(gate) => match gate.clone().acquire_owned().await {
            Ok(p) => Some(p),
            Err(_) => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server is shutting down\n".into(),
                )
            }
        },
        None => None,
    };
    let external = Labels::from_pairs(
        st.loaded_config()
            .config
            .global
            .external_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let (req, kind) = match decode_request(&body) {
        Ok(r) => r,
        Err(outcome) => return outcome_response(outcome),
    };
    if kind != ResponseType::StreamedXorChunks {
        let st2 = st.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            samples_outcome(&*st2.db, &external, &st2.remote_read.limits, &req)
        })
        .await;
        return match outcome {
            Ok(o) => outcome_response(o),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("remote read handler failed: {e}\n"),
            ),
        };
    }
    let (tx, mut rx) = mpsc::channel::<StreamMessage>(FRAMES_IN_FLIGHT);
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let result = stream_chunks(
            &*st2.db,
            &external,
            &st2.remote_read.limits,
            &req,
            &mut |frame| tx.blocking_send(StreamMessage::Frame(frame.into())).is_ok(),
        );
        if let Err((status, message)) = result {
            let _ = tx.blocking_send(StreamMessage::Failed(status, message));
        }
    });
    // An error before the first frame still gets a proper status, as in Prometheus.
    let first = match rx.recv().await {
        Some(StreamMessage::Frame(b)) => Some(b),
        Some(StreamMessage::Failed(status, message)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            tracing::warn!(status = status.as_u16(), error = %message, "remote read request failed");
            return text(status, format!("{message}\n"));
        }
        None => None,
    };
    let mut response = Body::new(FrameBody { first, rx }).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(STREAMED_CONTENT_TYPE),
    );
    response
}
