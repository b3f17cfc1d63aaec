//! Roles on the exchange services: the local operator submits and receives, a foreign peer only
//! delivers; a call outside the caller's role is PERMISSION_DENIED with the `ROLE_NOT_GRANTED`
//! reason (DESIGN.md "Trust model and roles").

use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use bridge_proto::pb::peer_service_client::PeerServiceClient;
use eidas_bridge::demo::{channel_to, client_identity, Node};

use super::flows::TO_HOSPITAL;
use super::world::{envelope, refusal, World, NURSE};
use super::Cases;

const RULE: &str = "DESIGN.md \"Trust model and roles\": roles come from configuration or the trusted lists; a call outside the caller's role gets PERMISSION_DENIED";

/// The role cases against the main BE bridge.
pub(super) async fn cases(c: &mut Cases, w: &World, be: &Node) {
    let operator_delivers = async {
        let channel = be.operator_channel().map_err(|e| e.to_string())?;
        let mut client = PeerServiceClient::new(channel);
        Ok::<String, String>(
            match client
                .deliver(bridge_proto::pb::SealedEnvelope::default())
                .await
            {
                Ok(_) => "answered".into(),
                Err(s) => refusal(&s),
            },
        )
    };
    c.push(
        "roles/operator-calls-peer-service",
        &format!("{RULE}: the local operator is no peer bridge"),
        "PermissionDenied ROLE_NOT_GRANTED",
        operator_delivers.await,
    );
    let peer_submits = async {
        let id = client_identity(
            &w.eco_dir.join("qwac-FR.chain.pem"),
            &w.eco_dir.join("qwac-FR.key.pem"),
            Vec::new(),
        )
        .map_err(|e| e.to_string())?;
        let channel = channel_to(be.addr, "BE", &id, w.trust.clone()).map_err(|e| e.to_string())?;
        let mut client = ExchangeServiceClient::new(channel);
        Ok::<String, String>(
            match client
                .submit(envelope("role-1", NURSE, TO_HOSPITAL, b"x"))
                .await
            {
                Ok(_) => "accepted".into(),
                Err(s) => refusal(&s),
            },
        )
    };
    c.push(
        "roles/peer-calls-exchange-service",
        &format!("{RULE}: a foreign peer bridge may deliver, not submit as BE's operator"),
        "PermissionDenied ROLE_NOT_GRANTED",
        peer_submits.await,
    );
}
