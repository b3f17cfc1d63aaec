//! Time bounds on every RPC, as a tower layer in front of the services.
//!
//! 1. Until its response headers, a call is bounded by its deadline: the smaller of the client's
//!    `grpc-timeout` header and `server.rpc_timeout`. Past it the caller gets DEADLINE_EXCEEDED
//!    (tonic's own `Server::timeout` answers CANCELLED, which tells a client the wrong thing: gRPC
//!    says a server-side deadline expiry is DEADLINE_EXCEEDED).
//! 2. A unary response is complete with its headers. A stream's response (`Receive`, `Replay`)
//!    then lives as long as it keeps sending: it is bounded by `server.stream_idle_timeout`
//!    between two messages rather than by the RPC deadline, which would cut a healthy long stream.
//!    An idle stream ends with DEADLINE_EXCEEDED (reason `STREAM_IDLE`) and the client reconnects.
//!
//! Health checking and reflection are exempt from the idle bound: `Health/Watch` is quiet by
//! design.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body as HttpBody, Bytes, Frame, SizeHint};
use tonic::body::Body;
use tower::{Layer, Service};

use crate::error::Error;

/// Largest `grpc-timeout` value: "TimeoutValue: positive integer as ASCII string of at most 8
/// digits" (gRPC over HTTP/2, PROTOCOL-HTTP2.md).
const MAX_TIMEOUT_DIGITS: usize = 8;

/// Parses a `grpc-timeout` header value (`"<1-8 digits><H|M|S|m|u|n>"`). `None` when absent or
/// malformed: the server default then applies alone.
pub fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty()
        || digits.len() > MAX_TIMEOUT_DIGITS
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    // At most 8 digits: fits in u64 with room for the multiplication by 3600.
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The deadline of a request: the smaller of the client's and the server's.
pub fn effective_deadline(headers: &http::HeaderMap, server: Duration) -> Duration {
    headers
        .get("grpc-timeout")
        .and_then(|v| parse_grpc_timeout(v.as_bytes()))
        .map_or(server, |client| client.min(server))
}

/// The layer: `rpc_timeout` until response headers, `stream_idle` between response frames.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    rpc_timeout: Duration,
    stream_idle: Duration,
}

impl DeadlineLayer {
    /// Bounds every call by `rpc_timeout` (or the client's smaller deadline) and every response
    /// stream by `stream_idle` between frames.
    pub fn new(rpc_timeout: Duration, stream_idle: Duration) -> DeadlineLayer {
        DeadlineLayer {
            rpc_timeout,
            stream_idle,
        }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            bounds: *self,
        }
    }
}

/// See [`DeadlineLayer`].
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    bounds: DeadlineLayer,
}

impl<S> Service<http::Request<Body>> for Deadline<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let deadline = effective_deadline(req.headers(), self.bounds.rpc_timeout);
        let idle = (!super::limits::is_exempt(req.uri().path())).then_some(self.bounds.stream_idle);
        let fut = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout(deadline, fut).await {
                Ok(Ok(resp)) => Ok(match idle {
                    Some(idle) => resp.map(|body| Body::new(IdleBody::new(body, idle))),
                    None => resp,
                }),
                Ok(Err(e)) => Err(e),
                Err(_) => {
                    let status: tonic::Status = Error::DeadlineExceeded { after: deadline }.into();
                    Ok(status.into_http::<Body>())
                }
            }
        })
    }
}

/// A response body that ends with DEADLINE_EXCEEDED trailers when no frame comes for `idle`.
struct IdleBody {
    inner: Body,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    ended: bool,
}

impl std::fmt::Debug for IdleBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleBody")
            .field("idle", &self.idle)
            .field("ended", &self.ended)
            .finish()
    }
}

impl IdleBody {
    fn new(inner: Body, idle: Duration) -> IdleBody {
        IdleBody {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            ended: false,
        }
    }
}

