//! Receive with explicit acknowledgement on the main BE bridge: a message read but not
//! acknowledged is offered again on the next session; once acknowledged it never comes again
//! (DESIGN.md "gRPC API" and "Exchange semantics": delivered exactly once to the peer's operator).
//! The inbox is durable: a message left unacknowledged when BE stops is offered again after BE
//! restarts from the same store (DESIGN.md "Exchange semantics": nothing acknowledged is lost).

use std::net::SocketAddr;

use bridge_proto::pb::ExchangeState;
use eidas_bridge::demo::Node;

use super::flows::{times, Client, EXCHANGE, TO_HOSPITAL};
use super::world::{
    bind_again, count_ids, envelope, operator, receive, refusal, wait_state, World, NURSE,
};
use super::Cases;

/// Receive without acknowledgement, then with.
pub(super) async fn unacked_then_acked(c: &mut Cases, fr: &mut Client, be_node: &Node) {
    let unacked = async {
        fr.submit(envelope("rx-1", NURSE, TO_HOSPITAL, b"ack me"))
            .await
            .map_err(|s| refusal(&s))?;
        wait_state(fr, "rx-1", NURSE, ExchangeState::Delivered).await?;
        // First session: everything but rx-1 is acknowledged; rx-1 is read and left.
        let first = receive(&mut operator(be_node)?, &["rx-1"], |m| {
            m.message_id != "rx-1"
        })
        .await?;
        // Second session, on a new connection: rx-1 again; acknowledged this time.
        let second = receive(&mut operator(be_node)?, &["rx-1"], |_| true).await?;
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
        let third = receive(&mut operator(be_node)?, &[], |_| true).await?;
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

/// Leaves `rx-2` unacknowledged, restarts BE from the same data directory on the same address,
/// and reads it again there. Returns the restarted bridge.
pub(super) async fn after_restart(
    c: &mut Cases,
    w: &World,
    fr: &mut Client,
    be: Node,
    fr_addr: SocketAddr,
) -> Result<Node, String> {
    let before = async {
        fr.submit(envelope("rx-2", NURSE, TO_HOSPITAL, b"survive a restart"))
            .await
            .map_err(|s| refusal(&s))?;
        wait_state(fr, "rx-2", NURSE, ExchangeState::Delivered).await?;
        let first = receive(&mut operator(&be)?, &["rx-2"], |_| false).await?;
        Ok::<usize, String>(count_ids(&first).get("rx-2").copied().unwrap_or(0))
    }
    .await;
    let addr = be.addr;
    be.stop().await;
    let be = w
        .node(
            "be",
            "BE",
            bind_again(addr).await?,
            vec![("FR".into(), fr_addr.to_string())],
            super::world::retry(),
        )
        .await?;
    let after = async {
        let before = before?;
        let again = receive(&mut operator(&be)?, &["rx-2"], |_| true).await?;
        Ok::<String, String>(format!(
            "read {} before the restart, offered {} after it",
            times(before),
            times(count_ids(&again).get("rx-2").copied().unwrap_or(0)),
        ))
    };
    c.push(
        "receive/unacked-survives-restart",
        &format!("{EXCHANGE}: the inbox is durable; a message not acknowledged before the receiving bridge stops is offered again after it restarts from its store"),
        "read once before the restart, offered once after it",
        after.await,
    );
    Ok(be)
}
