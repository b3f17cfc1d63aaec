//! The bridges of the exchange suite and the operator-side calls the cases make on them.
//!
//! Every bridge is a full gateway from [`eidas_bridge::demo::start_node`]: its own data directory
//! and sled store under one temporary directory, a QWAC of its country as TLS certificate, a
//! qualified seal, and trust in foreign peers only through the generated test LOTL and national
//! lists, walked and verified once. Cases talk to them through the public gRPC API only
//! (`ExchangeService` as the local operator, `PeerService` as a foreign bridge), so the suite
//! survives changes to the exchange internals.
//!
//! Every wait is bounded ([`WAIT`]): a case that does not reach its state reports what it saw
//! instead of hanging the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use eidas_bridge::demo::{
    start_node, trust_of, walk_ecosystem, write_ecosystem, Node, NodeOptions,
};
use eidas_bridge::exchange::{PeerTrust, RetryPolicy};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::ecosystem::Ecosystem;

/// Longest a case waits for a state, a message or a free port. Generous for a loaded 2-core
/// machine; a healthy run needs well under a second per wait.
pub(super) const WAIT: Duration = Duration::from_secs(20);
/// Polling period of status waits.
const POLL: Duration = Duration::from_millis(25);
/// How long a Receive stream must stay silent for "nothing more is waiting".
pub(super) const QUIET: Duration = Duration::from_millis(600);

/// The French nurse (corpus `addressing/directory.tsv`, ANS FHIR messaging IG example).
pub(super) const NURSE: (&str, &str) = ("mssante", "jean-marie.dupont@infirmier.mssante.fr");
/// The nurse's canonical identifier, as the receiving side reports it.
pub(super) const NURSE_HCID: &str = "hcid:FR:rpps:10003456789";
/// A second French sender (corpus `addressing/directory.tsv`, FR Core practitioner example).
pub(super) const DOCTOR: (&str, &str) = ("mssante", "sophie.leclerc@mssante.fr");
/// The doctor's canonical identifier.
pub(super) const DOCTOR_HCID: &str = "hcid:FR:rpps:10101201234";
/// The Belgian hospital, in its own eHealthBox space.
pub(super) const HOSPITAL: (&str, &str) = ("ehealthbox", "ehbox:HOSPITAL:NIHII-HOSPITAL:71000436");
/// The hospital's canonical identifier.
pub(super) const HOSPITAL_HCID: &str = "hcid:BE:nihii-hospital:71000436";

/// The French bridge's directory: the two senders of the suite.
const FR_DIRECTORY: &str = "space\taddress\thcid\trole\tbal_type\tsource\n\
mssante\tjean-marie.dupont@infirmier.mssante.fr\thcid:FR:rpps:10003456789\tnurse\tPER\tcorpus\n\
mssante\tsophie.leclerc@mssante.fr\thcid:FR:rpps:10101201234\tdoctor\tPER\tcorpus\n";

/// Seed of the suite's ecosystem (fixed: the same certificates on every run).
const SEED: &[u8] = b"eidas-bridge conformance exchange";

/// The shared set-up: ecosystem files, the verified trust, and the temporary root.
pub(super) struct World {
    pub(super) eco: Ecosystem,
    pub(super) eco_dir: PathBuf,
    pub(super) trust: Arc<dyn PeerTrust>,
    root: tempfile::TempDir,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("root", &self.root.path())
            .finish_non_exhaustive()
    }
}

/// The suite's retry policy: fast retries so that down-then-up cases finish quickly.
pub(super) fn retry() -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(250),
        attempt_timeout: Duration::from_secs(3),
        ..RetryPolicy::default()
    }
}

impl World {
    /// Generates the ecosystem, writes its files and walks its lists at the current instant
    /// (the bridges validate peers against the clock, so the walk must agree with them).
    pub(super) fn new() -> Result<World, String> {
        let root = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let eco = Ecosystem::generate(SEED).map_err(|e| format!("ecosystem: {e}"))?;
        let eco_dir = write_ecosystem(&eco, root.path()).map_err(|e| e.to_string())?;
        let snapshot =
            walk_ecosystem(&eco, OffsetDateTime::now_utc()).map_err(|e| e.to_string())?;
        Ok(World {
            trust: trust_of(&snapshot),
            eco,
            eco_dir,
            root,
        })
    }

