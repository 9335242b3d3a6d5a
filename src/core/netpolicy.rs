//! Which addresses a webhook may be delivered to (pure). Checked on the resolved address of
//! every new connection, so a name that resolves somewhere forbidden is refused too.
//!
//! By default the link-local ranges and the cloud metadata address are refused: a request to
//! them from a box in a data centre can read its cloud credentials. LAN and loopback are
//! allowed, because a NAS talks to its LAN. `deny_networks` adds ranges to refuse;
//! `allow_networks` lets ranges through even when they are refused (it wins). Every refused
//! IPv4 range is refused in its IPv6 forms too (mapped, compatible, NAT64, 6to4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    /// `Err` with the reason when `ip` may not be connected to. An IPv6 address that carries
    /// an IPv4 address (see `embedded_ipv4`) reaches that IPv4 address through the network's
    /// translator or tunnel, so it is refused when that one is; an unspecified address
    /// (`0.0.0.0`, `::`) reaches this machine, so it is refused when loopback is.
    /// `allow_networks` lets an address through when it names the address as written or
    /// every other form it stands for.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let allowed = |a: IpAddr| self.allow.iter().any(|n| n.contains(&a));
        let denied = |a: IpAddr| self.deny.iter().find(|n| n.contains(&a));
        if allowed(ip) {
            return Ok(());
        }
        let forms = other_forms(ip);
        let refused = |net: &IpNet, form: Option<(IpAddr, &str)>| {
            let within = form.map_or(String::new(), |(f, what)| format!(" ({what} {f})"));
            format!(
                "address {ip}{within} is in the refused network {net} (see [delivery] deny_networks and allow_networks)"
            )
        };
        if let Some(net) = denied(ip)
            && !forms.iter().any(|&(f, _)| allowed(f))
        {
            return Err(refused(net, None));
        }
        for &(form, what) in &forms {
            if allowed(form) {
                continue;
            }
            if let Some(net) = denied(form) {
                return Err(refused(net, Some((form, what))));
            }
        }
        Ok(())
    }
}

/// The other addresses a connection to `ip` reaches, each with what it is: the IPv4 address
/// an IPv6 one carries, and this machine's loopback addresses for an unspecified one (Linux
/// connects `0.0.0.0` and `::` to the machine itself; an address in `0.0.0.0/8` is taken the
/// same way, as nothing else can be meant by it).
fn other_forms(ip: IpAddr) -> Vec<(IpAddr, &'static str)> {
    let mut forms: Vec<(IpAddr, &'static str)> = match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6)
            .into_iter()
            .map(|v4| (IpAddr::V4(v4), "IPv4"))
            .collect(),
        IpAddr::V4(_) => Vec::new(),
    };
    let unspecified = match ip {
        IpAddr::V6(v6) => v6.is_unspecified(),
        IpAddr::V4(_) => false,
    } || [ip]
        .iter()
        .chain(forms.iter().map(|(f, _)| f))
        .any(|a| matches!(a, IpAddr::V4(v4) if v4.octets()[0] == 0));
    if unspecified {
        forms.push((IpAddr::V4(Ipv4Addr::LOCALHOST), "this machine"));
        forms.push((IpAddr::V6(Ipv6Addr::LOCALHOST), "this machine"));
    }
    forms
}

