//! Nothing in a name or a file runs as code (issue 21): shell completion offers
//! names literally, the Lua lunet writes keeps every byte, ip scripts are read
//! as sh reads them or refused with one line, long values are cut in messages,
//! and a symlink under /etc/netns is never written through.

mod common;
use common::{lunet_bin, text, Sandbox};
use std::path::Path;

/// Namespace names a shell would expand; each would make a file in the current directory.
const HOSTILE_NS: &[&str] = &["a$(id>x1)", "b`id>x2`", "~root", "c{1,2}", "d*", "e'f", "g h"];

/// A sandbox with the hostile namespaces, and a scenario directory with a hostile file name.
fn hostile_names() -> (Sandbox, common::tempdir::Dir) {
    let sb = Sandbox::new();
    for n in HOSTILE_NS {
        let out = sb.run("ip", &["netns", "add", n]);
        assert!(out.status.success(), "{n}: {}", text(&out));
    }
    let lp = common::tempdir::Dir::new();
    std::fs::write(lp.path().join("s$(id>x3).lua"), "return net.scenario{name = 'x'}").unwrap();
    (sb, lp)
}

/// No file made by a name run as code, in `dir`.
fn nothing_ran(dir: &Path) {
    for f in ["x1", "x2", "x3"] {
        assert!(!dir.join(f).exists(), "{f} exists: a name ran as code");
    }
}

/// Tab in a real interactive `shell` (in a terminal): `lunet exec a` completes to the
/// namespace `a$(id>x1)`, inserted so that the shell reads it back as that one word
/// (the line is then run as `printf '[%s]\n' lunet exec …`), and nothing runs.
fn tab_in_a_terminal(sb: &Sandbox, shell: &str, setup: &str, work: &Path) {
    let bin = lunet_bin().parent().unwrap().display().to_string();
    let t = common::term::Term::run(sb, &format!("PATH={bin}:/usr/sbin:/usr/bin:/sbin:/bin"), shell);
    t.keys(&["-l", &format!("cd {}; {setup}; echo READY", work.display())]);
    t.keys(&["Enter"]);
    t.wait_for("\nREADY");
    t.keys(&["-l", "lunet exec a"]);
    t.keys(&["Tab"]);
    t.wait_for("x1");
    t.keys(&["C-a"]);
    t.keys(&["-l", "printf '[%s]\\n' "]);
    t.keys(&["Enter"]);
    let screen = t.wait_for("[exec]");
    t.wait_for("[a$(id>x1)]");
    nothing_ran(work);
    assert!(!screen.contains("uid="), "{shell}:\n{screen}");
}

