//! `lunet convert`: an ip script as the equivalent Lua scenario. Each change
//! becomes the Lua call that makes the same `Op`; what has no call of its own
//! (`ip route replace`, `ip -all netns exec`) stays an `ns:ip "…"` line.

use crate::core::ipcmd::script::Line;
use crate::core::ipcmd::Action;
use crate::core::names::{format_mac, Dest};
use crate::core::netns::NsId;
use crate::core::op::{proto_name, LinkChange, LinkKind, NewLink, Op, RouteSpec, RuleSpec};

/// Characters that are printable but change how text around them is shown
/// (bidirectional overrides, zero-width and line/paragraph separators): written
/// as bytes, so what a reader sees is what Lua reads.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// A Lua string literal that reads back as exactly `s`, byte for byte: `"`,
/// `\\` and newline escaped, every other control byte (and each byte of an
/// invisible character) as `\ddd` with three digits, so a digit after it can
/// never join the escape (`\1` then `0` would be Lua's `\10`, a newline).
pub fn lua_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() || is_invisible(c) => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:03}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for a `--` comment: control and invisible characters shown as `\ddd`
/// (a comment ends at a line break, so none may pass through).
fn comment(s: &str) -> String {
    let q = lua_str(s);
    q[1..q.len() - 1].to_string()
}

fn ns_expr(ns: &NsId) -> String {
    match ns {
        NsId::Host => "net.host".into(),
        NsId::Named(n) => format!("net.ns.get({})", lua_str(n)),
    }
}

/// `{ a = 1, b = "x" }` from the fields that are set.
fn table(fields: Vec<(&str, Option<String>)>) -> String {
    let set: Vec<String> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} = {v}")))
        .collect();
    if set.is_empty() {
        return "{}".into();
    }
    format!("{{ {} }}", set.join(", "))
}

fn q<T: std::fmt::Display>(v: Option<T>) -> Option<String> {
    v.map(|v| lua_str(&v.to_string()))
}

fn n<T: std::fmt::Display>(v: Option<T>) -> Option<String> {
    v.map(|v| v.to_string())
}

fn link_add(ns: &NsId, l: &NewLink) -> Vec<String> {
    let here = ns_expr(ns);
    let mac = q(l.mac.map(|m| format_mac(&m)));
    let name = lua_str(&l.name);
    let mut out = vec![match &l.kind {
        LinkKind::Veth { peer, peer_ns } => format!(
            "{here}:veth({name}, {}, {})",
            lua_str(peer),
            table(vec![
                ("peer_ns", (peer_ns != ns).then(|| lua_str(&peer_ns.to_string()))),
                ("mtu", n(l.mtu)),
                ("master", q(l.master.as_ref())),
            ])
        ),
        LinkKind::Bridge => format!(
            "{here}:bridge({name}, {})",
            table(vec![("mtu", n(l.mtu)), ("mac", mac)])
        ),
        LinkKind::Dummy => format!("{here}:dummy({name}, {})", table(vec![("mtu", n(l.mtu)), ("mac", mac)])),
        LinkKind::Vlan { parent, id } => format!(
            "{here}:vlan({name}, {}, {id}, {})",
            lua_str(parent),
            table(vec![("mtu", n(l.mtu)), ("mac", mac)])
        ),
        LinkKind::Macvlan { parent, mode } => format!(
            "{here}:macvlan({name}, {}, {})",
            lua_str(parent),
            table(vec![
                ("mode", Some(lua_str(&format!("{mode:?}").to_lowercase()))),
                ("mtu", n(l.mtu)),
                ("mac", mac)
            ])
        ),
        LinkKind::Vxlan(v) => format!(
            "{here}:vxlan({name}, {})",
            table(vec![
                ("id", Some(v.id.to_string())),
                ("remote", q(v.remote)),
                ("local", q(v.local)),
                ("group", q(v.group)),
                ("dev", q(v.dev.as_ref())),
                ("port", n(v.port)),
                ("mtu", n(l.mtu)),
                ("mac", mac),
            ])
        ),
    }];
    if let (Some(m), false) = (&l.master, matches!(l.kind, LinkKind::Veth { .. })) {
        out.push(format!("{here}:link({name}):set {{ master = {} }}", lua_str(m)));
    }
    if l.up {
        out.push(format!("{here}:link({name}):up()"));
    }
    out
}

fn link_set(ns: &NsId, dev: &str, c: &LinkChange) -> String {
    let link = format!("{}:link({})", ns_expr(ns), lua_str(dev));
    if *c
        == (LinkChange {
            up: c.up,
            ..Default::default()
        })
    {
        if let Some(up) = c.up {
            return format!("{link}:{}()", if up { "up" } else { "down" });
        }
    }
    let master = c.master.as_ref().map(|m| match m {
        Some(m) => lua_str(m),
        None => "false".into(),
    });
    format!(
        "{link}:set {}",
        table(vec![
            ("ns", q(c.ns.as_ref())),
            ("name", q(c.name.as_ref())),
            ("mtu", n(c.mtu)),
            ("mac", q(c.mac.map(|m| format_mac(&m)))),
            ("master", master),
            ("up", n(c.up)),
        ])
    )
}