/// The IPv4 addresses an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`, deprecated, though some stacks still route it; `::` and `::1`
/// are not), NAT64 with the well-known prefix `64:ff9b::/96` (RFC 6052) or within the
/// local-use `64:ff9b:1::/48` (RFC 8215), where the IPv4 address sits at the RFC 6052
/// position for the translator's prefix length, which cannot be known from outside: every
/// possible position (/48, /56, /64, /96) is given, and 6to4 (`2002::/16`, RFC 3056, the IPv4
/// address in bits 16 to 47).
pub fn embedded_ipv4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let b = v6.octets();
    let seg = v6.segments();
    let at = |i: [usize; 4]| Ipv4Addr::new(b[i[0]], b[i[1]], b[i[2]], b[i[3]]);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return vec![v4];
    }
    if seg[..6] == [0; 6] {
        let v4 = at([12, 13, 14, 15]);
        return if u32::from(v4) > 1 {
            vec![v4]
        } else {
            Vec::new()
        };
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return vec![at([12, 13, 14, 15])];
    }
    if seg[..3] == [0x64, 0xff9b, 1] {
        // RFC 6052 section 2.2: bits 64 to 71 (byte 8) are never part of the address.
        return vec![
            at([6, 7, 9, 10]),
            at([7, 9, 10, 11]),
            at([9, 10, 11, 12]),
            at([12, 13, 14, 15]),
        ];
    }
    if seg[0] == 0x2002 {
        return vec![at([2, 3, 4, 5])];
    }
    Vec::new()
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

    /// (policy, address, refused by which network, or `None` when let through)
    fn table(p: &AddressPolicy, rows: &[(&str, Option<&str>)]) {
        for (addr, expected) in rows {
            let got = p.check(ip(addr));
            match expected {
                None => assert_eq!(got, Ok(()), "{addr} must be let through"),
                Some(net) => {
                    let err = got.expect_err(addr);
                    assert!(
                        err.contains(&format!("refused network {net} ")),
                        "{addr}: {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn ipv6_forms_of_a_refused_ipv4_address_are_refused() {
        let meta = Some("169.254.0.0/16");
        table(
            &AddressPolicy::default(),
            &[
                ("::ffff:169.254.169.254", meta),
                ("::ffff:a9fe:a9fe", meta),
                // IPv4-compatible (RFC 4291, deprecated but still routed by some stacks).
                ("::a9fe:a9fe", meta),
                ("::169.254.0.1", meta),
                // NAT64, the well-known prefix (RFC 6052).
                ("64:ff9b::a9fe:a9fe", meta),
                ("64:ff9b::169.254.1.2", meta),
                // NAT64, the local-use prefix (RFC 8215), at each RFC 6052 position.
                ("64:ff9b:1:a9fe:a9:fe00::", meta),
                ("64:ff9b:1:a9:fe:a9fe::", meta),
                ("64:ff9b:1:0:a9:fea9:fe00:0", meta),
                ("64:ff9b:1::a9fe:a9fe", meta),
                ("64:ff9b:1:ffff:ffff::a9fe:a9fe", meta),
                // 6to4 (RFC 3056): the IPv4 address in bits 16 to 47.
                ("2002:a9fe:a9fe::1", meta),
                ("2002:a9fe:0001:5::", meta),
                // What was refused already still is.
                ("169.254.169.254", meta),
                ("fe80::1", Some("fe80::/10")),
                ("fd00:ec2::254", Some("fd00:ec2::254/128")),
                // Other addresses of these forms are let through.
                ("::ffff:8.8.8.8", None),
                ("::808:808", None),
                ("64:ff9b::808:808", None),
                ("64:ff9b::192.168.1.20", None),
                ("64:ff9b:1::808:808", None),
                ("2002:c0a8:0114::1", None),
                ("2001:db8::a9fe:a9fe", None),
                ("::1", None),
                ("::", None),
            ],
        );
    }

    #[test]
    fn denied_networks_are_refused_in_every_form_and_allowed_ones_let_through() {
        let p = AddressPolicy {
            deny: [
                default_deny(),
                vec![
                    parse_net("10.0.0.0/8").unwrap(),
                    parse_net("64:ff9b::/96").unwrap(),
                ],
            ]
            .concat(),
            allow: vec![
                parse_net("10.0.5.0/24").unwrap(),
                parse_net("8.8.8.8").unwrap(),
                parse_net("64:ff9b::a9fe:1").unwrap(),
            ],
        };
        let ten = Some("10.0.0.0/8");
        table(
            &p,
            &[
                ("10.9.9.9", ten),
                ("::ffff:10.9.9.9", ten),
                ("::10.9.9.9", ten),
                ("64:ff9b:1::10.9.9.9", ten),
                ("2002:0a09:0909::", ten),
                // Allowed by its IPv4 form, as written, or not in a denied IPv4 range.
                ("10.0.5.9", None),
                ("::ffff:10.0.5.9", None),
                ("::10.0.5.9", None),
                ("2002:0a00:0509::1", None),
                ("64:ff9b::808:808", None),
                ("64:ff9b::a9fe:1", None),
                // Denied as written, and its IPv4 form is not allowed.
                ("64:ff9b::1.1.1.1", Some("64:ff9b::/96")),
            ],
        );
    }

    #[test]
    fn unspecified_addresses_are_this_machine_and_refused_with_loopback() {
        let p = AddressPolicy {
            deny: vec![parse_net("127.0.0.0/8").unwrap(), parse_net("::1").unwrap()],
            allow: Vec::new(),
        };
        let lo4 = Some("127.0.0.0/8");
        table(
            &p,
            &[
                ("0.0.0.0", lo4),
                ("0.1.2.3", lo4),
                ("::", lo4),
                ("::ffff:0.0.0.0", lo4),
                ("127.0.0.1", lo4),
                ("::1", Some("::1/128")),
                ("192.168.1.20", None),
            ],
        );
        let only_v6 = AddressPolicy {
            deny: vec![parse_net("::1").unwrap()],
            allow: Vec::new(),
        };
        table(
            &only_v6,
            &[("0.0.0.0", Some("::1/128")), ("::", Some("::1/128"))],
        );
        // Where loopback is allowed (the default), so is the unspecified address.
        table(
            &AddressPolicy::default(),
            &[("0.0.0.0", None), ("::", None)],
        );
        let err = p.check(ip("0.0.0.0")).unwrap_err();
        assert!(err.contains("(this machine 127.0.0.1)"), "{err}");
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
