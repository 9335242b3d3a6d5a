//! Which addresses a webhook may be delivered to (pure). Checked on the resolved address of
//! every new connection, so a name that resolves somewhere forbidden is refused too.
//!
//! By default the link-local ranges and the cloud metadata address are refused: a request to
//! them from a box in a data centre can read its cloud credentials. LAN and loopback are
//! allowed, because a NAS talks to its LAN. `deny_networks` adds ranges to refuse;
//! `allow_networks` lets ranges through even when they are refused (it wins).

use std::net::IpAddr;

use ipnet::IpNet;

/// Refused unless allowed: link-local IPv4 (with 169.254.169.254, the metadata service of
/// most clouds), link-local IPv6, and the IPv6 metadata address of AWS.
pub const DEFAULT_DENY: [&str; 3] = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPolicy {
    pub deny: Vec<IpNet>,
    pub allow: Vec<IpNet>,
}

impl Default for AddressPolicy {
    fn default() -> AddressPolicy {
        AddressPolicy {
            deny: default_deny(),
            allow: Vec::new(),
        }
    }
}

pub fn default_deny() -> Vec<IpNet> {
    DEFAULT_DENY
        .iter()
        .map(|n| n.parse().expect("the built-in ranges are valid"))
        .collect()
}

/// Parses one CIDR range (`10.0.0.0/8`, `fd00::/8`); a bare address is a range of one.
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("\"{text}\" is not a network (like 10.0.0.0/8 or fd00::/8)"))
}

impl AddressPolicy {
    /// `Err` with the reason when `ip` may not be connected to.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        // An IPv4 address written as IPv6 (::ffff:169.254.169.254) is the IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.allow.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match self.deny.iter().find(|n| n.contains(&ip)) {
            Some(net) => Err(format!(
                "address {ip} is in the refused network {net} (see [delivery] deny_networks and allow_networks)"
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn metadata_and_link_local_are_refused_lan_and_loopback_are_not() {
        let p = AddressPolicy::default();
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
        ] {
            let err = p.check(ip(bad)).unwrap_err();
            assert!(err.contains("refused network"), "{bad}: {err}");
        }
        for good in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.20",
            "::1",
            "fd00::1",
            "8.8.8.8",
        ] {
            assert_eq!(p.check(ip(good)), Ok(()), "{good}");
        }
    }

    #[test]
    fn allow_wins_over_deny() {
        let p = AddressPolicy {
            deny: vec![
                parse_net("10.0.0.0/8").unwrap(),
                parse_net("169.254.0.0/16").unwrap(),
            ],
            allow: vec![
                parse_net("10.0.5.0/24").unwrap(),
                parse_net("169.254.7.7").unwrap(),
            ],
        };
        assert!(p.check(ip("10.9.9.9")).is_err());
        assert!(p.check(ip("10.0.5.9")).is_ok());
        assert!(p.check(ip("169.254.7.7")).is_ok());
        assert!(p.check(ip("169.254.7.8")).is_err());
        assert_eq!(parse_net("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("lan").is_err());
    }
}
