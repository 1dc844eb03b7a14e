//! Setup scripts made of `ip` lines: the shell syntax such scripts use (quotes,
//! comments, `\` continuations, `&&`, `;`, a trailing `&`, `sudo`, `set -e`)
//! and the lines around `ip` (`sysctl -w`, `iptables`, `echo 1 >
//! /proc/sys/…`, files under `/etc/netns`), plus `ip -batch` files (lines
//! without the leading `ip`). Also what `lunet plan` prints, so a plan can be
//! brought up again. No shell ever runs: what lunet does not understand is
//! refused, by file, line and word, before anything is changed.

use super::{is_object, parse_ip, Action};
use crate::core::error::{shown, Error, Result};
use crate::core::firewall::{self, Parsed};
use crate::core::names::{check_nsname, sysctl_path};
use crate::core::netns::NsId;
use crate::core::op::Op;

/// One command of a script, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// 1-based line where the command starts.
    pub line: usize,
    /// The command as written (for messages and `convert`).
    pub text: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// `>`, `>>`, `2>`, `2>&1`…: fd, append, and `&N` when it duplicates one.
    Redir {
        fd: u32,
        append: bool,
        dup: Option<u32>,
    },
    Pipe,
    Amp,
    And,
    Semi,
    Newline,
}

struct Token {
    tok: Tok,
    line: usize,
    start: usize,
    end: usize,
}

fn bad(line: usize, msg: impl std::fmt::Display) -> (usize, String) {
    (line, msg.to_string())
}

