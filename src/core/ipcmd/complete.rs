//! Completion of `ip` lines (for the REPL): options, objects, verbs, keywords,
//! link kinds, and — from what the caller looks up — namespace and interface names.

use super::{addr, link, pick, route, rule, SUPPORTED_OBJECTS};
use crate::core::netns::NsId;

const OPTIONS: &[&str] = &["-n", "-4", "-6", "-all"];

/// Candidates for the word being typed (`partial`), after `before` (the words after `ip`).
/// `links(ns)` lists interface names of a namespace; `here` is where the line acts by default.
pub fn candidates(
    before: &[&str],
    partial: &str,
    namespaces: &[String],
    links: &dyn Fn(&NsId) -> Vec<String>,
    here: &NsId,
) -> Vec<String> {
    let mut ns = here.clone();
    let mut i = 0;
    while i < before.len() && before[i].starts_with('-') {
        if pick(before[i].trim_start_matches('-'), &["netns"]).is_some() {
            if let Some(n) = before.get(i + 1) {
                ns = NsId::Named(n.to_string());
            }
            i += 1;
        }
        i += 1;
    }
    let prev = before.last().copied().unwrap_or("");
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut c: Vec<String> = if matches!(prev, "-n" | "-netns" | "--netns") {
        namespaces.to_vec()
    } else if i >= before.len() {
        let mut v = strs(OPTIONS);
        v.extend(strs(SUPPORTED_OBJECTS));
        v
    } else {
        let object = super::pick(before[i], super::OBJECTS).unwrap_or("");
        let args = &before[i + 1..];
        let verb = args.first().map(|v| match object {
            "link" => pick(v, link::VERBS),
            "address" => pick(v, addr::VERBS),
            "route" => pick(v, route::VERBS),
            "rule" => pick(v, rule::VERBS),
            "netns" => pick(v, super::netns::VERBS),
            _ => None,
        });
        match (object, verb) {
            ("link", None) => strs(&["add", "set", "delete", "show"]),
            ("address", None) => strs(&["add", "delete", "show"]),
            ("route", None) => strs(&["add", "delete", "replace", "show", "get"]),
            ("rule", None) => strs(&["add", "delete", "show"]),
            ("netns", None) => strs(&["add", "delete", "exec", "list"]),
            ("netns", Some(Some("exec" | "delete"))) if args.len() == 1 => namespaces.to_vec(),
            ("netns", Some(Some("exec"))) if args.len() == 2 => strs(&["ip"]),
            (_, Some(_)) if matches!(prev, "dev" | "master" | "link" | "iif" | "oif") => links(&ns),
            (_, Some(_)) if prev == "netns" => namespaces.to_vec(),
            (_, Some(_)) if prev == "type" => strs(link::KINDS),
            ("link", Some(Some("set" | "delete"))) if args.len() == 1 => {
                let mut v = links(&ns);
                v.push("dev".into());
                v
            }
            ("link", Some(Some("add"))) => strs(link::KEYWORDS),
            ("link", Some(Some("set"))) => strs(link::KEYWORDS),
            ("address", Some(Some("add" | "delete"))) => strs(addr::KEYWORDS),
            ("address", Some(_)) => strs(&["dev"]),
            ("route", Some(Some("add" | "delete" | "replace"))) => strs(route::KEYWORDS),
            ("rule", Some(Some("add" | "delete"))) => strs(rule::KEYWORDS),
            _ => vec![],
        }
    };
    c.retain(|w| w.starts_with(partial));
    c.sort();
    c.dedup();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_keywords_and_names() {
        let ns = vec!["left".to_string(), "right".to_string()];
        let links = |id: &NsId| match id {
            NsId::Host => vec!["br0".to_string(), "veth0".to_string()],
            NsId::Named(_) => vec!["eth0".to_string()],
        };
        let c = |b: &[&str], p: &str| candidates(b, p, &ns, &links, &NsId::Host);
        assert_eq!(c(&[], "l"), ["link"]);
        assert_eq!(c(&["-n"], ""), ["left", "right"]);
        assert_eq!(c(&["link"], "s"), ["set", "show"]);
        assert_eq!(c(&["l", "s"], "v"), ["veth0"]);
        assert_eq!(c(&["-n", "left", "link", "set"], ""), ["dev", "eth0"]);
        assert_eq!(c(&["link", "add", "x", "type"], "v"), ["veth", "vlan", "vxlan"]);
        assert_eq!(c(&["netns", "exec"], "r"), ["right"]);
        assert_eq!(c(&["route", "add", "default"], "v"), ["via"]);
        assert_eq!(c(&["addr", "add", "10.0.0.1/24", "dev"], ""), ["br0", "veth0"]);
    }
}
