//! The firewall rules people ask for most, as `Op`s: NAT masquerade, forward
//! accept, port forward (DNAT), IP forwarding. The Lua helpers only check
//! their arguments and apply what these return.

use std::net::IpAddr;

use super::error::{Error, Result};
use super::firewall::{IptChange, IptCmd};
use super::names::{check_ifname, Cidr};
use super::netns::NsId;
use super::op::Op;

fn append(ns: &NsId, table: &str, chain: &str, rule: Vec<String>) -> Op {
    Op::Ipt {
        ns: ns.clone(),
        change: IptChange {
            v6: false,
            table: table.into(),
            cmd: IptCmd::Append,
            chain: chain.into(),
            rule,
        },
    }
}

fn dev_args(flag: &str, dev: Option<&str>) -> Result<Vec<String>> {
    match dev {
        Some(d) => {
            check_ifname(d)?;
            Ok(vec![flag.into(), d.into()])
        }
        None => Ok(vec![]),
    }
}

/// `iptables -t nat -A POSTROUTING -s NET [-o OUT] -j MASQUERADE`
pub fn masquerade(ns: &NsId, source: Cidr, out: Option<&str>) -> Result<Op> {
    let mut rule = vec!["-s".into(), source.network().to_string()];
    rule.extend(dev_args("-o", out)?);
    rule.extend(["-j".into(), "MASQUERADE".into()]);
    Ok(append(ns, "nat", "POSTROUTING", rule))
}

/// `iptables -A FORWARD [-i IIF] [-o OIF] -j ACCEPT`
pub fn forward_accept(ns: &NsId, iif: Option<&str>, oif: Option<&str>) -> Result<Op> {
    let mut rule = dev_args("-i", iif)?;
    rule.extend(dev_args("-o", oif)?);
    rule.extend(["-j".into(), "ACCEPT".into()]);
    Ok(append(ns, "filter", "FORWARD", rule))
}

/// `iptables -t nat -A PREROUTING [-i IIF] -p PROTO --dport PORT -j DNAT --to-destination ADDR:PORT`
pub fn port_forward(ns: &NsId, proto: &str, port: u16, to: (IpAddr, u16), iif: Option<&str>) -> Result<Op> {
    if proto != "tcp" && proto != "udp" {
        return Err(Error::new(format!("bad proto {proto:?}: expected \"tcp\" or \"udp\"")));
    }
    if port == 0 || to.1 == 0 {
        return Err(Error::new("ports must be 1..65535"));
    }
    let target = match to.0 {
        IpAddr::V4(a) => format!("{a}:{}", to.1),
        IpAddr::V6(a) => format!("[{a}]:{}", to.1),
    };
    let mut rule = dev_args("-i", iif)?;
    rule.extend([
        "-p".into(),
        proto.into(),
        "--dport".into(),
        port.to_string(),
        "-j".into(),
        "DNAT".into(),
        "--to-destination".into(),
        target,
    ]);
    Ok(append(ns, "nat", "PREROUTING", rule))
}

/// IPv4 and IPv6 forwarding on or off.
pub fn ip_forward(ns: &NsId, on: bool) -> Vec<Op> {
    let value = if on { "1" } else { "0" };
    ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]
        .iter()
        .map(|key| Op::Sysctl {
            ns: ns.clone(),
            key: key.to_string(),
            value: value.into(),
            expect: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_print_as_iptables_commands() {
        let ns = NsId::Host;
        let op = masquerade(&ns, "10.0.0.7/24".parse().unwrap(), Some("eth0")).unwrap();
        assert_eq!(
            op.to_string(),
            "iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -o eth0 -j MASQUERADE"
        );
        let op = port_forward(&ns, "tcp", 80, ("10.0.0.2".parse().unwrap(), 8080), None).unwrap();
        assert!(op
            .to_string()
            .ends_with("--dport 80 -j DNAT --to-destination 10.0.0.2:8080"));
        assert!(port_forward(&ns, "icmp", 80, ("10.0.0.2".parse().unwrap(), 1), None).is_err());
        assert!(forward_accept(&ns, Some("bad name with spaces"), None).is_err());
        assert_eq!(ip_forward(&ns, true).len(), 2);
    }
}
