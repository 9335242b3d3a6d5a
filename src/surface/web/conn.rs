//! What the web server learned of a request's connection, added to every request's
//! extensions for the API and the page to read: who sent it, what that client is counted as,
//! and whether it came over TLS.

use std::net::{IpAddr, SocketAddr};

/// The address of the client that sent a request (added to every request's extensions).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// What a request's client is counted as, for its connections and its failed sign-ins
/// (`client_key`; added to every request's extensions).
#[derive(Clone, Copy, Debug)]
pub struct Client(pub IpAddr);

/// The address a client is counted by. IPv4 as it is (and IPv4 mapped into IPv6 as IPv4).
/// IPv6 by its /64, which a host on the internet usually holds whole and can pick any address
/// in, except on the box's own LAN, whose hosts share one /64: a link-local or unique-local
/// address, or one in the same /64 as the box's own address it reached (`local`), is counted
/// whole.
pub fn client_key(peer: IpAddr, local: IpAddr) -> IpAddr {
    let v6 = match peer {
        IpAddr::V4(_) => return peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => return IpAddr::V4(v4),
            None => v6,
        },
    };
    let prefix = |a: std::net::Ipv6Addr| {
        let mut seg = a.segments();
        seg[4..].fill(0);
        std::net::Ipv6Addr::from(seg)
    };
    let lan = v6.is_unicast_link_local()
        || v6.is_unique_local()
        || matches!(local, IpAddr::V6(l) if prefix(l) == prefix(v6));
    if lan { peer } else { IpAddr::V6(prefix(v6)) }
}

/// Whether a request came over TLS (added to every request's extensions): the page's cookies
/// are `Secure` then.
#[derive(Clone, Copy, Debug)]
pub struct Https(pub bool);
