//! The per-address limits as the checker sees them: a connection is turned
//! away with `error: too many connections from your address` exactly when
//! its address group (an IPv4 address, an IPv6 /64, an IPv4-mapped address
//! as its IPv4 one) already holds `max_per_address` admitted connections,
//! or has connected faster than `connects_per_minute` after a burst of
//! `ADDRESS_CONNECT_BURST`; loopback is exempt unless `limit_loopback`.

use super::flood::Bucket;
use super::line::PROMPT;
use super::{Checker, Violation};
use chat_core::{CloseMode, ConnId, ADDRESS_CONNECT_BURST};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// The line a connection over its address's limits gets.
const TOO_MANY: &[u8] = b"error: too many connections from your address\n";

/// What the checker knows of addresses.
#[derive(Debug, Default)]
pub(super) struct Addresses {
    /// Where each connection came from.
    pub(super) peers: BTreeMap<ConnId, IpAddr>,
    /// Each group's connect bucket, charged for admitted connections.
    buckets: BTreeMap<Vec<u8>, Bucket>,
}

/// The group an address counts in: its bytes, IPv6 cut to its /64.
fn group(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..8].to_vec(),
        },
    }
}

fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl Checker {
    /// Checks the connection just accepted (not refused as full, not after
    /// shutdown) against the address limits, and counts it if admitted.
    pub(super) fn check_address_limits(&mut self, conn: ConnId) -> Result<(), Violation> {
        let Some(&peer) = self.addresses.peers.get(&conn) else {
            return Ok(());
        };
        let limited = self.cfg.limit_loopback || !is_loopback(peer);
        let key = group(peer);
        let open_in_group = self
            .conns
            .iter()
            .filter(|(&other, log)| {
                other != conn
                    && log.closed.is_none()
                    && log.stream.starts_with(PROMPT)
                    && self
                        .addresses
                        .peers
                        .get(&other)
                        .is_some_and(|&p| group(p) == key)
            })
            .count();
        let max = self.cfg.max_per_address as usize;
        let rate = self.cfg.connects_per_minute;
        let mut bucket = self
            .addresses
            .buckets
            .get(&key)
            .copied()
            .unwrap_or_default();
        let crowded = max > 0 && open_in_group >= max;
        let too_fast = !crowded
            && rate > 0
            && !bucket.charge_every(
                self.now,
                Duration::from_secs(60) / rate,
                ADDRESS_CONNECT_BURST,
            );
        let expected = limited && (crowded || too_fast);
        let log = &self.conns[&conn];
        let refused =
            log.stream == TOO_MANY && log.closed.is_some_and(|(_, _, m)| m == CloseMode::Flush);
        if expected != refused {
            return self.fail(
                "a connection is turned away for its address exactly when the address is over its limits",
                format!(
                    "{conn} from {peer} ({open_in_group} open there, max {max}, {rate}/min): sent {:?}",
                    String::from_utf8_lossy(&log.stream)
                ),
            );
        }
        if limited && !refused && rate > 0 {
            self.addresses.buckets.insert(key, bucket);
        }
        Ok(())
    }
}
