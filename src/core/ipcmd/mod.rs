//! `ip` command lines, and the setup-script lines around them (`ip netns exec`,
//! `sysctl -w`, `iptables`, `echo 1 > /proc/sys/…`), turned into the same `Op`s
//! the Lua API makes — so what an ip script does is journaled, undone exactly,
//! traced by `-v` and printed by `plan`. Parsing is pure: one file per `ip`
//! object (`link`, `addr`, `route`, `rule`, `netns`), `script` for files.
//!
//! Keywords follow iproute2's rules: a keyword may be abbreviated to any
//! prefix where iproute2 uses `matches()`, tried in iproute2's order (`ip l s`
//! is `ip link set`, `ip r` is `ip route`, `ip n` is `ip neighbor`), and must
//! be spelt out where iproute2 uses `strcmp()` (`dev`, `up`, `via`, …).

pub mod addr;
pub mod complete;
pub mod link;
pub mod netns;
pub mod route;
pub mod rule;
pub mod run;
pub mod script;

use super::error::{shown, Error, Result};
use super::netns::NsId;
use super::op::{Op, RouteSpec};

/// What one command does, once parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Changes, applied in order as one transaction (all or nothing).
    Ops(Vec<Op>),
    /// `ip route replace`: the route it replaces (if any) is looked up when it runs.
    RouteReplace { ns: NsId, route: RouteSpec },
    /// A program run to completion inside `ns` (`ip netns exec NS CMD`, or a read such as `ip addr show`).
    Exec { ns: NsId, argv: Vec<String> },
    /// `ip netns exec NS CMD &`: a background process, ended by `down`.
    Spawn {
        ns: NsId,
        argv: Vec<String>,
        log: Option<String>,
        /// The log is emptied first (`CMD > LOG &`), not appended to (`>>`).
        truncate: bool,
    },
    /// `ip -all netns exec CMD`: CMD (a command line, already checked) in every
    /// namespace there is when it runs.
    ForAll { words: Vec<String>, background: bool },
    /// Nothing to do (`set -e`, `mkdir -p /etc/netns/…`).
    Nothing,
    /// `chmod MODE /etc/netns/NS/FILE`: while parsing only (it sets the mode of
    /// the file written just before; `script::parse` never returns it).
    Chmod { path: String, mode: u32 },
}

/// iproute2's `matches()`: `word` is a non-empty prefix of `keyword`.
pub fn matches(word: &str, keyword: &str) -> bool {
    !word.is_empty() && keyword.starts_with(word)
}

/// The first of `keywords` that `word` abbreviates (iproute2's order is the slice's order).
pub fn pick<'k>(word: &str, keywords: &[&'k str]) -> Option<&'k str> {
    keywords.iter().copied().find(|k| matches(word, k))
}

/// Global options of one `ip` invocation.
#[derive(Debug, Clone)]
pub struct Global {
    pub ns: NsId,
    /// `-6`: IPv6 (`-4`: IPv4); None when not given.
    pub v6: Option<bool>,
}

/// A cursor over the words of one command, for messages that name it.
pub struct Words<'a> {
    words: &'a [String],
    pos: usize,
    /// `ip link add`: what messages start with.
    pub what: String,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.pos)?;
        self.pos += 1;
        Some(w.as_str())
    }
}

impl<'a> Words<'a> {
    pub fn new(words: &'a [String], what: impl Into<String>) -> Words<'a> {
        Words {
            words,
            pos: 0,
            what: what.into(),
        }
    }

    pub fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).map(|s| s.as_str())
    }

    /// What follows a keyword: its value, or an error naming the keyword.
    pub fn value(&mut self, keyword: &str) -> Result<&'a str> {
        self.next()
            .ok_or_else(|| self.err(format!("\"{keyword}\" needs a value")))
    }

    /// A keyword's value, checked or converted by `f`.
    pub fn value_with<T>(&mut self, keyword: &str, f: impl FnOnce(&Self, &'a str) -> Result<T>) -> Result<T> {
        let v = self.value(keyword)?;
        f(self, v)
    }

    pub fn rest(&mut self) -> &'a [String] {
        let r = &self.words[self.pos.min(self.words.len())..];
        self.pos = self.words.len();
        r
    }

    pub fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::new(format!("{}: {msg}", self.what))
    }

    /// A word lunet does not understand here.
    pub fn unknown(&self, word: &str) -> Error {
        self.err(format!("{} not understood", shown(word)))
    }

    /// A word iproute2 knows that lunet does not do.
    pub fn unsupported(&self, word: &str) -> Error {
        self.err(format!("{} is not supported by lunet", shown(word)))
    }

    pub fn parsed<T>(&self, r: Result<T>) -> Result<T> {
        r.map_err(|e| self.err(e))
    }
}