/// Splits a script into tokens, the way sh would, refusing what only a shell can do.
#[allow(unused_assignments)] // the macros reset state that the last use does not read again
fn tokenize(text: &str) -> std::result::Result<Vec<Token>, (usize, String)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut toks = vec![];
    let mut line = 1;
    let mut i = 0;
    let mut word = String::new();
    let mut in_word = false;
    let mut word_start = (0, 1);
    let mut quoted = false;
    let end_of = |i: usize| chars.get(i).map(|c| c.0).unwrap_or(text.len());
    macro_rules! flush {
        ($at:expr) => {
            if in_word {
                toks.push(Token {
                    tok: Tok::Word(std::mem::take(&mut word)),
                    line: word_start.1,
                    start: word_start.0,
                    end: $at,
                });
                in_word = false;
                quoted = false;
            }
        };
    }
    macro_rules! begin {
        () => {
            if !in_word {
                in_word = true;
                word_start = (end_of(i), line);
            }
        };
    }
    while i < chars.len() {
        let c = chars[i].1;
        match c {
            '\\' => match chars.get(i + 1).map(|c| c.1) {
                Some('\n') => {
                    line += 1;
                    i += 2;
                    continue;
                }
                Some('\r') => return Err(bad(line, CR)),
                Some(n) => {
                    begin!();
                    word.push(n);
                    quoted = true;
                    i += 2;
                    continue;
                }
                None => return Err(bad(line, "a trailing backslash")),
            },
            '\'' => {
                begin!();
                quoted = true;
                let from = line;
                i += 1;
                loop {
                    match chars.get(i).map(|c| c.1) {
                        Some('\'') => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            word.push(ch);
                        }
                        None => return Err(bad(from, "unterminated ' quote")),
                    }
                    i += 1;
                }
            }
            '"' => {
                begin!();
                quoted = true;
                let from = line;
                i += 1;
                loop {
                    match chars.get(i).map(|c| c.1) {
                        Some('"') => break,
                        Some('\\') => match chars.get(i + 1).map(|c| c.1) {
                            Some(e @ ('"' | '\\' | '$' | '`')) => {
                                word.push(e);
                                i += 1;
                            }
                            Some('\n') => {
                                line += 1;
                                i += 1;
                            }
                            _ => word.push('\\'),
                        },
                        Some('$' | '`') => {
                            return Err(bad(
                                line,
                                format!("{}: shell expansion is not done by lunet", shown(&word_at(&chars, i))),
                            ))
                        }
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            word.push(ch);
                        }
                        None => return Err(bad(from, "unterminated \" quote")),
                    }
                    i += 1;
                }
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i].1 != '\n' {
                    i += 1;
                }
                continue;
            }
            '\n' => {
                flush!(end_of(i));
                toks.push(Token {
                    tok: Tok::Newline,
                    line,
                    start: end_of(i),
                    end: end_of(i),
                });
                line += 1;
            }
            '\r' => return Err(bad(line, CR)),
            ' ' | '\t' => flush!(end_of(i)),
            ';' | '|' | '&' | '>' | '<' | '(' | ')' => {
                let next = chars.get(i + 1).map(|c| c.1);
                let at = end_of(i);
                let tok = match (c, next) {
                    ('>', _) => {
                        // `2>`: a word of digits right before is the fd.
                        let fd = if in_word && !quoted && !word.is_empty() && word.chars().all(|d| d.is_ascii_digit()) {
                            let fd = word.parse().unwrap_or(1);
                            word.clear();
                            in_word = false;
                            fd
                        } else {
                            flush!(at);
                            1
                        };
                        let append = next == Some('>');
                        if append {
                            i += 1;
                        }
                        let mut dup = None;
                        if chars.get(i + 1).map(|c| c.1) == Some('&') {
                            let digits: String = chars[i + 2..]
                                .iter()
                                .map(|c| c.1)
                                .take_while(|d| d.is_ascii_digit())
                                .collect();
                            if digits.is_empty() {
                                return Err(bad(line, "\">&\" without a file descriptor is not understood"));
                            }
                            dup = digits.parse().ok();
                            i += 1 + digits.len();
                        }
                        Tok::Redir { fd, append, dup }
                    }
                    ('&', Some('&')) => {
                        i += 1;
                        Tok::And
                    }
                    (';', Some(';')) => {
                        return Err(bad(
                            line,
                            "\";;\" is shell syntax lunet does not run (it ends a case branch)",
                        ))
                    }
                    ('|', Some('|')) => {
                        return Err(bad(
                            line,
                            "\"||\" is not understood by lunet (it stops at the first failure anyway)",
                        ))
                    }
                    ('&', Some('>')) => return Err(bad(line, "\"&>\" is not understood by lunet")),
                    ('&', _) => Tok::Amp,
                    ('|', _) => Tok::Pipe,
                    (';', _) => Tok::Semi,
                    (other, _) => {
                        return Err(bad(
                            line,
                            format!("\"{other}\" is shell syntax lunet does not run (it reads plain commands)"),
                        ))
                    }
                };
                flush!(at);
                toks.push(Token {
                    tok,
                    line,
                    start: at,
                    end: end_of(i + 1),
                });
            }
            '$' | '`' => {
                return Err(bad(
                    line,
                    format!("{}: shell expansion is not done by lunet", shown(&word_at(&chars, i))),
                ))
            }
            // Unquoted (a quoted one never reaches here): sh would expand a pattern.
            '*' | '?' => {
                let w = format!("{word}{}", word_at(&chars, i));
                return Err(bad(line, format!("{}: wildcards are not expanded by lunet", shown(&w))));
            }
            '[' if word_at(&chars, i).contains(']') => {
                let w = format!("{word}{}", word_at(&chars, i));
                return Err(bad(
                    line,
                    format!("{}: wildcards are not expanded by lunet (quote it: '…')", shown(&w)),
                ));
            }
            '~' if !in_word => {
                return Err(bad(
                    line,
                    format!(
                        "{}: tilde expansion is not done by lunet (quote it, or write the path out)",
                        shown(&word_at(&chars, i))
                    ),
                ))
            }
            ch => {
                begin!();
                word.push(ch);
            }
        }
        i += 1;
    }
    flush!(text.len());
    Ok(toks)
}

/// A carriage return outside quotes (a file with CRLF line ends): sh would keep it in
/// the word before it (`a\r`), or join it to a `\` (no continuation), so lunet refuses.
const CR: &str = "a carriage return (CRLF line ends?): sh would keep it as part of a word; convert the file to LF line ends (dos2unix)";

/// The rest of the word starting at `i`, for messages.
fn word_at(chars: &[(usize, char)], i: usize) -> String {
    chars[i..]
        .iter()
        .map(|c| c.1)
        .take_while(|c| !c.is_whitespace() && !";&|".contains(*c))
        .collect()
}

#[derive(Debug, Default)]
struct Simple {
    words: Vec<String>,
    /// (fd, append, target file or `&N`)
    redirs: Vec<(u32, bool, String)>,
}

struct Cmd {
    line: usize,
    text: String,
    parts: Vec<Simple>,
    background: bool,
}

