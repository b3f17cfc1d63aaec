//! Helpers shared by the exchange integration tests (each test file includes this module with
//! `mod common;` and uses what it needs).
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use eidas_bridge::exchange::RetryPolicy;
use tonic::transport::Channel;
use tonic_types::StatusExt;

/// Short retries, so that tests with a peer down or coming back run in seconds.
pub(crate) fn retry() -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(300),
        ..RetryPolicy::default()
    }
}

/// An address in `space`.
pub(crate) fn addr(space: &str, value: &str) -> Option<pb::Address> {
    Some(pb::Address {
        space: space.into(),
        value: value.into(),
    })
}

/// The ErrorInfo reason of a refusal, or "" when it carries none.
pub(crate) fn reason(s: &tonic::Status) -> String {
    s.get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// The status of `(from, id)` at the bridge behind `client`.
pub(crate) async fn status(
    client: &mut ExchangeServiceClient<Channel>,
    id: &str,
    from: (&str, &str),
) -> pb::ExchangeStatus {
    client
        .get_status(pb::GetStatusRequest {
            message_id: id.into(),
            sender: addr(from.0, from.1),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Polls the status of `(from, id)` until it is `want` (at most 30 s).
pub(crate) async fn wait_state(
    client: &mut ExchangeServiceClient<Channel>,
    id: &str,
    from: (&str, &str),
    want: pb::ExchangeState,
) -> pb::ExchangeStatus {
    for _ in 0..600 {
        let s = status(client, id, from).await;
        if s.state == want as i32 {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never reached {want:?}");
}

/// Opens a Receive stream and sends its `Start`: returns the sender of further requests (acks;
/// dropping it closes the stream) and the inbound messages. `capacity` bounds requests queued.
pub(crate) async fn open_receive(
    client: &mut ExchangeServiceClient<Channel>,
    capacity: usize,
) -> (
    tokio::sync::mpsc::Sender<pb::ReceiveRequest>,
    tonic::Streaming<pb::InboundMessage>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    tx.send(pb::ReceiveRequest {
        action: Some(pb::receive_request::Action::Start(pb::ReceiveStart {})),
    })
    .await
    .unwrap();
    let stream = client
        .receive(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    (tx, stream)
}

/// Receives `n` messages on a fresh Receive stream, sending for each the acknowledgement `ack`
/// returns (none for `None`), then closes the stream and drains it: the bridge ends the stream
/// once the acknowledgements sent are durable.
pub(crate) async fn receive_acking(
    client: &mut ExchangeServiceClient<Channel>,
    n: usize,
    ack: impl Fn(&pb::InboundMessage) -> Option<pb::receive_request::Action>,
) -> Vec<pb::InboundMessage> {
    let (tx, mut stream) = open_receive(client, 64).await;
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(action) = ack(&m) {
            tx.send(pb::ReceiveRequest {
                action: Some(action),
            })
            .await
            .unwrap();
        }
        out.push(m);
    }
    drop(tx);
    while let Ok(Some(_)) = stream.message().await {}
    out
}
