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
}

#[test]
fn zsh_completion_offers_names_literally_skipped_without_zsh() {
    if !Path::new("/usr/bin/zsh").exists() && !Path::new("/bin/zsh").exists() {
        println!("SKIPPED: zsh is not installed");
        eprintln!("SKIPPED: zsh is not installed");
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
}

fn script_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn fish_completion_offers_names_literally_skipped_without_fish() {
    if !Path::new("/usr/bin/fish").exists() && !Path::new("/bin/fish").exists() {
        println!("SKIPPED: fish is not installed");
        eprintln!("SKIPPED: fish is not installed");
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
}