fn commands(text: &str, toks: Vec<Token>) -> std::result::Result<Vec<Cmd>, (usize, String)> {
    let mut out = vec![];
    let mut parts = vec![Simple::default()];
    let mut span: Option<(usize, usize, usize)> = None; // line, start, end
    let mut it = toks.into_iter().peekable();
    // The line of a `&&` still waiting for its command (sh lets it follow on the next line).
    let mut after_and: Option<usize> = None;
    let mut finish =
        |parts: &mut Vec<Simple>, span: &mut Option<(usize, usize, usize)>, background: bool, line: usize| {
            let done = std::mem::replace(parts, vec![Simple::default()]);
            let empty = done.iter().all(|p| p.words.is_empty() && p.redirs.is_empty());
            match (span.take(), empty) {
                (Some((l, s, e)), false) => {
                    if done.iter().any(|p| p.words.is_empty()) {
                        return Err(bad(l, "an empty command"));
                    }
                    out.push(Cmd {
                        line: l,
                        text: text[s..e].to_string(),
                        parts: done,
                        background,
                    });
                    Ok(())
                }
                (_, true) if background => Err(bad(line, "\"&\" without a command")),
                _ => Ok(()),
            }
        };
    while let Some(t) = it.next() {
        let newline = t.tok == Tok::Newline;
        let grow = |span: &mut Option<(usize, usize, usize)>| match span {
            Some(s) => s.2 = t.end,
            None => *span = Some((t.line, t.start, t.end)),
        };
        match t.tok {
            Tok::Word(w) => {
                grow(&mut span);
                parts.last_mut().unwrap().words.push(w);
            }
            Tok::Redir { fd, append, dup } => {
                grow(&mut span);
                let target = match dup {
                    Some(d) => format!("&{d}"),
                    None => match it.next() {
                        Some(Token {
                            tok: Tok::Word(w), end, ..
                        }) => {
                            if let Some(s) = span.as_mut() {
                                s.2 = end;
                            }
                            w
                        }
                        _ => return Err(bad(t.line, "a redirection without a file")),
                    },
                };
                parts.last_mut().unwrap().redirs.push((fd, append, target));
            }
            Tok::Pipe => {
                grow(&mut span);
                parts.push(Simple::default());
            }
            Tok::Amp => finish(&mut parts, &mut span, true, t.line)?,
            // sh refuses `&& cmd`, `; cmd`, `cmd && ;` as syntax errors: so does lunet.
            Tok::And | Tok::Semi if span.is_none() || after_and.is_some() => {
                let what = if t.tok == Tok::And { "&&" } else { ";" };
                return Err(match after_and {
                    Some(l) => bad(l, "\"&&\" without a command after it"),
                    None => bad(t.line, format!("\"{what}\" without a command before it")),
                });
            }
            Tok::And => {
                finish(&mut parts, &mut span, false, t.line)?;
                after_and = Some(t.line);
                continue;
            }
            Tok::Semi | Tok::Newline => finish(&mut parts, &mut span, false, t.line)?,
        }
        if !newline {
            after_and = None;
        }
    }
    if let Some(l) = after_and {
        return Err(bad(l, "\"&&\" without a command after it"));
    }
    finish(&mut parts, &mut span, false, 0)?;
    Ok(out)
}

/// What the lines lunet understands look like, for the message about a line it does not.
const UNDERSTOOD: &str = "lunet reads ip, ip netns exec, sysctl -w, iptables and echo > /proc/sys/net lines";

/// Parses a whole script; the first error is `FILE:LINE: message` (`line N:
/// message` without a file name, just the message for a single line). `ns` is
/// where commands act unless they say otherwise.
pub fn parse(text: &str, file: &str, ns: &NsId) -> Result<Vec<Line>> {
    let one_line = !text.trim().contains('\n');
    let at = |line: usize, msg: String| {
        Error::new(match (file.is_empty(), one_line) {
            (false, _) => format!("{file}:{line}: {msg}"),
            (true, false) => format!("line {line}: {msg}"),
            (true, true) => msg,
        })
    };
    let toks = tokenize(text).map_err(|(l, m)| at(l, m))?;
    let cmds = commands(text, toks).map_err(|(l, m)| at(l, m))?;
    let mut lines: Vec<Line> = vec![];
    for cmd in cmds {
        let mut action = classify(&cmd, ns).map_err(|e| at(cmd.line, e.to_string()))?;
        if let Action::Chmod { path, mode } = &action {
            let target = lines.iter_mut().rev().find_map(|l| match &mut l.action {
                Action::Ops(ops) => ops.iter_mut().find_map(|op| match op {
                    Op::EtcFile { ns, file, mode: m, .. } if format!("/etc/netns/{ns}/{file}") == *path => Some(m),
                    _ => None,
                }),
                _ => None,
            });
            match target {
                Some(m) => *m = Some(*mode),
                None => {
                    return Err(at(
                        cmd.line,
                        format!(
                            "chmod {path}: lunet sets the mode of a file under /etc/netns it wrote just before, only"
                        ),
                    ))
                }
            }
            action = Action::Nothing;
        }
        lines.push(Line {
            line: cmd.line,
            text: cmd.text,
            action,
        });
    }
    Ok(lines)
}