impl HttpBody for IdleBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(frame)) => {
                let next = tokio::time::Instant::now() + self.idle;
                self.timer.as_mut().reset(next);
                return Poll::Ready(Some(frame));
            }
            Poll::Ready(None) => {
                self.ended = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.ended = true;
                let status: tonic::Status = Error::StreamIdle { idle: self.idle }.into();
                let mut trailers = http::HeaderMap::new();
                // Only fails on a message that is not a valid header value; ours are ASCII.
                let _ = status.add_header(&mut trailers);
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tonic::Code;

    #[test]
    fn grpc_timeout_header_parses_per_the_spec() {
        assert_eq!(
            parse_grpc_timeout(b"100m"),
            Some(Duration::from_millis(100))
        );
        assert_eq!(parse_grpc_timeout(b"2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout(b"99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        assert_eq!(parse_grpc_timeout(b"123456789S"), None, "nine digits");
        assert_eq!(parse_grpc_timeout(b"10"), None, "no unit");
        assert_eq!(parse_grpc_timeout(b"S"), None, "no digits");
        assert_eq!(parse_grpc_timeout(b"-1S"), None);
        assert_eq!(parse_grpc_timeout(b"1x"), None);
    }

    #[test]
    fn the_smaller_deadline_wins() {
        let mut h = http::HeaderMap::new();
        let server = Duration::from_secs(30);
        assert_eq!(effective_deadline(&h, server), server);
        h.insert("grpc-timeout", http::HeaderValue::from_static("250m"));
        assert_eq!(effective_deadline(&h, server), Duration::from_millis(250));
        h.insert("grpc-timeout", http::HeaderValue::from_static("1M"));
        assert_eq!(effective_deadline(&h, server), server);
        h.insert("grpc-timeout", http::HeaderValue::from_static("junk"));
        assert_eq!(effective_deadline(&h, server), server);
    }

    fn request(path: &str, timeout: Option<&'static str>) -> http::Request<Body> {
        let mut req = http::Request::builder().uri(path);
        if let Some(t) = timeout {
            req = req.header("grpc-timeout", t);
        }
        req.body(Body::empty()).unwrap()
    }

    // Real time, short bounds: the assertions are on outcomes (codes, which deadline applied),
    // never on how long anything took.
    #[tokio::test]
    async fn a_handler_that_never_answers_gets_deadline_exceeded() {
        let never = tower::service_fn(|_req: http::Request<Body>| {
            std::future::pending::<Result<http::Response<Body>, std::convert::Infallible>>()
        });
        let mut svc =
            DeadlineLayer::new(Duration::from_millis(200), Duration::from_secs(300)).layer(never);
        // The client's 20 ms wins over the server's 200 ms.
        let resp = svc
            .call(request(
                "/eidas.bridge.v1.ExchangeService/Submit",
                Some("20m"),
            ))
            .await
            .unwrap();
        let status = tonic::Status::from_header_map(resp.headers()).unwrap();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert!(status.message().contains("20ms"), "{}", status.message());
        // Without a client deadline, the server's applies.
        let resp = svc
            .call(request("/eidas.bridge.v1.ExchangeService/Submit", None))
            .await
            .unwrap();
        let status = tonic::Status::from_header_map(resp.headers()).unwrap();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert!(status.message().contains("200ms"), "{}", status.message());
    }

    #[tokio::test]
    async fn an_idle_stream_ends_with_deadline_exceeded_trailers() {
        // A stream that sends, pauses longer than the RPC deadline, sends again, then goes quiet:
        // the RPC deadline does not cut it, the idle bound does.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, tonic::Status>>(1);
        let body = std::sync::Mutex::new(Some(Body::new(http_body_util::StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))));
        let svc = tower::service_fn(move |_req: http::Request<Body>| {
            let b = body.lock().unwrap().take().unwrap();
            std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(b)))
        });
        let mut svc =
            DeadlineLayer::new(Duration::from_millis(10), Duration::from_secs(2)).layer(svc);
        let resp = svc
            .call(request("/eidas.bridge.v1.ExchangeService/Receive", None))
            .await
            .unwrap();
        assert!(tonic::Status::from_header_map(resp.headers()).is_none());
        let mut body = resp.into_body();
        tx.send(Ok(Frame::data(Bytes::from_static(b"m"))))
            .await
            .unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"m"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.send(Ok(Frame::data(Bytes::from_static(b"n"))))
            .await
            .unwrap();
        assert!(body.frame().await.unwrap().unwrap().is_data());
        let trailers = body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_trailers()
            .unwrap();
        let status = tonic::Status::from_header_map(&trailers).unwrap();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert_eq!(
            tonic_types::StatusExt::get_details_error_info(&status)
                .unwrap()
                .reason,
            "STREAM_IDLE"
        );
        assert!(body.frame().await.is_none());
        drop(tx);
    }

    #[tokio::test]
    async fn health_streams_have_no_idle_bound() {
        let (_tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, tonic::Status>>(1);
        let body = std::sync::Mutex::new(Some(Body::new(http_body_util::StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))));
        let svc = tower::service_fn(move |_req: http::Request<Body>| {
            let b = body.lock().unwrap().take().unwrap();
            std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(b)))
        });
        let mut svc =
            DeadlineLayer::new(Duration::from_secs(1), Duration::from_millis(1)).layer(svc);
        let resp = svc
            .call(request("/grpc.health.v1.Health/Watch", None))
            .await
            .unwrap();
        let mut body = resp.into_body();
        // Still pending well after the idle bound: no trailers were produced.
        let waited = tokio::time::timeout(Duration::from_millis(100), body.frame()).await;
        assert!(waited.is_err());
    }
}
