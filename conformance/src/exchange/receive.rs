//! Receive with explicit acknowledgement on the main BE bridge: a message read but not
//! acknowledged is offered again on the next session; once acknowledged it never comes again
//! (DESIGN.md "gRPC API" and "Exchange semantics": delivered exactly once to the peer's operator).

use bridge_proto::pb::ExchangeState;

use super::flows::{times, Client, EXCHANGE, TO_HOSPITAL};
use super::world::{count_ids, envelope, receive, refusal, wait_state, NURSE};
use super::Cases;

/// Receive without acknowledgement, then with.
pub(super) async fn unacked_then_acked(c: &mut Cases, fr: &mut Client, be: &mut Client) {
    let unacked = async {
        fr.submit(envelope("rx-1", NURSE, TO_HOSPITAL, b"ack me"))
            .await
            .map_err(|s| refusal(&s))?;
        wait_state(fr, "rx-1", NURSE, ExchangeState::Delivered).await?;
        // First session: everything but rx-1 is acknowledged; rx-1 is read and left.
        let first = receive(be, &["rx-1"], |m| m.message_id != "rx-1").await?;
        // Second session, after reconnecting: rx-1 again; acknowledged this time.
        let second = receive(be, &["rx-1"], |_| true).await?;
        Ok::<String, String>(format!(
            "read {} in the first session, offered {} in the next",
            times(count_ids(&first).get("rx-1").copied().unwrap_or(0)),
            times(count_ids(&second).get("rx-1").copied().unwrap_or(0)),
        ))
    };
    c.push(
        "receive/unacked-redelivered-after-reconnect",
        "DESIGN.md \"gRPC API\": Receive with explicit acknowledgement; what is not acknowledged comes again on the next call",
        "read once in the first session, offered once in the next",
        unacked.await,
    );
    let acked = async {
        let third = receive(be, &[], |_| true).await?;
        Ok::<String, String>(match count_ids(&third).get("rx-1") {
            None => "not offered again".to_owned(),
            Some(n) => format!("offered {} again", times(*n)),
        })
    };
    c.push(
        "receive/acked-never-again",
        &format!("{EXCHANGE}: delivered exactly once to the peer's operator; an acknowledged message never comes again"),
        "not offered again",
        acked.await,
    );
}