fn strip_sudo(words: &[String]) -> &[String] {
    match words.first().map(|s| s.as_str()) {
        Some("sudo") => &words[1..],
        _ => words,
    }
}

/// One command of a script (a pipeline, redirections, `&`).
fn classify(cmd: &Cmd, ns: &NsId) -> Result<Action> {
    if cmd.parts.len() > 2 {
        return Err(Error::new(
            "a pipeline of more than two commands is not understood by lunet",
        ));
    }
    if cmd.parts.len() == 2 {
        return restore_pipe(&cmd.parts[0], &cmd.parts[1], ns);
    }
    let s = &cmd.parts[0];
    let words = strip_sudo(&s.words);
    if words.is_empty() {
        return Err(Error::new("\"sudo\" without a command"));
    }
    if cmd.background {
        let mut log = None;
        let mut truncate = false;
        for (fd, append, target) in &s.redirs {
            match (fd, target.as_str()) {
                (2, "&1") => {}
                (1 | 2, "/dev/null") => {}
                (1, path) => {
                    log = Some(path.to_string());
                    truncate = !append;
                }
                _ => {
                    return Err(Error::new(
                        "a background command's output goes to one file (CMD >>LOG 2>&1 &), or nowhere",
                    ))
                }
            }
        }
        let known = is_known(&words[0]);
        return match (known, command(words, ns)) {
            (false, _) => Ok(Action::Spawn {
                ns: ns.clone(),
                argv: words.to_vec(),
                log,
                truncate,
            }),
            (true, Ok(Action::Exec { ns, argv })) => Ok(Action::Spawn {
                ns,
                argv,
                log,
                truncate,
            }),
            (true, Ok(Action::ForAll { words, .. })) => Ok(Action::ForAll {
                words,
                background: true,
            }),
            (true, Ok(_)) => Err(Error::new(format!(
                "\"{}\": a change cannot run in the background (&)",
                words[0]
            ))),
            (true, Err(e)) => Err(e),
        };
    }
    // Output thrown away (`>/dev/null 2>&1`): lunet shows a program's output anyway.
    let discards = |r: &(u32, bool, String)| matches!((r.0, r.2.as_str()), (1 | 2, "/dev/null") | (2, "&1"));
    if !s.redirs.is_empty() && !s.redirs.iter().all(discards) {
        return write_file(words, &s.redirs, ns);
    }
    match words[0].as_str() {
        "chmod" => chmod(words),
        "mkdir" => mkdir(words),
        _ => command_at(words, ns, true),
    }
}

/// Programs whose lines lunet understands (anything else runs only after `ip netns exec NS`).
fn is_known(w: &str) -> bool {
    matches!(w, "ip" | "sysctl" | "iptables" | "ip6tables" | "set" | "true" | ":") || is_object(w) || w.starts_with('-')
}

/// One command line (no redirections), as written after `ip netns exec NS`:
/// a line lunet understands acts in `ns`; any other program runs there.
pub fn command(words: &[String], ns: &NsId) -> Result<Action> {
    command_at(words, ns, false)
}

fn command_at(words: &[String], ns: &NsId, top: bool) -> Result<Action> {
    let words = strip_sudo(words);
    let Some(first) = words.first() else {
        return Err(Error::new("an empty command"));
    };
    let rest = &words[1..];
    match first.as_str() {
        "ip" => parse_ip(rest, ns),
        "sysctl" => sysctl(rest, ns),
        "iptables" | "ip6tables" => iptables(first == "ip6tables", rest, ns),
        "set"
            if rest.iter().all(|w| {
                w.starts_with('-')
                    || w.starts_with('+')
                    || w == "pipefail"
                    || w == "errexit"
                    || w == "nounset"
                    || w == "xtrace"
            }) =>
        {
            Ok(Action::Nothing)
        }
        "true" | ":" if rest.is_empty() => Ok(Action::Nothing),
        // An `ip -batch` line: the words after `ip`.
        w if top && (is_object(w) || w.starts_with('-')) => parse_ip(words, ns),
        _ if top => Err(Error::new(format!("{} not understood ({UNDERSTOOD})", shown(first)))),
        _ => Ok(Action::Exec {
            ns: ns.clone(),
            argv: words.to_vec(),
        }),
    }
}

