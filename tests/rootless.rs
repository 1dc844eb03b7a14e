//! Without root: `lunet --sandbox` works for an unprivileged user (a user
//! namespace of its own), the way to try lunet without root. These run lunet as
//! uid 65534 (`setpriv`), from a copy of the binary anyone may execute.

mod common;
use common::{lunet_bin, tempdir, text, Sandbox};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

/// A copy of lunet in a directory anyone can reach.
struct Binary {
    dir: tempdir::Dir,
}

impl Binary {
    fn new() -> Binary {
        let dir = tempdir::Dir::new();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.path().join("lunet");
        std::fs::copy(lunet_bin(), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        Binary { dir }
    }

    fn path(&self) -> String {
        self.dir.path().join("lunet").display().to_string()
    }

    /// `lunet ARGS` as uid/gid 65534, with a home it may write to.
    fn run(&self, args: &[&str]) -> Output {
        Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "env"])
            .arg(format!("HOME={}", self.dir.path().display()))
            .arg(self.path())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("setpriv (util-linux) must be installed")
    }
}

/// Whether this kernel lets unprivileged users make user namespaces.
fn userns_allowed() -> bool {
    Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "unshare",
            "--user",
            "--map-root-user",
            "true",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn scenarios_run_without_root_in_a_sandbox_skipped_without_userns() {
    if !userns_allowed() {
        common::skip("unprivileged user namespaces are disabled on this kernel");
        return;
    }
    let bin = Binary::new();
    for scenario in ["two-namespaces", "veth-pair", "webserver"] {
        let o = bin.run(&["--sandbox", "up", scenario]);
        let out = text(&o);
        assert!(o.status.success(), "{scenario} without root: {out}");
        assert!(
            out.contains("up and checked") && out.contains("torn down again"),
            "{out}"
        );
    }
    let o = bin.run(&[
        "--sandbox",
        "-e",
        r#"local a, b = net.ns.add("a"), net.ns.add("b")
           local x, y = a:veth("x", "y", { peer_ns = b, up = true })
           x:addr_add("10.9.0.1/24"); y:addr_add("10.9.0.2/24")
           print("ping", (a:ping("10.9.0.2")))
           print("ids", net.host:exec("id -u").stdout)"#,
    ]);
    let out = text(&o);
    assert!(o.status.success() && out.contains("ping\ttrue"), "{out}");
    // Root inside its own user namespace only.
    assert!(out.contains("ids\t0"), "{out}");
    // Without --sandbox an unprivileged user gets the hint, and nothing changes.
    let o = bin.run(&["-e", r#"net.ns.add("nope")"#]);
    assert!(!o.status.success() && text(&o).contains("--sandbox"), "{}", text(&o));
}

#[test]
fn the_repl_works_without_root_in_a_sandbox_skipped_without_userns() {
    if !userns_allowed() {
        common::skip("unprivileged user namespaces are disabled on this kernel");
        return;
    }
    let sb = Sandbox::new();
    let bin = Binary::new();
    let t = common::term::Term::run(
        &sb,
        &format!("HOME={}", bin.dir.path().display()),
        &format!(
            "setpriv --reuid 65534 --regid 65534 --clear-groups {} --sandbox",
            bin.path()
        ),
    );
    t.wait_for("lunet[host]>");
    // (the terminal shows the tab between the two values as spaces)
    let screen = t.expect(
        r#"print(net.ns.add("rl").name, net.host:exec("id -u").stdout)"#,
        "\nrl ",
    );
    assert!(
        screen
            .lines()
            .any(|l| l.starts_with("rl ") && l.trim_end().ends_with(" 0")),
        "{screen}"
    );
    t.keys(&["C-d"]);
    let end = t.wait_for("EXIT=");
    assert!(end.contains("EXIT=0"), "{end}");
}
