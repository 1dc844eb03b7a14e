//! Everyday use from the command line: `lunet exec`, `lunet shell` (through a real
//! terminal), `tty = true`, shell completion loaded into a real bash, the man page.

mod common;
use common::term::Term;
use common::{lunet_bin, text, Sandbox};
use std::io::Write;
use std::process::Stdio;

fn blue(sb: &Sandbox) {
    sb.sh("ip netns add blue && ip -n blue link add vb0 type veth peer name vb1 && mkdir -p /etc/netns/blue && echo '10.9.9.9 inside-blue' > /etc/netns/blue/hosts");
}

#[test]
fn exec_passes_stdin_stdout_stderr_and_the_exit_code() {
    let sb = Sandbox::new();
    blue(&sb);
    let mut child = sb
        .command(lunet_bin().to_str().unwrap())
        .args(["exec", "blue", "--", "sh", "-c"])
        .arg("cat; ls /sys/class/net; grep inside /etc/hosts; echo ns=$LUNET_NS; echo oops >&2; exit 7")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"from stdin\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(stdout.starts_with("from stdin\n"), "{stdout}");
    // /sys is the namespace's, /etc/netns/blue is bound over /etc.
    assert!(
        stdout.contains("vb0") && stdout.contains("vb1") && !stdout.contains("eth"),
        "{stdout}"
    );
    assert!(
        stdout.contains("10.9.9.9 inside-blue") && stdout.contains("ns=blue"),
        "{stdout}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    // A flag after the namespace belongs to the command.
    let out = sb.lunet(&["exec", "blue", "--", "ip", "-br", "link", "show", "vb0"]);
    assert!(out.status.success() && text(&out).contains("vb0"), "{}", text(&out));
    let out = sb.lunet(&["exec", "host", "--", "ip", "-br", "link", "show", "vb0"]);
    assert!(
        !out.status.success(),
        "vb0 is not in the host namespace: {}",
        text(&out)
    );
}

#[test]
fn exec_and_shell_errors_are_one_line() {
    let sb = Sandbox::new();
    blue(&sb);
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["exec", "nope", "--", "true"],
            1,
            r#"lunet: namespace "nope" does not exist"#,
        ),
        (
            &["exec", "blue", "--", "no-such-program"],
            127,
            r#"lunet: exec: program "no-such-program" not found"#,
        ),
        (
            &["exec", "blue", "--", "/etc"],
            126,
            r#"lunet: exec: program "/etc": permission denied"#,
        ),
        (&["exec", "../x", "--", "true"], 1, "lunet: "),
        (&["shell", "nope"], 1, r#"lunet: namespace "nope" does not exist"#),
        (&["exec", "blue"], 2, "<CMD>"),
    ];
    for (args, code, msg) in cases {
        let out = sb.lunet(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        if *code != 2 {
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        }
    }
}

#[test]
fn shell_in_a_namespace_through_a_terminal() {
    let sb = Sandbox::new();
    blue(&sb);
    let home = common::tempdir::Dir::new();
    std::fs::write(
        home.path().join(".bashrc"),
        "PS1='mine\\$ '\nalias hi='echo hello-from-bashrc'\n",
    )
    .unwrap();
    let lunet = lunet_bin().display().to_string();
    // bash: the user's ~/.bashrc is read, and [NS] goes in front of its prompt.
    let t = Term::run(
        &sb,
        &format!("SHELL=/bin/bash HOME={}", home.path().display()),
        &format!("{lunet} shell blue"),
    );
    t.wait_for("[blue] mine#");
    let s = t.type_and_wait(
        "hi; ip -br link show vb0; grep inside /etc/hosts; echo NS=$LUNET_NS",
        "NS=blue",
    );
    assert!(
        s.contains("hello-from-bashrc") && s.contains("vb0@vb1") && s.contains("inside-blue"),
        "{s}"
    );
    t.type_and_wait("exit 3", "EXIT=3");
    // sh: PS1 names the namespace; Ctrl-C reaches the shell's program, not lunet.
    let t = Term::run(&sb, "SHELL=/bin/sh", &format!("{lunet} shell blue"));
    t.wait_for("[blue] #");
    t.type_and_wait("sleep 30", "sleep 30");
    // Ready: the shell's sleep runs (a Ctrl-C before it would test nothing).
    let sleeping = "for i in $(seq 500); do pgrep -xf 'sleep 30' >/dev/null && exit 0; sleep 0.02; done; exit 1";
    assert!(sb.ok(sleeping), "the shell never started `sleep 30`");
    t.keys(&["C-c"]);
    assert!(
        sb.ok("for i in $(seq 500); do pgrep -xf 'sleep 30' >/dev/null || exit 0; sleep 0.02; done; exit 1"),
        "Ctrl-C did not end the shell's sleep"
    );
    let s = t.type_and_wait("echo back=$LUNET_NS", "back=blue");
    assert!(!s.contains("EXIT="), "{s}");
    t.keys(&["C-d"]);
    // (dash then fails to hand the terminal back to a group it cannot see from the test's
    // PID namespace, and says so; its status is not the point here)
    t.wait_for("EXIT=");
    // No $SHELL: /bin/sh.
    let t = Term::run(&sb, "SHELL=", &format!("{lunet} shell blue"));
    t.wait_for("[blue] #");
}

#[test]
fn exec_with_tty_gets_the_terminal() {
    let sb = Sandbox::new();
    blue(&sb);
    let script = sb.write(
        "tty.lua",
        r#"local blue = net.ns.get("blue")
local r = blue:exec({"sh", "-c", "tty; read x; echo got=$x; exit 4"}, {tty = true, check = false})
print("code=" .. r.code .. " stdout=[" .. r.stdout .. "]")
local p = blue:spawn({"sh", "-c", "echo from-spawn"}, {tty = true})
p:wait(5)
print("after")
"#,
    );
    let t = Term::lunet(&sb, &format!("run {}", script.display()));
    t.wait_for("/dev/pts/");
    let s = t.type_and_wait("typed", "EXIT=");
    assert!(s.contains("got=typed") && s.contains("code=4 stdout=[]"), "{s}");
    assert!(
        s.contains("from-spawn") && s.contains("after") && s.contains("EXIT=0"),
        "{s}"
    );
    let err = sb.lua_err(r#"net.host:spawn("true", {tty = true, log = "/tmp/x"})"#);
    assert!(
        err.contains(r#"ns:spawn: options "tty" and "log" exclude each other"#),
        "{err}"
    );
}

/// Asks the bash completion for `words` (the last one being completed), as bash would.
fn complete(sb: &Sandbox, script: &std::path::Path, lunet_path: &std::path::Path, words: &[&str]) -> Vec<String> {
    let lunet = lunet_bin().display().to_string();
    let quoted: Vec<String> = std::iter::once(lunet.clone())
        .chain(words.iter().map(|w| format!("'{w}'")))
        .collect();
    let line = format!(
        "export LUNET_PATH={}; source /usr/share/bash-completion/bash_completion; source {}; COMP_WORDS=({}); COMP_CWORD={}; \
         _lunet {lunet} '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        lunet_path.display(),
        script.display(),
        quoted.join(" "),
        words.len(),
        words.last().unwrap(),
        if words.len() > 1 { words[words.len() - 2] } else { lunet.as_str() },
    );
    let out = sb.run("bash", &["-c", &line]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completion_offers_commands_scenarios_instances_and_namespaces() {
    let sb = Sandbox::new();
    blue(&sb);
    sb.sh("ip netns add green");
    let user = common::tempdir::Dir::new();
    std::fs::write(user.path().join("my-lab.lua"), "return net.scenario{name = 'lab-x'}").unwrap();
    let out = sb.lunet(&["completions", "bash"]);
    assert!(out.status.success());
    let script = sb.write("lunet.bash", &String::from_utf8_lossy(&out.stdout));
    let with_path = |words: &[&str]| complete(&sb, &script, user.path(), words);
    assert_eq!(with_path(&["sh"]), ["show", "shell"]);
    let ups = with_path(&["up", ""]);
    assert!(
        ups.contains(&"two-namespaces".into()) && ups.contains(&"my-lab".into()),
        "{ups:?}"
    );
    assert_eq!(with_path(&["plan", "veth-"]), ["veth-pair"]);
    assert_eq!(with_path(&["shell", ""]), ["blue", "green", "host"]);
    assert_eq!(with_path(&["exec", "gr"]), ["green"]);
    assert_eq!(with_path(&["show", "b"]), ["blue"]);
    assert!(with_path(&["completions", ""]).ends_with(&["bash".into(), "zsh".into(), "fish".into()]));
    // An instance that is up.
    sb.write("left.lua", "net.ns.add('left-over')");
    let lua = sb.dir.path().join("left.lua");
    assert!(sb.lunet(&["run", lua.to_str().unwrap()]).status.success());
    let downs = with_path(&["down", ""]);
    assert!(downs.len() == 1 && downs[0].starts_with("run-left-"), "{downs:?}");
    assert_eq!(with_path(&["status", "run-"]), downs);
    // Past the name, options come from clap's part of the script.
    assert!(with_path(&["up", "two-namespaces", "--"]).contains(&"--set".into()));
}

#[test]
fn zsh_and_fish_scripts_ask_lunet_for_names() {
    let sb = Sandbox::new();
    for shell in ["zsh", "fish"] {
        let out = sb.lunet(&["completions", shell]);
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        for kind in ["scenarios", "instances", "namespaces"] {
            assert!(
                s.contains(&format!("__complete {kind}")) || s.contains("__complete $kind"),
                "{shell}: {kind}"
            );
        }
    }
    let out = sb.lunet(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("invalid value 'tcsh'"), "{}", text(&out));
    let out = sb.lunet(&["__complete", "namespaces"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "host\n");
}

#[test]
fn man_page_renders_with_every_command() {
    let sb = Sandbox::new();
    let out = sb.lunet(&["man"]);
    assert!(out.status.success());
    let page = sb.write("lunet.1", &String::from_utf8_lossy(&out.stdout));
    let out = sb
        .command("man")
        .args(["-l", page.to_str().unwrap()])
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "ENVIRONMENT",
        "FILES",
    ] {
        assert!(shown.lines().any(|l| l == section), "no {section}:\n{shown}");
    }
    for cmd in [
        "lunet run",
        "lunet exec",
        "lunet shell",
        "lunet completions",
        "lunet types",
        "lunet show",
    ] {
        assert!(shown.contains(cmd), "no {cmd}:\n{shown}");
    }
    assert!(
        !shown.contains("__complete") && !shown.contains("lunet-run(1)"),
        "{shown}"
    );
}

#[test]
fn help_describes_every_argument_and_keeps_flags_where_they_apply() {
    let sb = Sandbox::new();
    let help = |args: &[&str]| {
        let o = sb.lunet(args);
        assert!(
            o.status.success() && text(&o).contains("Usage:"),
            "{args:?}: {}",
            text(&o)
        );
        text(&o)
    };
    let run = help(&["run", "--help"]);
    assert!(
        run.contains("<FILE>") && run.contains("The Lua script") && run.contains("[ARGS]...") && run.contains("arg[1]"),
        "{run}"
    );
    assert!(run.contains("--keep-on-error"), "{run}");
    let show = help(&["show", "--help"]);
    assert!(show.contains("--json     As JSON"), "{show}");
    for cmd in ["show", "down", "up", "status", "graph", "exec", "shell"] {
        let h = help(&[cmd, "--help"]);
        assert!(!h.contains("--keep-on-error"), "{cmd}: {h}");
    }
    // Every argument of every command has a description.
    for cmd in [
        "run",
        "up",
        "down",
        "check",
        "status",
        "show",
        "graph",
        "plan",
        "exec",
        "shell",
        "completions",
        "types",
    ] {
        let h = help(&[cmd, "-h"]);
        for l in h.lines().filter(|l| l.starts_with("  ") && !l.trim().is_empty()) {
            let l = l.trim();
            assert!(l.contains("  "), "{cmd}: undescribed {l:?}\n{h}");
        }
    }
    // --keep-on-error still works before run, and in front of -e.
    let out = sb.lunet(&["--keep-on-error", "-e", "net.ns.add('kept'); error('x')"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(sb.sh("ip netns list").contains("kept"));
}