/// `sysctl [-q] -w KEY=VALUE…` (a read without `=` runs sysctl itself).
fn sysctl(args: &[String], ns: &NsId) -> Result<Action> {
    let mut ops = vec![];
    let mut reads = false;
    for a in args {
        if let Some(flags) = a.strip_prefix('-') {
            if flags.is_empty() || !flags.chars().all(|c| "wqen".contains(c)) {
                return Err(Error::new(format!(
                    "sysctl: option \"{a}\" is not supported by lunet (-w KEY=VALUE is)"
                )));
            }
            continue;
        }
        match a.split_once('=') {
            Some((k, v)) => {
                let key = k.trim();
                sysctl_path(key).map_err(|e| Error::new(format!("sysctl: {e}")))?;
                ops.push(Op::Sysctl {
                    ns: ns.clone(),
                    key: key.to_string(),
                    value: v.trim().to_string(),
                    expect: None,
                });
            }
            None => reads = true,
        }
    }
    match (ops.is_empty(), reads) {
        (false, false) => Ok(Action::Ops(ops)),
        (true, true) => {
            let mut argv = vec!["sysctl".to_string()];
            argv.extend(args.iter().cloned());
            Ok(Action::Exec { ns: ns.clone(), argv })
        }
        (false, true) => Err(Error::new(
            "sysctl: give either KEY=VALUE writes or keys to read, not both",
        )),
        (true, false) => Err(Error::new("sysctl: which key? (sysctl -w KEY=VALUE)")),
    }
}

/// `iptables ARGS`: rules, chains and policies are journaled; `-L`/`-S`/`-C` are reads.
fn iptables(v6: bool, args: &[String], ns: &NsId) -> Result<Action> {
    let bin = if v6 { "ip6tables" } else { "iptables" };
    if args.is_empty() {
        return Err(Error::new(format!("{bin}: no arguments")));
    }
    let is_read = |a: &String| {
        matches!(a.as_str(), "--list" | "--list-rules" | "--check")
            || (a.starts_with('-') && !a.starts_with("--") && a[1..].chars().any(|c| "LSC".contains(c)))
    };
    match firewall::parse_args(v6, args)? {
        Parsed::Change(change) => Ok(Action::Ops(vec![Op::Ipt { ns: ns.clone(), change }])),
        Parsed::Other(_) if args.iter().any(is_read) => {
            let mut argv = vec![bin.to_string()];
            argv.extend(args.iter().cloned());
            Ok(Action::Exec { ns: ns.clone(), argv })
        }
        Parsed::Other(_) => Err(Error::new(format!(
            "{bin} {}: not supported by lunet (it journals -A, -I, -D RULE, -N, -X CHAIN and -P, so that down can undo them)",
            args.join(" ")
        ))),
    }
}

/// `/etc/netns/NS/FILE` → (NS, FILE).
fn etc_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/etc/netns/")?;
    let (ns, file) = rest.split_once('/')?;
    if check_nsname(ns).is_err() || file.is_empty() {
        return None;
    }
    Some((ns.to_string(), file.to_string()))
}

/// printf's backslash escapes (`\n`, `\t`, `\\`).
fn unescape(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                _ => return None,
            },
            '%' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// What `echo`/`printf` write: `echo [-n] WORDS…`, `printf '%s' TEXT`, `printf 'TEXT\n'`.
fn written(words: &[String]) -> Result<String> {
    let args = &words[1..];
    match words[0].as_str() {
        "echo" => {
            let (nl, args) = match args.first().map(|s| s.as_str()) {
                Some("-n") => (false, &args[1..]),
                _ => (true, args),
            };
            Ok(format!("{}{}", args.join(" "), if nl { "\n" } else { "" }))
        }
        "printf" => match args {
            [f, text] if f == "%s" => Ok(text.clone()),
            [f, text] if f == "%s\\n" => Ok(format!("{text}\n")),
            [f] => unescape(f)
                .ok_or_else(|| Error::new("printf: only '%s' TEXT, or a format without %, is understood by lunet")),
            _ => Err(Error::new(
                "printf: only '%s' TEXT, or a format without %, is understood by lunet",
            )),
        },
        other => Err(Error::new(format!(
            "\"{other}\" with a redirection is not understood (echo/printf to /proc/sys/net/… or /etc/netns/… are)"
        ))),
    }
}