/// `ip` objects as iproute2 tries them (`ip.c`'s table, in its order).
const OBJECTS: &[&str] = &[
    "address",
    "addrlabel",
    "maddress",
    "route",
    "rule",
    "neighbor",
    "neighbour",
    "ntable",
    "ntbl",
    "link",
    "l2tp",
    "fou",
    "ila",
    "macsec",
    "tunnel",
    "tunl",
    "tuntap",
    "tap",
    "token",
    "tcpmetrics",
    "tcp_metrics",
    "monitor",
    "xfrm",
    "mroute",
    "mrule",
    "netns",
    "netconf",
    "vrf",
    "sr",
    "nexthop",
    "mptcp",
    "ioam",
    "help",
    "stats",
];

/// The objects lunet changes; the others are refused by name.
pub const SUPPORTED_OBJECTS: &[&str] = &["link", "address", "route", "rule", "netns"];

/// Whether `word` is an `ip` object (a line of an `ip -batch` file starts with one).
pub fn is_object(word: &str) -> bool {
    pick(word, OBJECTS).is_some()
}

/// Reads (`show`, `list`, …) change nothing: they run the real `ip`, inside the namespace.
fn read(g: &Global, words: &[String]) -> Action {
    let mut argv = vec!["ip".to_string()];
    match g.v6 {
        Some(true) => argv.push("-6".into()),
        Some(false) => argv.push("-4".into()),
        None => {}
    }
    argv.extend(words.iter().cloned());
    Action::Exec { ns: g.ns.clone(), argv }
}

/// Parses the words after `ip` (global options, object, verb, arguments).
/// `ns` is where the command acts unless it says otherwise (`-n NS`).
pub fn parse_ip(words: &[String], ns: &NsId) -> Result<Action> {
    let mut g = Global {
        ns: ns.clone(),
        v6: None,
    };
    let mut all = false;
    let mut w = Words::new(words, "ip");
    let mut read_opts = vec![];
    let object = loop {
        let Some(word) = w.next() else {
            return Err(w.err(format!("which object? ({})", SUPPORTED_OBJECTS.join(", "))));
        };
        if word == "--" {
            break w.next().ok_or_else(|| w.err("which object?"))?;
        }
        let Some(opt) = word.strip_prefix('-') else {
            break word;
        };
        let opt = opt.strip_prefix('-').unwrap_or(opt);
        // iproute2's order of options (ip.c): the first that `opt` abbreviates.
        const OPTS: &[&str] = &[
            "loops",
            "family",
            "4",
            "6",
            "0",
            "M",
            "B",
            "human",
            "human-readable",
            "iec",
            "stats",
            "statistics",
            "details",
            "resolve",
            "oneline",
            "timestamp",
            "tshort",
            "Version",
            "force",
            "batch",
            "brief",
            "json",
            "pretty",
            "rcvbuf",
            "color",
            "colour",
            "help",
            "netns",
            "Numeric",
            "all",
            "echo",
        ];
        let exact = ["4", "6", "0", "M", "B", "echo"];
        let found = OPTS
            .iter()
            .copied()
            .find(|k| if exact.contains(k) { opt == *k } else { matches(opt, k) });
        match found {
            Some("4") => g.v6 = Some(false),
            Some("6") => g.v6 = Some(true),
            Some("netns") => {
                let n = w.value(word)?;
                g.ns = w.parsed(NsId::named(n))?;
            }
            Some("all") => all = true,
            Some(
                "details" | "stats" | "statistics" | "json" | "pretty" | "brief" | "oneline" | "resolve" | "human"
                | "human-readable" | "iec" | "color" | "colour" | "Numeric" | "timestamp" | "tshort",
            ) => read_opts.push(word.to_string()),
            Some(other) => return Err(w.err(format!("option \"-{other}\" is not supported by lunet"))),
            None => return Err(w.err(format!("option \"{word}\" not understood"))),
        }
    };
    let Some(obj) = pick(object, OBJECTS) else {
        return Err(w.err(format!(
            "\"{object}\" not understood: the object is one of {}",
            SUPPORTED_OBJECTS.join(", ")
        )));
    };
    let args = w.rest();
    let verb = args.first().map(|s| s.as_str());
    let rest = args.get(1..).unwrap_or(&[]);
    let what = |v: &str| format!("ip {obj} {v}");
    if all && !(obj == "netns" && verb.is_some_and(|v| pick(v, netns::VERBS) == Some("exec"))) {
        return Err(Error::new(format!(
            "ip -all: only `ip -all netns exec CMD` is supported by lunet (ip {obj})"
        )));
    }
    let mut reading = vec![object.to_string()];
    reading.extend(args.iter().cloned());
    let mut with_opts = read_opts.clone();
    with_opts.extend(reading);
    match obj {
        "link" => link::parse(&g, verb, rest, what).map(|a| a.unwrap_or_else(|| read(&g, &with_opts))),
        "address" => addr::parse(&g, verb, rest, what).map(|a| a.unwrap_or_else(|| read(&g, &with_opts))),
        "route" => route::parse(&g, verb, rest, what).map(|a| a.unwrap_or_else(|| read(&g, &with_opts))),
        "rule" => rule::parse(&g, verb, rest, what).map(|a| a.unwrap_or_else(|| read(&g, &with_opts))),
        "netns" => netns::parse(&g, all, verb, rest).map(|a| a.unwrap_or_else(|| read(&g, &with_opts))),
        other => Err(Error::new(format!(
            "ip {other}: not supported by lunet (it changes {})",
            SUPPORTED_OBJECTS.join(", ")
        ))),
    }
}

