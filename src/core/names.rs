//! Parsing and validation of what users type: interface and namespace names,
//! addresses in CIDR form, MAC addresses, sysctl keys.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::error::{shown, Error, Result};

/// Kernel limit for interface names (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// An interface name the kernel will accept (see `dev_valid_name`).
pub fn check_ifname(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::new(format!("bad interface name {}: {why}", shown(name))));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > IFNAME_MAX {
        return bad("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("reserved name");
    }
    if name.contains('\0') {
        return bad("must not contain a NUL byte");
    }
    if name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return bad("must not contain '/', ':' or whitespace");
    }
    Ok(())
}

/// A namespace name that is safe as a file name under /run/netns.
pub fn check_nsname(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::new(format!("bad namespace name {}: {why}", shown(name))));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 255 {
        return bad("longer than 255 bytes");
    }
    if name.contains('\0') {
        return bad("must not contain a NUL byte");
    }
    if name == "." || name == ".." || name.contains('/') {
        return bad("must not be '.' or '..' or contain '/'");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain whitespace or control characters");
    }
    if name == "host" {
        return bad("\"host\" is lunet's name for its own namespace (net.host)");
    }
    Ok(())
}

/// An address with a prefix length: `10.0.1.1/24`, `fd00::1/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    fn max_prefix(addr: &IpAddr) -> u8 {
        if addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The network this address is in (host bits cleared).
    pub fn network(&self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        Cidr {
            addr,
            prefix: self.prefix,
        }
    }

    /// Parses a CIDR; without a prefix the address is a host (/32 or /128), as `ip` does.
    pub fn parse_host(s: &str) -> Result<Cidr> {
        let bad = |why: &str| Error::new(format!("bad address {}: {why}", shown(s)));
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(a)
            .map_err(|_| bad("expected an address in CIDR form like \"10.0.1.1/24\" or \"fd00::1/64\""))?;
        let max = Self::max_prefix(&addr);
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| bad(&format!("prefix length must be 0..{max}")))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl FromStr for Cidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cidr> {
        Cidr::parse_host(s)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A route or rule destination: a network, or `default` (of one family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Dest {
    Default { v6: bool },
    Net(Cidr),
}

impl Dest {
    /// `"default"`, `"0.0.0.0/0"`, `"::/0"` or a network whose host bits are zero.
    pub fn parse(s: &str, v6_hint: bool) -> Result<Dest> {
        if s == "default" {
            return Ok(Dest::Default { v6: v6_hint });
        }
        let c = Cidr::parse_host(s).map_err(|_| {
            Error::new(format!(
                "bad destination {s:?}: expected \"default\" or a network like \"10.0.0.0/24\""
            ))
        })?;
        if c.network() != c {
            return Err(Error::new(format!(
                "bad destination {s:?}: host bits set (did you mean \"{}\"?)",
                c.network()
            )));
        }
        Ok(if c.prefix == 0 {
            Dest::Default { v6: c.is_ipv6() }
        } else {
            Dest::Net(c)
        })
    }

    pub fn is_ipv6(&self) -> bool {
        match self {
            Dest::Default { v6 } => *v6,
            Dest::Net(c) => c.is_ipv6(),
        }
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Default { .. } => f.write_str("default"),
            Dest::Net(c) => c.fmt(f),
        }
    }
}

/// A plain IP address (a gateway, a source): no prefix allowed.
pub fn parse_ip(what: &str, s: &str) -> Result<IpAddr> {
    IpAddr::from_str(s).map_err(|_| Error::new(format!("bad {what} {s:?}: expected an IP address")))
}

/// An Ethernet address `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || {
        Error::new(format!(
            "bad MAC address {s:?}: expected six hex bytes like \"02:00:00:00:00:01\""
        ))
    };
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

pub fn format_mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A sysctl key of the per-namespace `net.` tree, as a path below /proc/sys.
/// Dotted (`net.ipv4.ip_forward`) or slashed (`net/ipv4/conf/eth0.10/rp_filter`).
pub fn sysctl_path(key: &str) -> Result<String> {
    let rel = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    let ok_chars = rel.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    if !rel.starts_with("net/") || !ok_chars || rel.split('/').any(|p| p.is_empty() || p == "..") {
        return Err(Error::new(format!(
            "bad sysctl key {key:?}: only keys under \"net.\" belong to a network namespace"
        )));
    }
    Ok(format!("/proc/sys/{rel}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifnames() {
        assert!(check_ifname("veth0").is_ok());
        assert!(check_ifname("a23456789012345").is_ok());
        let e = check_ifname("a234567890123456").unwrap_err();
        assert!(e.to_string().contains("longer than 15 bytes"), "{e}");
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("a b").is_err());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("..").is_err());
    }

    #[test]
    fn nsnames() {
        assert!(check_nsname("left").is_ok());
        assert!(check_nsname("ns-1.x").is_ok());
        assert!(check_nsname("..").is_err());
        assert!(check_nsname("a/b").is_err());
        assert!(check_nsname("").is_err());
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.0.1.1/24".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.1.1/24");
        assert_eq!(c.network().to_string(), "10.0.1.0/24");
        let c: Cidr = "fd00::1/64".parse().unwrap();
        assert!(c.is_ipv6());
        assert_eq!(c.network().to_string(), "fd00::/64");
        assert_eq!("10.0.0.1".parse::<Cidr>().unwrap().prefix, 32);
        assert!("10.0.0.300/24".parse::<Cidr>().is_err());
        assert!("10.0.0.1/33".parse::<Cidr>().is_err());
        assert!("fd00::1/129".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        let c: Cidr = "10.0.0.1/0".parse().unwrap();
        assert_eq!(c.network().to_string(), "0.0.0.0/0");
    }

    #[test]
    fn dests() {
        assert_eq!(Dest::parse("default", false).unwrap(), Dest::Default { v6: false });
        assert_eq!(Dest::parse("::/0", false).unwrap(), Dest::Default { v6: true });
        assert!(Dest::parse("10.0.0.1/24", false)
            .unwrap_err()
            .to_string()
            .contains("10.0.0.0/24"));
        assert_eq!(Dest::parse("10.0.0.0/24", false).unwrap().to_string(), "10.0.0.0/24");
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:00:00:00:00:0a").unwrap(), [2, 0, 0, 0, 0, 10]);
        assert!(parse_mac("02:00:00:00:00").is_err());
        assert!(parse_mac("02:00:00:00:00:zz").is_err());
        assert_eq!(format_mac(&[2, 0, 0, 0, 0, 10]), "02:00:00:00:00:0a");
    }

    #[test]
    fn sysctl_keys() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.10/rp_filter").unwrap(),
            "/proc/sys/net/ipv4/conf/eth0.10/rp_filter"
        );
        assert!(sysctl_path("kernel.hostname").is_err());
        assert!(sysctl_path("net/../kernel/x").is_err());
    }
}