fn route(r: &RouteSpec) -> String {
    let to = match r.to {
        Some(Dest::Default { v6: true }) => "::/0".to_string(),
        Some(d) => d.to_string(),
        None => "default".into(),
    };
    table(vec![
        ("to", Some(lua_str(&to))),
        ("via", q(r.via)),
        ("dev", q(r.dev.as_ref())),
        ("table", n(r.table)),
        ("metric", n(r.metric)),
        ("src", q(r.src)),
        ("scope", q(r.scope.map(|s| s.as_str()))),
        ("proto", q(r.proto.map(proto_name))),
    ])
}

fn rule(r: &RuleSpec) -> String {
    table(vec![
        ("from", q(r.from)),
        ("to", q(r.to)),
        ("table", n(r.table)),
        ("priority", n(r.priority)),
        ("iif", q(r.iif.as_ref())),
        ("fwmark", n(r.fwmark)),
        ("family", r.v6.then(|| lua_str("inet6"))),
    ])
}

fn argv(words: &[String]) -> String {
    let w: Vec<String> = words.iter().map(|w| lua_str(w)).collect();
    format!("{{ {} }}", w.join(", "))
}

fn op(o: &Op) -> Vec<String> {
    vec![match o {
        Op::NsAdd { name, ipv6_off } => format!(
            "net.ns.add({}, {{ lo = false{} }})",
            lua_str(name),
            if *ipv6_off { ", ipv6 = false" } else { "" }
        ),
        Op::NsDel { name } => format!("net.ns.delete({})", lua_str(name)),
        Op::LinkAdd { ns, link } => return link_add(ns, link),
        Op::LinkSet { ns, dev, change } => link_set(ns, dev, change),
        Op::LinkDel { ns, dev } => format!("{}:link({}):delete()", ns_expr(ns), lua_str(dev)),
        Op::AddrAdd { ns, dev, cidr } => format!(
            "{}:link({}):addr_add({})",
            ns_expr(ns),
            lua_str(dev),
            lua_str(&cidr.to_string())
        ),
        Op::AddrDel { ns, dev, cidr } => format!(
            "{}:link({}):addr_del({})",
            ns_expr(ns),
            lua_str(dev),
            lua_str(&cidr.to_string())
        ),
        Op::RouteAdd { ns, route: r } => format!("{}:route_add {}", ns_expr(ns), route(r)),
        Op::RouteDel { ns, route: r } => format!("{}:route_del {}", ns_expr(ns), route(r)),
        Op::RuleAdd { ns, rule: r } => format!("{}:rule_add {}", ns_expr(ns), rule(r)),
        Op::RuleDel { ns, rule: r } => format!("{}:rule_del {}", ns_expr(ns), rule(r)),
        Op::Sysctl { ns, key, value, .. } => format!("{}:sysctl({}, {})", ns_expr(ns), lua_str(key), lua_str(value)),
        Op::EtcFile {
            ns,
            file,
            content,
            mode,
        } => format!(
            "{}:etc({}, {}{})",
            ns_expr(&NsId::Named(ns.clone())),
            lua_str(file),
            lua_str(content),
            mode.map(|m| format!(", {{ mode = \"{m:o}\" }}")).unwrap_or_default()
        ),
        Op::Ipt { ns, change } => {
            let f = if change.v6 { "ip6tables" } else { "iptables" };
            // Without the leading `-w`: ns:iptables waits for the lock itself.
            format!("{}:{f}({})", ns_expr(ns), argv(&change.args()[1..]))
        }
        Op::IptRestore { ns, v6, batch } => format!(
            "{}:iptables_restore({}{})",
            ns_expr(ns),
            lua_str(&batch.text),
            if *v6 { ", { v6 = true }" } else { "" }
        ),
        other => format!("-- (not converted: {})", comment(&other.to_string().replace('\n', " "))),
    }]
}

