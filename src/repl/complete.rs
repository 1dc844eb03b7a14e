//! Tab completion: globals and `net.*`, methods after `obj:`, fields after
//! `tbl.`, namespace names inside `net.ns.get("…`, interface names inside
//! `ns:link("…`, and `ip …` lines (keywords, namespaces, interfaces).

use std::rc::Rc;

use mlua::{Lua, ObjectLike, Value};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use tokio::runtime::Runtime;

use crate::core::{link, netns, Net, NsId};
use crate::luabind::docs;

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil",
    "not", "or", "repeat", "return", "then", "true", "until", "while",
];

pub struct LuaHelper {
    pub lua: Lua,
    pub rt: Rc<Runtime>,
    pub net: Rc<Net>,
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// What kind of lunet object a value is: "ns", "link", "proc".
fn kind_of(v: &Value) -> Option<&'static str> {
    let Value::UserData(_) = v else { return None };
    let s = v.to_string().ok()?;
    ["Ns(", "Link(", "Proc("]
        .iter()
        .zip(["ns", "link", "proc"])
        .find(|(p, _)| s.starts_with(**p))
        .map(|(_, k)| k)
}

impl LuaHelper {
    fn eval(&self, expr: &str) -> Option<Value> {
        if expr.is_empty() || !expr.chars().all(|c| ident_char(c) || c == '.') {
            return None; // only plain paths: completion must not run code
        }
        self.lua.load(format!("return {expr}")).eval::<Value>().ok()
    }

    fn string_keys(&self, v: &Value, functions_only: bool) -> Vec<String> {
        let Value::Table(t) = v else { return vec![] };
        t.pairs::<Value, Value>()
            .filter_map(|p| p.ok())
            .filter(|(_, v)| !functions_only || matches!(v, Value::Function(_)))
            .filter_map(|(k, _)| match k {
                Value::String(s) => s.to_str().ok().map(|s| s.to_string()),
                _ => None,
            })
            .collect()
    }

    /// The namespace an expression names (`net.host`, a variable holding an Ns, or the current one).
    fn ns_of(&self, expr: &str) -> Option<NsId> {
        let v = if expr.is_empty() {
            self.eval("ns")?
        } else {
            self.eval(expr)?
        };
        if kind_of(&v) != Some("ns") {
            return None;
        }
        let Value::UserData(ud) = v else { return None };
        let name: String = ud.get("name").ok()?;
        Some(if name == "host" { NsId::Host } else { NsId::Named(name) })
    }

    fn link_names(&self, id: &NsId) -> Vec<String> {
        let net = self.net.clone();
        let id = id.clone();
        self.rt
            .block_on(async move {
                let ns = net.ns(&id).await.ok()?;
                link::list(&ns).await.ok()
            })
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.name)
            .collect()
    }

    /// Inside a string literal that is the first argument of a known call?
    fn in_string_arg(&self, before: &str) -> Option<(usize, Vec<String>)> {
        let quote = before.rfind(['"', '\''])?;
        let prefix = &before[..quote];
        if before[quote + 1..].contains(['"', '\'']) {
            return None;
        }
        let start = quote + 1;
        for f in [
            "net.ns.get(",
            "net.ns.delete(",
            "net.ns.exists(",
            "net.ns.get ",
            "peer_ns = ",
            "peer_ns=",
        ] {
            if prefix.trim_end().ends_with(f.trim_end()) {
                return Some((start, netns::list().unwrap_or_default()));
            }
        }
        for f in [":link(", ":addrs("] {
            if let Some(obj) = prefix.strip_suffix(f) {
                let expr: String = obj
                    .chars()
                    .rev()
                    .take_while(|c| ident_char(*c) || *c == '.')
                    .collect::<String>()
                    .chars()
                    .rev()
                    .collect();
                return Some((
                    start,
                    self.ns_of(&expr).map(|id| self.link_names(&id)).unwrap_or_default(),
                ));
            }
        }
        if prefix.ends_with("link(") || prefix.ends_with("addrs(") {
            return Some((start, self.ns_of("").map(|id| self.link_names(&id)).unwrap_or_default()));
        }
        None
    }

    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        if let Some(rest) = before.trim_start().strip_prefix("ip ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let (done, partial) = match rest.ends_with(char::is_whitespace) || rest.is_empty() {
                true => (&words[..], ""),
                false => (&words[..words.len() - 1], words[words.len() - 1]),
            };
            let here = self.ns_of("").unwrap_or(NsId::Host);
            let links = |id: &NsId| self.link_names(id);
            let names = netns::list().unwrap_or_default();
            let c = crate::core::ipcmd::complete::candidates(done, partial, &names, &links, &here);
            return (pos - partial.len(), c);
        }
        if let Some(rest) = before.strip_prefix(".ns ") {
            let start = pos - rest.len();
            let mut names = netns::list().unwrap_or_default();
            names.push("host".into());
            return (start, names.into_iter().filter(|n| n.starts_with(rest)).collect());
        }
        if let Some((start, words)) = self.in_string_arg(before) {
            let partial = &before[start..];
            return (start, words.into_iter().filter(|w| w.starts_with(partial)).collect());
        }
        let word: String = before
            .chars()
            .rev()
            .take_while(|c| ident_char(*c) || *c == '.' || *c == ':')
            .collect::<String>();
        let word: String = word.chars().rev().collect();
        let start = pos - word.len();
        let (base, sep, partial) = match word.rfind(['.', ':']) {
            Some(i) => (&word[..i], &word[i..i + 1], &word[i + 1..]),
            None => ("", "", word.as_str()),
        };
        let mut cands: Vec<String> = match sep {
            "" => {
                let mut g = self.string_keys(&Value::Table(self.lua.globals()), false);
                g.extend(KEYWORDS.iter().map(|s| s.to_string()));
                g
            }
            _ => {
                let Some(v) = self.eval(base) else { return (pos, vec![]) };
                match (kind_of(&v), sep) {
                    (Some(k), ":") => docs::methods(k).into_iter().map(String::from).collect(),
                    (Some("ns"), ".") => vec!["name".into()],
                    (Some("link"), ".") => vec!["name".into(), "index".into(), "ns".into()],
                    (Some("proc"), ".") => vec!["pid".into(), "log".into()],
                    (_, ":") => self.string_keys(&v, true),
                    _ => self.string_keys(&v, false),
                }
            }
        };
        cands.retain(|c| c.starts_with(partial) && (!c.starts_with("__") || partial.starts_with("__")));
        cands.sort();
        cands.dedup();
        let prefix = format!("{base}{sep}");
        (start, cands.into_iter().map(|c| format!("{prefix}{c}")).collect())
    }
}

impl Completer for LuaHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, cands) = self.candidates(line, pos);
        Ok((
            start,
            cands
                .into_iter()
                .map(|c| Pair {
                    display: c.clone(),
                    replacement: c,
                })
                .collect(),
        ))
    }
}

impl Hinter for LuaHelper {
    type Hint = String;
}
impl Highlighter for LuaHelper {}
impl Validator for LuaHelper {}
impl Helper for LuaHelper {}
