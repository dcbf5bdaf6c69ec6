//! The client's address as the gateway sees it: the TCP peer, or, only when the peer is one of
//! `[server] trusted_proxies`, the address that proxy put in `X-Forwarded-For`. Any other peer
//! can write whatever it likes in that header, so it is ignored (throttles keyed by address
//! would otherwise be bypassed by inventing a new address per request).

use std::net::IpAddr;

use ipnet::IpNet;

/// The client address of a request from `peer` carrying `forwarded_for` (the raw
/// `X-Forwarded-For` value). From a trusted peer, the header is read right to left and the first
/// address that is not itself a trusted proxy is the client (each proxy appends the address it
/// saw, so the entries left of the last untrusted hop are the client's own claims).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let got = client_ip(ip("10.1.2.3"), Some("203.0.113.9"), &[]);
        assert_eq!(
            got,
            ip("10.1.2.3"),
            "private peers are not trusted by default"
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_hops_are_skipped() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = client_ip(ip("10.0.0.5"), Some("1.1.1.1, 203.0.113.9"), &trusted);
        assert_eq!(got, ip("203.0.113.9"), "the last hop the proxy appended");
        let chain = client_ip(ip("10.0.0.5"), Some("203.0.113.9, 10.0.0.7"), &trusted);
        assert_eq!(chain, ip("203.0.113.9"), "trusted hops are walked through");
        let garbage = client_ip(ip("10.0.0.5"), Some("not-an-ip"), &trusted);
        assert_eq!(garbage, ip("10.0.0.5"));
    }
}