fn action(a: &Action, text: &str) -> Vec<String> {
    match a {
        Action::Ops(ops) => ops.iter().flat_map(op).collect(),
        Action::RouteReplace { ns, .. } => vec![format!("{}:ip({})", ns_expr(ns), lua_str(text))],
        Action::Exec { ns, argv: a } => vec![format!("io.write({}:exec({}).stdout)", ns_expr(ns), argv(a))],
        Action::Spawn {
            ns,
            argv: a,
            log,
            truncate,
        } => vec![format!(
            "{}:spawn({}{})",
            ns_expr(ns),
            argv(a),
            log.as_ref()
                .map(|l| format!(
                    ", {{ log = {}{} }}",
                    lua_str(l),
                    if *truncate { ", truncate = true" } else { "" }
                ))
                .unwrap_or_default()
        )],
        // The command as written, quotes and all (its text stops before a trailing `&`).
        Action::ForAll { background, .. } => vec![format!(
            "net.ip({})",
            lua_str(&format!("{text}{}", if *background { " &" } else { "" }))
        )],
        Action::Nothing | Action::Chmod { .. } => vec![],
    }
}

/// The Lua scenario that does what `lines` (parsed from `file`) do.
pub fn to_lua(name: &str, file: &str, lines: &[Line]) -> String {
    let mut out = format!(
        "-- {file} as a lunet scenario (by `lunet convert`): the same changes, journaled,\n\
         -- so `lunet down {name}` undoes them. Each step shows the line it comes from.\n\
         return net.scenario {{\n  name = {},\n  description = {},\n  setup = function()\n",
        lua_str(name),
        lua_str(&format!("converted from {file}"))
    );
    for l in lines {
        let code = action(&l.action, &l.text);
        if code.is_empty() {
            continue;
        }
        // The command as written, one comment line per line of it.
        for (i, t) in l.text.split('\n').enumerate() {
            match i {
                0 => out.push_str(&format!("    -- {}: {}\n", l.line, comment(t))),
                _ => out.push_str(&format!("    --   {}\n", comment(t))),
            }
        }
        for c in code {
            out.push_str(&format!("    {c}\n"));
        }
    }
    out.push_str("  end,\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_strings() {
        assert_eq!(lua_str("a\"b\\c\nd\u{1}0"), "\"a\\\"b\\\\c\\nd\\0010\"");
        assert_eq!(lua_str("\r\t\u{7f}é\u{202e}"), "\"\\013\\009\\127é\\226\\128\\174\"");
    }

    #[test]
    fn every_byte_reads_back_exactly() {
        let lua = mlua::Lua::new();
        let back = |s: &str| -> Vec<u8> {
            let v: mlua::LuaString = lua.load(format!("return {}", lua_str(s))).eval().unwrap();
            v.as_bytes().to_vec()
        };
        // Every character up to U+07FF (every byte 0-127, and lead and continuation
        // bytes of two-byte UTF-8), each before a digit and alone, and longer ones.
        let chars = (0u32..0x800).chain([0x202e, 0x2028, 0xfeff, 0xffff, 0x1f600, 0x10ffff]);
        for c in chars.filter_map(char::from_u32) {
            for s in [format!("{c}0"), format!("a{c}00"), c.to_string(), format!("{c}{c}9")] {
                assert_eq!(back(&s), s.as_bytes(), "{:?} written as {}", s, lua_str(&s));
            }
        }
        let all: String = (0u32..0x800).filter_map(char::from_u32).collect();
        assert_eq!(back(&all), all.as_bytes());
        // What is written is plain printable ASCII or printable text: no control byte.
        assert!(!lua_str(&all).chars().any(|c| c.is_control()));
    }

    #[test]
    fn converts_each_kind() {
        let text = "ip netns add left\nip link add veth0 type veth peer name eth0 netns left\nip link set veth0 up\n\
                    ip -n left addr add 10.0.0.2/24 dev eth0\nip -n left route add default via 10.0.0.1\n\
                    ip route replace 10.9.0.0/24 dev veth0\nsysctl -w net.ipv4.ip_forward=1\n\
                    iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE\nip -all netns exec ip link set lo up\n";
        let lines = crate::core::ipcmd::script::parse(text, "lab.sh", &NsId::Host).unwrap();
        let lua = to_lua("lab", "lab.sh", &lines);
        for want in [
            "net.ns.add(\"left\", { lo = false })",
            "net.host:veth(\"veth0\", \"eth0\", { peer_ns = \"left\" })",
            "net.host:link(\"veth0\"):up()",
            "net.ns.get(\"left\"):link(\"eth0\"):addr_add(\"10.0.0.2/24\")",
            "net.ns.get(\"left\"):route_add { to = \"default\", via = \"10.0.0.1\", proto = \"boot\" }",
            "net.host:ip(\"ip route replace 10.9.0.0/24 dev veth0\")",
            "net.host:sysctl(\"net.ipv4.ip_forward\", \"1\")",
            "net.host:iptables({ \"-t\", \"nat\", \"-A\", \"POSTROUTING\", \"-s\", \"10.0.0.0/24\", \"-j\", \"MASQUERADE\" })",
            "net.ip(\"ip -all netns exec ip link set lo up\")",
        ] {
            assert!(lua.contains(want), "{want}\n{lua}");
        }
    }
}