/// `echo 1 > /proc/sys/net/…` (a sysctl) and `echo TEXT > /etc/netns/NS/FILE` (a file lunet tracks).
fn write_file(words: &[String], redirs: &[(u32, bool, String)], ns: &NsId) -> Result<Action> {
    let [(1, append, path)] = redirs else {
        return Err(Error::new(format!(
            "\"{}\": only a single > to a file is understood by lunet",
            words[0]
        )));
    };
    let text = written(words)?;
    if let Some(key) = path.strip_prefix("/proc/sys/") {
        sysctl_path(key).map_err(|e| Error::new(format!("{path}: {e}")))?;
        return Ok(Action::Ops(vec![Op::Sysctl {
            ns: ns.clone(),
            key: key.to_string(),
            value: text.trim().to_string(),
            expect: None,
        }]));
    }
    if let Some((ns, file)) = etc_path(path) {
        if *append {
            return Err(Error::new(format!(
                "{path}: appending (>>) is not supported by lunet (write the whole file with >)"
            )));
        }
        crate::core::netns::check_etc_path(&file)?;
        return Ok(Action::Ops(vec![Op::EtcFile {
            ns,
            file,
            content: text,
            mode: None,
        }]));
    }
    Err(Error::new(format!(
        "{path}: lunet writes only /proc/sys/net/… (sysctls) and /etc/netns/NS/… files"
    )))
}

fn chmod(words: &[String]) -> Result<Action> {
    match &words[1..] {
        [mode, path] if etc_path(path).is_some() => {
            let mode = u32::from_str_radix(mode, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| Error::new(format!("chmod: bad mode {mode:?} (octal, like 644)")))?;
            Ok(Action::Chmod {
                path: path.clone(),
                mode,
            })
        }
        _ => Err(Error::new(
            "chmod: only chmod MODE /etc/netns/NS/FILE is understood by lunet",
        )),
    }
}

/// `mkdir -p /etc/netns/NS[/DIR]`: writing a file there makes its directories.
fn mkdir(words: &[String]) -> Result<Action> {
    match &words[1..] {
        [p, path] if p == "-p" && (etc_path(&format!("{path}/x")).is_some()) => Ok(Action::Nothing),
        _ => Err(Error::new("mkdir: only mkdir -p /etc/netns/NS… is understood by lunet")),
    }
}