    /// A directory under the temporary root.
    pub(super) fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Starts a bridge of `country` named `name` (its data directory) on `listener`, with
    /// `peers`; French bridges get the suite's directory.
    pub(super) async fn node(
        &self,
        name: &str,
        country: &str,
        listener: tokio::net::TcpListener,
        peers: Vec<(String, String)>,
        retry: RetryPolicy,
    ) -> Result<Node, String> {
        start_node(
            &self.eco_dir,
            NodeOptions {
                country: country.into(),
                data_dir: self.dir(name),
                listener,
                peers,
                trust: self.trust.clone(),
                directory_tsv: (country == "FR").then(|| FR_DIRECTORY.to_owned()),
                retry,
                tls_identity: None,
            },
        )
        .await
        .map_err(|e| format!("start {name}: {e}"))
    }
}

/// A free loopback address, closed again: a peer that is down.
pub(super) fn reserve() -> Result<SocketAddr, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("reserve a port: {e}"))
}

/// A fresh loopback listener.
pub(super) async fn listener() -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))
}

/// Binds `addr` again, waiting while the previous holder's socket is released.
pub(super) async fn bind_again(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) if tokio::time::Instant::now() >= until => {
                return Err(format!("bind {addr}: {e}"))
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// An operator client of `node`.
pub(super) fn operator(node: &Node) -> Result<ExchangeServiceClient<Channel>, String> {
    node.operator_channel()
        .map(ExchangeServiceClient::new)
        .map_err(|e| format!("operator channel: {e}"))
}

/// A gRPC address.
pub(super) fn addr(a: (&str, &str)) -> Option<pb::Address> {
    Some(pb::Address {
        space: a.0.into(),
        value: a.1.into(),
    })
}

/// A submit request with the payload's correct digest.
pub(super) fn envelope(
    id: &str,
    from: (&str, &str),
    to: (&str, &str),
    payload: &[u8],
) -> pb::SubmitRequest {
    pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: id.into(),
            sender: addr(from),
            recipient: addr(to),
            payload: payload.to_vec(),
            payload_sha256: Sha256::digest(payload).to_vec(),
            ..Default::default()
        }),
    }
}

/// The outcome of a refused call, as the cases compare it: the status code, the
/// `ErrorInfo.reason`, and the first field violation or `ErrorInfo` check when there is one
/// (`InvalidArgument PAYLOAD_DIGEST_MISMATCH envelope.payload_sha256`).
pub(super) fn refusal(s: &tonic::Status) -> String {
    let details = s.get_error_details();
    let Some(info) = details.error_info() else {
        return format!("{:?} (no ErrorInfo)", s.code());
    };
    let mut out = format!("{:?} {}", s.code(), info.reason);
    if let Some(v) = details
        .bad_request()
        .and_then(|b| b.field_violations.first())
    {
        out.push(' ');
        out.push_str(&v.field);
    } else if let Some(check) = info.metadata.get("check") {
        out.push_str(&format!(" ({check})"));
    } else if let Some(field) = info.metadata.get("field") {
        out.push(' ');
        out.push_str(field);
    }
    out
}

/// A short name of a state (`DELIVERED`).
pub(super) fn state_name(state: i32) -> String {
    pb::ExchangeState::try_from(state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("EXCHANGE_STATE_")
                .to_owned()
        })
        .unwrap_or_else(|_| format!("state {state}"))
}

/// The status of `id` from `sender`.
pub(super) async fn status(
    client: &mut ExchangeServiceClient<Channel>,
    id: &str,
    sender: (&str, &str),
) -> Result<pb::ExchangeStatus, String> {
    client
        .get_status(pb::GetStatusRequest {
            message_id: id.into(),
            sender: addr(sender),
        })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| refusal(&s))
}

