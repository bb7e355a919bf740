//! Which addresses a tenant's webhook may reach: none on loopback, private,
//! link-local, metadata or otherwise internal ranges, unless the operator
//! allows the host or the range (`CONFAB_WEBHOOK_ALLOWED_HOSTS`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::AllowList;

/// May a request connect to `ip`, reached through `host`?
pub fn permits(allow: &AllowList, host: &str, ip: IpAddr) -> bool {
    !is_internal(ip) || allow.allows_name(host) || allow.allows_ip(ip)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Addresses a tenant's webhook must not reach: loopback, private,
/// link-local (cloud metadata lives at 169.254.169.254), shared (CGNAT),
/// unspecified, broadcast, multicast, documentation and reserved ranges.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
        || (ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && {
            let o = ip.octets();
            is_internal_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses() {
        for internal in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_allow_list_takes_names_addresses_and_ranges() {
        let list =
            AllowList::parse(&["hooks.internal".into(), "127.0.0.1".into(), "10.1.0.0/16".into()]).unwrap();
        assert!(permits(&list, "anything", ip("127.0.0.1")));
        assert!(permits(&list, "anything", ip("::ffff:127.0.0.1")));
        assert!(!permits(&list, "anything", ip("127.0.0.2")));
        assert!(permits(&list, "x", ip("10.1.200.3")));
        assert!(!permits(&list, "x", ip("10.2.0.1")));
        assert!(permits(&list, "HOOKS.internal", ip("192.168.0.1")));
        assert!(permits(&list, "x", ip("93.184.216.34")));
        assert!(AllowList::parse(&["10.0.0.0/40".into()]).is_err());
        assert!(AllowList::parse(&["bad/8".into()]).is_err());
    }
}