/// `printf '%s' RULES | [ip netns exec NS] iptables-restore --noflush`: one atomic batch.
fn restore_pipe(from: &Simple, into: &Simple, ns: &NsId) -> Result<Action> {
    if !from.redirs.is_empty() || !into.redirs.is_empty() {
        return Err(Error::new("redirections in a pipeline are not understood by lunet"));
    }
    let mut target = ns.clone();
    let mut words = strip_sudo(&into.words);
    if words.len() >= 4 && words[0] == "ip" && words[1] == "netns" && super::matches(&words[2], "exec") {
        target = NsId::named(&words[3])?;
        words = &words[4..];
    }
    let v6 =
        match words.first().map(|s| s.as_str()) {
            Some("iptables-restore") => false,
            Some("ip6tables-restore") => true,
            _ => return Err(Error::new(
                "a pipeline is understood only as printf '%s' RULES | [ip netns exec NS] iptables-restore --noflush",
            )),
        };
    if !words.iter().any(|w| w == "--noflush" || w == "-n") {
        return Err(Error::new(format!(
            "{}: without --noflush it would replace every rule: not supported by lunet",
            words[0]
        )));
    }
    if let Some(w) = words[1..]
        .iter()
        .find(|w| !["--noflush", "-n", "-w", "--wait"].contains(&w.as_str()))
    {
        return Err(Error::new(format!("{}: \"{w}\" is not supported by lunet", words[0])));
    }
    let text = written(strip_sudo(&from.words))?;
    let batch = firewall::parse_batch(&text)?;
    Ok(Action::Ops(
        batch
            .tables
            .into_iter()
            .map(|batch| Op::IptRestore {
                ns: target.clone(),
                v6,
                batch,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<Line> {
        parse(text, "t.sh", &NsId::Host).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        parse(text, "t.sh", &NsId::Host).unwrap_err().to_string()
    }

    fn ops(text: &str) -> Vec<String> {
        ok(text)
            .iter()
            .flat_map(|l| match &l.action {
                Action::Ops(ops) => ops.iter().map(|o| o.to_string()).collect(),
                Action::Nothing => vec![],
                other => vec![format!("{other:?}")],
            })
            .collect()
    }

    #[test]
    fn shell_syntax() {
        let t = "#!/bin/sh\nset -e\n\n# make it\nsudo ip netns add a  # trailing\nip link add v0 \\\n  type veth peer name v1 && ip link set v0 up; ip l s v1 up\n";
        let lines = ok(t);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[1].line, 5);
        assert_eq!(lines[2].line, 6);
        assert_eq!(lines[2].text, "ip link add v0 \\\n  type veth peer name v1");
        assert_eq!(
            ops(t),
            [
                "ip netns add a",
                "ip link add v0 type veth peer name v1",
                "ip link set dev v0 up",
                "ip link set dev v1 up"
            ]
        );
    }

    #[test]
    fn batch_lines_and_sysctls() {
        assert_eq!(
            ops("link add br0 type bridge\n-n x addr add 10.0.0.1/24 dev eth0"),
            ["ip link add br0 type bridge", "ip -n x addr add 10.0.0.1/24 dev eth0"]
        );
        assert_eq!(
            ops("sysctl -w net.ipv4.ip_forward=1"),
            ["sysctl -qw net.ipv4.ip_forward=1"]
        );
        assert_eq!(
            ops("echo 1 > /proc/sys/net/ipv4/ip_forward"),
            ["sysctl -qw net/ipv4/ip_forward=1"]
        );
        assert_eq!(
            ops("ip netns exec r sysctl -q -w net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1"),
            [
                "ip netns exec r sysctl -qw net.ipv4.conf.all.forwarding=1",
                "ip netns exec r sysctl -qw net.ipv6.conf.all.forwarding=1"
            ]
        );
        assert_eq!(
            ops("iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE"),
            ["iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE"]
        );
        assert_eq!(
            ops("ip netns exec r ip6tables -A FORWARD -j ACCEPT"),
            ["ip netns exec r ip6tables -t filter -A FORWARD -j ACCEPT"]
        );
        assert!(matches!(ok("iptables -t nat -nvL")[0].action, Action::Exec { .. }));
    }

    #[test]
    fn processes() {
        let l = ok("ip netns exec a sleep 100 >>/tmp/log 2>&1 &\nsleep 5 &\nip netns exec a ping -c1 10.0.0.1");
        assert_eq!(
            l[0].action,
            Action::Spawn {
                ns: NsId::Named("a".into()),
                argv: vec!["sleep".into(), "100".into()],
                log: Some("/tmp/log".into()),
                truncate: false
            }
        );
        assert!(matches!(&l[1].action, Action::Spawn { ns: NsId::Host, .. }));
        assert!(matches!(&l[2].action, Action::Exec { .. }));
        assert!(matches!(
            ok("ip -all netns exec ip route add default via 10.0.0.1")[0].action,
            Action::ForAll { background: false, .. }
        ));
    }

    #[test]
    fn plan_forms() {
        let plan = "mkdir -p /etc/netns/a && printf '%s' 'nameserver 1.1.1.1\n' > /etc/netns/a/resolv.conf && chmod 600 /etc/netns/a/resolv.conf\n\
                    printf '%s' '*filter\n:X - [0:0]\n-A X -j RETURN\nCOMMIT\n' | ip netns exec a iptables-restore --noflush\n\
                    echo 'nameserver 9.9.9.9' > /etc/netns/b/resolv.conf";
        let l = ok(plan);
        let files: Vec<&Op> = l
            .iter()
            .filter_map(|l| match &l.action {
                Action::Ops(o) => Some(&o[0]),
                _ => None,
            })
            .collect();
        assert_eq!(
            files[0],
            &Op::EtcFile {
                ns: "a".into(),
                file: "resolv.conf".into(),
                content: "nameserver 1.1.1.1\n".into(),
                mode: Some(0o600)
            }
        );
        assert!(matches!(files[1], Op::IptRestore { v6: false, .. }));
        assert!(matches!(files[2], Op::EtcFile { content, .. } if content == "nameserver 9.9.9.9\n"));
    }

    #[test]
    fn bad_lines_name_file_line_and_word() {
        assert_eq!(
            err("ip netns add a\nfrobnicate now"),
            format!("t.sh:2: \"frobnicate\" not understood ({UNDERSTOOD})")
        );
        assert_eq!(
            err("ip link add x type veth peer name y\nip link set x bogus up"),
            "t.sh:2: ip link set: \"bogus\" not understood"
        );
        assert_eq!(
            err("ip addr add $ADDR dev x"),
            "t.sh:1: \"$ADDR\": shell expansion is not done by lunet"
        );
        assert_eq!(
            err("ip netns add \"a$B\""),
            "t.sh:1: \"$B\\\"\": shell expansion is not done by lunet"
        );
        assert_eq!(
            err("ip netns del a || true"),
            "t.sh:1: \"||\" is not understood by lunet (it stops at the first failure anyway)"
        );
        assert_eq!(
            err("echo 1 > /proc/sys/net/ipv4/conf/*/rp_filter"),
            "t.sh:1: \"/proc/sys/net/ipv4/conf/*/rp_filter\": wildcards are not expanded by lunet"
        );
        assert_eq!(err("ip netns add 'a"), "t.sh:1: unterminated ' quote");
        assert_eq!(err("\n\nsysctl -w kernel.hostname=x"), "t.sh:3: sysctl: bad sysctl key \"kernel.hostname\": only keys under \"net.\" belong to a network namespace");
        assert_eq!(err("iptables -F"), "t.sh:1: iptables -F: not supported by lunet (it journals -A, -I, -D RULE, -N, -X CHAIN and -P, so that down can undo them)");
        assert_eq!(
            err("ip link add x type dummy &"),
            "t.sh:1: \"ip\": a change cannot run in the background (&)"
        );
        assert_eq!(
            err("echo hi > /tmp/x"),
            "t.sh:1: /tmp/x: lunet writes only /proc/sys/net/… (sysctls) and /etc/netns/NS/… files"
        );
        assert_eq!(
            err("chmod 600 /etc/netns/a/x"),
            "t.sh:1: chmod /etc/netns/a/x: lunet sets the mode of a file under /etc/netns it wrote just before, only"
        );
        assert_eq!(
            err("for n in a b; do ip netns add $n; done"),
            "t.sh:1: \"$n\": shell expansion is not done by lunet"
        );
        assert_eq!(
            err("f() { ip netns add a; }"),
            "t.sh:1: \"(\" is shell syntax lunet does not run (it reads plain commands)"
        );
        assert_eq!(
            err("printf '%s' x | iptables-restore"),
            "t.sh:1: iptables-restore: without --noflush it would replace every rule: not supported by lunet"
        );
    }

    #[test]
    fn what_sh_would_read_otherwise_is_refused() {
        for (text, want) in [
            (
                "ip netns exec a ls ~root",
                "t.sh:1: \"~root\": tilde expansion is not done by lunet",
            ),
            (
                "ip netns exec a ls [ab]",
                "t.sh:1: \"[ab]\": wildcards are not expanded by lunet",
            ),
            (
                "ip netns exec a ls x[0-9]y",
                "t.sh:1: \"x[0-9]y\": wildcards are not expanded by lunet",
            ),
            (
                "ip netns exec a ls 'a'*",
                "t.sh:1: \"a*\": wildcards are not expanded by lunet",
            ),
            ("ip netns add a;;", "t.sh:1: \";;\" is shell syntax lunet does not run"),
            (
                "ip netns add a\n&& ip netns add b",
                "t.sh:2: \"&&\" without a command before it",
            ),
            ("; ip netns add b", "t.sh:1: \";\" without a command before it"),
            ("ip netns add a &&", "t.sh:1: \"&&\" without a command after it"),
            (
                "ip netns add a && ; ip netns add b",
                "t.sh:1: \"&&\" without a command after it",
            ),
            ("ip netns add a\r\n", "t.sh:1: a carriage return (CRLF line ends?)"),
            (
                "ip link add x \\\r\n type dummy\r\n",
                "t.sh:1: a carriage return (CRLF line ends?)",
            ),
        ] {
            let e = err(text);
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
        // What sh reads the same way stays accepted.
        assert_eq!(
            ops("ip netns add a &&\nip netns add b"),
            ["ip netns add a", "ip netns add b"]
        );
        assert_eq!(
            ops("ip netns add '~x' && ip netns add a~b"),
            ["ip netns add '~x'", "ip netns add 'a~b'"]
        );
        assert_eq!(
            ops("ip netns add '[ab]'; ip netns add \"c*\""),
            ["ip netns add '[ab]'", "ip netns add 'c*'"]
        );
        assert_eq!(
            ops("ip netns exec a [ -e x"),
            [r#"Exec { ns: Named("a"), argv: ["[", "-e", "x"] }"#]
        );
        let spawn = |t: &str| match &ok(t)[0].action {
            Action::Spawn { log, truncate, .. } => (log.clone().unwrap(), *truncate),
            other => panic!("{other:?}"),
        };
        assert_eq!(spawn("sleep 9 > /tmp/l &"), ("/tmp/l".into(), true));
        assert_eq!(spawn("sleep 9 >> /tmp/l 2>&1 &"), ("/tmp/l".into(), false));
    }

    #[test]
    fn no_input_panics() {
        for t in [
            "",
            "&",
            "&&",
            ";",
            "|",
            ">",
            "2>&",
            "ip >",
            "a | b | c",
            "\\",
            "\"",
            "ip netns exec",
            "ip -all netns exec",
            "sudo",
            "echo > /etc/netns/x",
            "printf",
            "ip -n",
            "ip link add x type veth peer name y netns 12",
            "mkdir",
            "chmod",
            "ip netns exec a iptables",
            "\u{0}",
            "ip link add \u{0} type dummy",
        ] {
            let _ = parse(t, "t.sh", &NsId::Host);
        }
    }
}