/// A table id: a number, `main`, `local` or `default`.
/// For unit tests: one `ip` line, its words split on spaces, as run in `ns`.
#[cfg(test)]
pub(super) fn parse_line(line: &str, ns: &NsId) -> Result<Action> {
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    parse_ip(&words, ns)
}

pub fn table_id(w: &Words, s: &str) -> Result<u32> {
    match s {
        "main" => Ok(254),
        "local" => Ok(255),
        "default" => Ok(253),
        _ => s
            .parse()
            .map_err(|_| w.err(format!("bad table {s:?}: expected a number, main, local or default"))),
    }
}

/// A number, decimal or 0x hex (as iproute2's get_u32 reads it).
pub fn number(w: &Words, what: &str, s: &str) -> Result<u32> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| w.err(format!("bad {what} {s:?}: expected a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn objects_abbreviate_in_iproute2_order() {
        assert_eq!(pick("a", OBJECTS), Some("address"));
        assert_eq!(pick("r", OBJECTS), Some("route"));
        assert_eq!(pick("ru", OBJECTS), Some("rule"));
        assert_eq!(pick("n", OBJECTS), Some("neighbor"));
        assert_eq!(pick("net", OBJECTS), Some("netns"));
        assert_eq!(pick("l", OBJECTS), Some("link"));
        assert_eq!(pick("lx", OBJECTS), None);
        assert!(!matches("", "link"));
    }

    #[test]
    fn options_and_objects() {
        let a = parse_ip(&words("-n left l s dev eth0 up"), &NsId::Host).unwrap();
        let Action::Ops(ops) = a else { panic!() };
        assert_eq!(ops[0].to_string(), "ip -n left link set dev eth0 up");
        let a = parse_ip(&words("--netns left link set eth0 up"), &NsId::Host).unwrap();
        assert!(matches!(a, Action::Ops(_)));
        assert!(matches!(
            parse_ip(&words("a"), &NsId::Host).unwrap(),
            Action::Exec { .. }
        ));
        let e = parse_ip(&words("n add 10.0.0.1 lladdr 0:1:2:3:4:5 dev x"), &NsId::Host).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ip neighbor: not supported by lunet (it changes link, address, route, rule, netns)"
        );
        let e = parse_ip(&words("frob"), &NsId::Host).unwrap_err();
        assert!(e.to_string().contains("\"frob\" not understood"), "{e}");
        let e = parse_ip(&words("-x link"), &NsId::Host).unwrap_err();
        assert_eq!(e.to_string(), "ip: option \"-x\" not understood");
        assert!(parse_ip(&[], &NsId::Host).is_err());
        assert!(parse_ip(&words("-n"), &NsId::Host).is_err());
        assert!(parse_ip(&words("-n a/b link"), &NsId::Host).is_err());
    }
}