fn lines(out: &std::process::Output) -> Vec<String> {
    assert!(out.status.success(), "{}", text(out));
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

fn wanted(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = HOSTILE_NS.iter().chain(extra).map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn bash_completion_offers_names_literally() {
    let (sb, lp) = hostile_names();
    let script = sb.write(
        "lunet.bash",
        &String::from_utf8_lossy(&sb.lunet(&["completions", "bash"]).stdout),
    );
    let work = sb.dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // Completes WORDS in a real bash with bash-completion loaded, then reads each offered
    // word back the way the command line does once it is inserted (`eval` of the word).
    let complete = |words: &str, cword: usize| {
        let line = format!(
            "cd {work}; export LUNET_PATH={lp}; source /usr/share/bash-completion/bash_completion; source {script}; \
             COMP_WORDS=({lunet} {words}); COMP_CWORD={cword}; \
             _lunet {lunet} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             for w in \"${{COMPREPLY[@]}}\"; do eval \"printf '%s\\n' $w\"; done",
            work = work.display(),
            lp = lp.path().display(),
            script = script.display(),
            lunet = lunet_bin().display(),
        );
        let out = sb.run("bash", &["-c", &line]);
        nothing_ran(&work);
        lines(&out)
    };
    assert_eq!(complete("exec ''", 2), wanted(&["host"]));
    assert_eq!(complete("shell a", 2), ["a$(id>x1)"]);
    assert_eq!(complete("show '~'", 2), ["~root"]);
    assert_eq!(complete("show 'c{'", 2), ["c{1,2}"]);
    let ups = complete("up ''", 2);
    assert!(ups.contains(&"s$(id>x3)".to_string()), "{ups:?}");
    assert_eq!(complete("up s", 2), ["s$(id>x3)", "shaped-path", "sshd-per-namespace"]);
    nothing_ran(&work);
    tab_in_a_terminal(
        &sb,
        "bash --norc --noprofile -i",
        &format!(
            "source /usr/share/bash-completion/bash_completion; source {}",
            script.display()
        ),
        &work,
    );
}

#[test]
fn zsh_completion_offers_names_literally_skipped_without_zsh() {
    if !Path::new("/usr/bin/zsh").exists() && !Path::new("/bin/zsh").exists() {
        common::skip("zsh is not installed");
        return;
    }
    let (sb, lp) = hostile_names();
    let script = sb.write(
        "lunet.zsh",
        &String::from_utf8_lossy(&sb.lunet(&["completions", "zsh"]).stdout),
    );
    let work = sb.dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // compadd is zsh's (it quotes what it inserts): here it prints the names it is given.
    let complete = |sub: &str| {
        let line = format!(
            "cd {work}; export LUNET_PATH={lp}; compdef() {{ :; }}; \
             compadd() {{ local n=${{@[-1]}}; print -rl -- \"${{(@P)n}}\"; }}; source {script}; \
             words=({lunet} {sub} ''); CURRENT=3; _lunet_names",
            work = work.display(),
            lp = lp.path().display(),
            script = script.display(),
            lunet = lunet_bin().display(),
        );
        let out = sb.run("zsh", &["-fc", &line]);
        nothing_ran(&work);
        lines(&out)
    };
    assert_eq!(complete("exec"), wanted(&["host"]));
    assert!(complete("up").contains(&"s$(id>x3)".to_string()));
    // The script passes the names to compadd with -a and without -Q: zsh quotes them.
    assert!(script_text(&script).contains("compadd -a names"));
    tab_in_a_terminal(
        &sb,
        "zsh -f -i",
        &format!(
            "bindkey -e; autoload -U compinit; compinit -u; source {}",
            script.display()
        ),
        &work,
    );
}

fn script_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn fish_completion_offers_names_literally_skipped_without_fish() {
    if !Path::new("/usr/bin/fish").exists() && !Path::new("/bin/fish").exists() {
        common::skip("fish is not installed");
        return;
    }
    let (sb, lp) = hostile_names();
    let script = sb.write(
        "lunet.fish",
        &String::from_utf8_lossy(&sb.lunet(&["completions", "fish"]).stdout),
    );
    let work = sb.dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let bin = lunet_bin().parent().unwrap().display().to_string();
    // `complete -C` is what fish offers at Tab (it escapes a candidate as it inserts it).
    let complete = |line: &str| {
        let out = sb
            .command("fish")
            .args([
                "-c",
                &format!(
                    "cd {}; source {}; complete -C '{line}'",
                    work.display(),
                    script.display()
                ),
            ])
            .env("PATH", format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()))
            .env("LUNET_PATH", lp.path())
            .env("HOME", sb.dir.path())
            .output()
            .unwrap();
        nothing_ran(&work);
        lines(&out)
    };
    assert_eq!(complete("lunet exec "), wanted(&["host"]));
    assert!(complete("lunet up ").contains(&"s$(id>x3)".to_string()));
    tab_in_a_terminal(
        &sb,
        "fish --no-config -i",
        &format!("source {}", script.display()),
        &work,
    );
}

/// Every character 1–255 (those above 127 as UTF-8), each followed by a digit.
fn every_byte() -> String {
    (1u32..=255).filter_map(char::from_u32).flat_map(|c| [c, '0']).collect()
}

/// `word` quoted for sh with single quotes.
fn sq(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[test]
fn up_of_an_ip_script_runs_no_comment() {
    let sb = Sandbox::new();
    let dir = sb.dir.path();
    let mut script = String::from("ip netns add a\n");
    script += &format!("# notes\u{1}0touch {}/X &\n", dir.display());
    // A comment holding each byte, then a digit, then what would be a command.
    for b in (0u32..=255).filter(|b| *b != 10) {
        let c = char::from_u32(b).unwrap();
        script += &format!("# notes{c}0ip netns add e{b}\n");
    }
    script += "ip netns exec a true\n";
    let file = sb.write("lab.sh", &script);
    let out = sb.lunet(&["up", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sb.netns_list(), ["a"]);
    let out = sb.lunet(&["down", "lab"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!dir.join("X").exists(), "a comment ran");
    assert!(sb.netns_list().is_empty());
}

#[test]
fn convert_keeps_every_byte_and_quoted_text() {
    let sb = Sandbox::new();
    let dir = sb.dir.path().display().to_string();
    let word = every_byte();
    std::fs::write(format!("{dir}/X"), "").unwrap();
    std::fs::write(format!("{dir}/KEEP"), "").unwrap();
    // A namespace name with every kind of byte a name may hold (no space, no control).
    let name = "q\"\\$`é\u{202e}1";
    let script = format!(
        "ip netns add a\n\
         ip netns add {n}\n\
         # a comment\u{1}0ip netns add evil\n\
         ip netns exec a sh -c 'printf %s \"$0\" > {dir}/OUT' {w}\n\
         ip -all netns exec sh -c 'printf %s \"x  y\" > {dir}/OUT2\n\
         rm -f {dir}/X\n\
         true {dir}/KEEP'\n",
        w = sq(&word),
        n = sq(name)
    );
    let file = sb.write("conv.sh", &script);
    let out = sb.lunet(&["convert", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let lua = sb.write("conv.lua", &String::from_utf8(out.stdout).unwrap());
    let out = sb.lunet(&["up", lua.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let mut want = vec!["a".to_string(), name.to_string()];
    want.sort();
    let mut got = sb.netns_list();
    got.sort();
    assert_eq!(got, want);
    // The program got every byte; the quoted script kept its spaces and its line breaks.
    assert_eq!(std::fs::read_to_string(format!("{dir}/OUT")).unwrap(), word);
    assert_eq!(std::fs::read_to_string(format!("{dir}/OUT2")).unwrap(), "x  y");
    assert!(!Path::new(&format!("{dir}/X")).exists());
    assert!(
        Path::new(&format!("{dir}/KEEP")).exists(),
        "a quoted line break became a space"
    );
    assert!(sb.lunet(&["down", "conv"]).status.success());
    assert!(sb.netns_list().is_empty());
}

#[test]
fn a_long_value_is_cut_in_messages() {
    let sb = Sandbox::new();
    let big = 20usize << 20;
    let file = sb.write("big.sh", &format!("ip netns add a\n{} now\n", "w".repeat(big)));
    let out = sb.lunet(&["up", file.to_str().unwrap()]);
    let err = text(&out);
    assert_eq!(out.status.code(), Some(1), "{}", &err[..err.len().min(500)]);
    assert!(
        err.len() < 400 && err.contains("big.sh:2: ") && err.contains(&format!("…({big} bytes) not understood")),
        "{}",
        &err[..err.len().min(500)]
    );
    for (code, what, len) in [
        ("net.ns.add(string.rep('n', 20 * 2^20))", "bad namespace name", big),
        (
            "net.host:exec(\"'\" .. string.rep('x', 20 * 2^20))",
            "unterminated ' quote",
            big + 1,
        ),
        (
            "net.host:ip('ip link add ' .. string.rep('l', 20 * 2^20) .. ' type bridge')",
            "bad interface name",
            big,
        ),
    ] {
        let err = sb.lua_err(code);
        assert!(
            err.len() < 600 && err.contains(what) && err.contains(&format!("…({len} bytes)")),
            "{code}: {}",
            &err[..err.len().min(800)]
        );
    }
    assert!(sb.netns_list().is_empty());
}

#[test]
fn a_nul_in_a_name_is_named_as_such() {
    let sb = Sandbox::new();
    let err = sb.lua_err("net.ns.add('a\\0b')");
    assert!(err.contains("must not contain a NUL byte"), "{err}");
    let err = sb.lua_err("net.host:veth('a\\0b', 'c')");
    assert!(
        err.contains("bad interface name \"a\\0b\": must not contain a NUL byte"),
        "{err}"
    );
    let file = sb.write("nul.sh", "ip netns add 'a\0b'\n");
    let err = text(&sb.lunet(&["up", file.to_str().unwrap()]));
    assert!(
        err.contains("nul.sh:1: ") && err.contains("must not contain a NUL byte"),
        "{err}"
    );
    assert!(sb.netns_list().is_empty());
}

/// Waits (up to 10 s) until `f` holds.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_background_command_truncates_with_gt_and_appends_with_gtgt() {
    let sb = Sandbox::new();
    let dir = sb.dir.path().display().to_string();
    std::fs::write(format!("{dir}/new.log"), "old line that must go\n").unwrap();
    std::fs::write(format!("{dir}/add.log"), "old\n").unwrap();
    let file = sb.write(
        "logs.sh",
        &format!(
            "ip netns add a\nip netns exec a echo new > {dir}/new.log &\nip netns exec a echo more >> {dir}/add.log 2>&1 &\n"
        ),
    );
    let out = sb.lunet(&["up", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
    wait_for("new.log", || read("new.log") == "new\n");
    wait_for("add.log", || read("add.log") == "old\nmore\n");
    assert!(sb.lunet(&["down", "logs"]).status.success());
    // `lunet convert` says the same: truncate = true for `>`.
    let lua = String::from_utf8(sb.lunet(&["convert", file.to_str().unwrap()]).stdout).unwrap();
    assert!(lua.contains("new.log\", truncate = true }"), "{lua}");
    assert!(lua.contains("add.log\" }"), "{lua}");
    let err = sb.lua_err("net.host:spawn('true', {truncate = true})");
    assert!(
        err.contains("ns:spawn: option \"truncate\" empties the log: give \"log\" too"),
        "{err}"
    );
}

#[test]
fn shell_forms_lunet_cannot_mirror_are_refused_by_file_line_and_word() {
    let sb = Sandbox::new();
    for (script, want) in [
        (
            "ip netns add a\nip netns exec a ls ~root\n",
            "t.sh:2: \"~root\": tilde expansion is not done by lunet",
        ),
        (
            "ip netns add a\nip netns exec a ls [ab]\n",
            "t.sh:2: \"[ab]\": wildcards are not expanded by lunet",
        ),
        (
            "ip netns add a;;\n",
            "t.sh:1: \";;\" is shell syntax lunet does not run",
        ),
        ("&& ip netns add a\n", "t.sh:1: \"&&\" without a command before it"),
        (
            "ip netns add a \\\r\n  b\r\n",
            "t.sh:1: a carriage return (CRLF line ends?)",
        ),
    ] {
        let file = sb.write("t.sh", script).display().to_string();
        let out = sb.lunet(&["up", &file]);
        let err = text(&out);
        let want = want.replacen("t.sh", &file, 1);
        assert_eq!(out.status.code(), Some(1), "{script:?}: {err}");
        assert!(
            err.starts_with(&format!("lunet: {want}")) && err.lines().count() == 1,
            "{script:?}: {err}"
        );
        assert!(sb.netns_list().is_empty(), "{script:?}");
    }
}

#[test]
fn a_symlink_under_etc_netns_is_never_written_through() {
    let sb = Sandbox::new();
    let target = sb.dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("hosts"), "USER\n").unwrap();
    let t = target.display();
    sb.sh(&format!(
        "for n in a b c d; do ip netns add $n; done
         ln -s {t} /etc/netns/a
         mkdir -p /etc/netns/b && ln -s {t} /etc/netns/b/ssh
         mkdir -p /etc/netns/c && ln -s {t}/hosts /etc/netns/c/hosts
         mkdir -p /etc/netns/d/x && ln -s {t} /etc/netns/d/x/y"
    ));
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    for (code, path) in [
        ("net.ns.get('a'):etc('hosts', 'EVIL')", "/etc/netns/a "),
        ("net.ns.get('a'):etc('new', 'EVIL')", "/etc/netns/a "),
        ("net.ns.get('b'):etc('ssh/sshd_config', 'EVIL')", "/etc/netns/b/ssh "),
        ("net.ns.get('c'):etc('hosts', 'EVIL')", "/etc/netns/c/hosts "),
        ("net.ns.get('d'):etc('x/y/z/w', 'EVIL')", "/etc/netns/d/x/y "),
    ] {
        let err = sb.lua_err(code);
        assert!(err.contains(path) && err.contains("lunet will not"), "{code}: {err}");
        assert_eq!(listing(), ["hosts"], "{code}");
        assert_eq!(
            std::fs::read_to_string(target.join("hosts")).unwrap(),
            "USER\n",
            "{code}"
        );
    }
    // The same through an ip script.
    let file = sb.write("etc.sh", "echo nameserver 10.0.0.1 > /etc/netns/a/resolv.conf\n");
    let err = text(&sb.lunet(&["up", file.to_str().unwrap()]));
    assert!(err.contains("/etc/netns/a is a symlink"), "{err}");
    assert_eq!(listing(), ["hosts"]);
    // A plain directory still works, and down takes the file and the directories it made.
    sb.lua_ok("net.ns.get('b'):etc('ok/f', 'fine')");
    assert_eq!(sb.sh("cat /etc/netns/b/ok/f"), "fine");
    sb.lua_ok("net.ns.get('b'):etc('ok2/f', 'fine')");
    // Someone puts a symlink where lunet's directory was: undo removes nothing through it.
    std::fs::write(target.join("f"), "USER F\n").unwrap();
    sb.sh(&format!(
        "mv /etc/netns/b/ok2 /etc/netns/b/moved && ln -s {t} /etc/netns/b/ok2"
    ));
    let out = sb.lunet(&["down", "--all"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sb.sh("ls -A /etc/netns/b"), "moved\nok2\nssh\n");
    assert_eq!(listing(), ["f", "hosts"]);
    assert_eq!(std::fs::read_to_string(target.join("f")).unwrap(), "USER F\n");
}