/// Polls the status of `id` until `done` holds, for at most [`WAIT`]; returns the last status
/// either way (the caller compares it).
pub(super) async fn wait_for(
    client: &mut ExchangeServiceClient<Channel>,
    id: &str,
    sender: (&str, &str),
    done: impl Fn(&pb::ExchangeStatus) -> bool,
) -> Result<pb::ExchangeStatus, String> {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let s = status(client, id, sender).await?;
        if done(&s) || tokio::time::Instant::now() >= until {
            return Ok(s);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `id` reaches `state` (or [`WAIT`] passes).
pub(super) async fn wait_state(
    client: &mut ExchangeServiceClient<Channel>,
    id: &str,
    sender: (&str, &str),
    state: pb::ExchangeState,
) -> Result<pb::ExchangeStatus, String> {
    wait_for(client, id, sender, |s| s.state == state as i32).await
}

/// One Receive session: opens the stream, reads until every id of `until` was seen (or, with an
/// empty `until`, until the stream stays silent for [`QUIET`]), acknowledges the messages
/// `ack` selects, half-closes and waits for the server to end the stream (so the acks are
/// durable). Returns every message read, in order.
pub(super) async fn receive(
    client: &mut ExchangeServiceClient<Channel>,
    until: &[&str],
    ack: impl Fn(&pb::InboundMessage) -> bool,
) -> Result<Vec<pb::InboundMessage>, String> {
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tx.send(pb::ReceiveRequest {
        action: Some(pb::receive_request::Action::Start(pb::ReceiveStart {})),
    })
    .await
    .map_err(|_| "receive: request stream closed".to_owned())?;
    let mut stream = client
        .receive(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|s| format!("receive: {}", refusal(&s)))?
        .into_inner();
    let mut got: Vec<pb::InboundMessage> = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let missing = until
            .iter()
            .any(|id| !got.iter().any(|m| m.message_id == *id));
        if !until.is_empty() && !missing {
            break;
        }
        let wait = if until.is_empty() {
            QUIET
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, stream.message()).await {
            Ok(Ok(Some(m))) => {
                if ack(&m) {
                    tx.send(pb::ReceiveRequest {
                        action: Some(pb::receive_request::Action::AckMessageId(
                            m.message_id.clone(),
                        )),
                    })
                    .await
                    .map_err(|_| "receive: request stream closed".to_owned())?;
                }
                got.push(m);
            }
            Ok(Ok(None)) => break,
            Ok(Err(s)) => return Err(format!("receive: {}", refusal(&s))),
            Err(_) => break,
        }
    }
    drop(tx);
    // The server ends the stream once the acks sent so far are durable.
    let _ = tokio::time::timeout(WAIT, async {
        while let Ok(Some(_)) = stream.message().await {}
    })
    .await;
    Ok(got)
}

/// Counts of message ids in a batch.
pub(super) fn count_ids(msgs: &[pb::InboundMessage]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in msgs {
        *out.entry(m.message_id.clone()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;
    use tonic_types::ErrorDetails;

    fn status(
        code: Code,
        reason: &str,
        meta: &[(&str, &str)],
        field: Option<&str>,
    ) -> tonic::Status {
        let mut d = ErrorDetails::new();
        d.set_error_info(
            reason,
            "eidas-bridge",
            meta.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
        if let Some(f) = field {
            d.add_bad_request_violation(f, "why");
        }
        tonic::Status::with_error_details(code, "message", d)
    }

    #[test]
    fn refusals_name_code_reason_and_field_or_check() {
        assert_eq!(
            refusal(&status(
                Code::InvalidArgument,
                "INVALID_FIELD",
                &[],
                Some("envelope.sender")
            )),
            "InvalidArgument INVALID_FIELD envelope.sender"
        );
        assert_eq!(
            refusal(&status(
                Code::InvalidArgument,
                "SEAL_INVALID",
                &[("check", "signature does not verify")],
                None
            )),
            "InvalidArgument SEAL_INVALID (signature does not verify)"
        );
        assert_eq!(
            refusal(&status(
                Code::PermissionDenied,
                "WRONG_PEER",
                &[("field", "origin_peer")],
                None
            )),
            "PermissionDenied WRONG_PEER origin_peer"
        );
        assert_eq!(
            refusal(&status(Code::NotFound, "MESSAGE_NOT_FOUND", &[], None)),
            "NotFound MESSAGE_NOT_FOUND"
        );
        assert_eq!(
            refusal(&tonic::Status::unavailable("connection reset")),
            "Unavailable (no ErrorInfo)"
        );
    }

    #[test]
    fn state_names_are_short() {
        assert_eq!(state_name(pb::ExchangeState::Delivered as i32), "DELIVERED");
        assert_eq!(state_name(99), "state 99");
    }
}
