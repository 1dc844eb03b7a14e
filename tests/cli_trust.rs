//! Trust, round 2 (issue 21), the command line's part: `down`/`check` of a file
//! never run it, the REPL's journal survives `kill -9`, `--sandbox` leaves nothing
//! behind however it ends, a full state dir leaves no instance, and signals during
//! `up` roll it back.

mod common;
use common::{lunet_bin, tempdir, text, Sandbox};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// Polls `f` until it holds, for up to 10 s.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- --sandbox

/// What the outer sandbox of `sandbox_leaves_nothing_behind` runs: a fresh /run and a
/// private layer over /etc (so anything lunet creates there shows in the layer), then
/// `lunet --sandbox run` with two sleeps (one spawned, one a daemon in its own
/// session), `kill -9` of lunet, and a look at what is left.
const OUTER: &str = r#"set -e
mount -t tmpfs lunet-test /run
mkdir -p /run/.layer/u /run/.layer/w
mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/.layer/u,workdir=/run/.layer/w /etc
cd "$DIR"
$AS ./lunet --sandbox run s.lua >out 2>&1 & pid=$!
i=0; until [ "$(ps -eo args | grep -c '^sleep 86412[34]')" = 2 ]; do
  i=$((i+1)); [ $i -lt 500 ] || { echo "NEVER-SPAWNED: $(cat out)"; exit 0; }; sleep 0.02
done
echo "spawned as $(ps -eo user=,args= | grep 'sleep 864123' | grep -v grep | cut -d' ' -f1)"
kill -9 $pid
i=0; while ps -eo args | grep -q '^sleep 86412[34]'; do
  i=$((i+1)); [ $i -lt 500 ] || { echo LEFT-RUNNING; ps -eo pid,user,args | grep 'sleep 86412[34]'; break; }; sleep 0.02
done
for d in /run/netns /run/lunet /run/.layer/u/netns; do [ -e $d ] && echo "CREATED $d"; done
echo done
"#;

/// Issue 21 item 11: `kill -9` of `lunet --sandbox run` ends every process the
/// script started (a daemon that left its session too), and the sandbox creates
/// nothing on the machine (/run/netns, /run/lunet, /etc/netns) — as root and as an
/// unprivileged user (who could not create them anyway).
#[test]
fn sandbox_leaves_nothing_behind_when_killed() {
    let dir = tempdir::Dir::new();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let bin = dir.path().join("lunet");
    std::fs::copy(lunet_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("s.lua"),
        r#"net.host:spawn({ "sleep", "864123" })
           os.execute("setsid sleep 864124 </dev/null >/dev/null 2>&1 &")
           net.sleep(1000)"#,
    )
    .unwrap();
    let userns = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
            "--user",
            "--map-root-user",
            "true",
        ])
        .status()
        .is_ok_and(|s| s.success());
    let mut users = vec![("root", "")];
    if userns {
        users.push(("nobody", "setpriv --reuid=65534 --regid=65534 --clear-groups"));
    } else {
        common::skip("as uid 65534: unprivileged user namespaces are disabled on this kernel");
    }
    for (user, prefix) in users {
        let o = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
            ])
            .args(["sh", "-c", OUTER])
            .env("DIR", dir.path())
            .env("AS", prefix)
            .output()
            .unwrap();
        let out = text(&o);
        assert!(o.status.success() && out.contains("done"), "{user}: {out}");
        assert!(out.contains(&format!("spawned as {user}")), "{user}: {out}");
        assert!(
            !out.contains("LEFT-RUNNING"),
            "{user}: kill -9 of lunet left processes running:\n{out}"
        );
        assert!(
            !out.contains("CREATED"),
            "{user}: the sandbox created directories on the machine:\n{out}"
        );
    }
}

// ---------------------------------------------------------------- down/check FILE

/// Issue 21 item 3: `down FILE` and `check FILE` only look up the instance made from
/// the file; they never run it (its top level here writes a file and runs a command).
/// What was brought up from the file is still found by it, however the path is spelled.
#[test]
fn down_and_check_of_a_file_never_run_it() {
    let sb = Sandbox::new();
    let marker = sb.dir.path().join("top-level-ran");
    let touched = sb.dir.path().join("os-execute-ran");
    let lab = sb.write(
        "lab.lua",
        &format!(
            r#"io.open("{}", "w"):close()
               os.execute("touch {}")
               return net.scenario {{ name = "trustlab", setup = function() net.ns.add("tl") end }}"#,
            marker.display(),
            touched.display()
        ),
    );
    let lab_s = lab.to_str().unwrap();
    let before = sb.state_dump();
    for cmd in ["down", "check"] {
        for spec in [lab_s.to_string(), format!("{}/./lab.lua", sb.dir.path().display())] {
            let o = sb.lunet(&[cmd, &spec]);
            let out = text(&o);
            assert!(!marker.exists(), "{cmd} {spec} ran the file's io.open");
            assert!(!touched.exists(), "{cmd} {spec} ran the file's os.execute");
            assert_eq!(o.status.code(), Some(1), "{cmd} {spec}: {out}");
            assert!(
                out.contains("nothing made from") && out.contains("is up") && out.lines().count() == 1,
                "{cmd} {spec}: one clear line expected: {out}"
            );
        }
    }
    assert_eq!(sb.state_dump(), before);
    // Brought up, it is found by its file, spelled another way, and comes down.
    let o = sb.lunet(&["up", lab_s]);
    assert!(o.status.success(), "{}", text(&o));
    let spelled = format!(
        "{}/../{}/lab.lua",
        sb.dir.path().display(),
        sb.dir.path().file_name().unwrap().to_str().unwrap()
    );
    let o = sb.lunet(&["check", &spelled]);
    assert!(
        o.status.success() && text(&o).contains("trustlab: has no check"),
        "{}",
        text(&o)
    );
    let o = sb.lunet(&["down", &spelled]);
    assert!(
        o.status.success() && text(&o).contains("trustlab is down"),
        "{}",
        text(&o)
    );
    assert!(sb.netns_list().is_empty());
}

// ---------------------------------------------------------------- a full state dir

/// Issue 21 item 12: with the state dir full, `up` fails with one clear line and
/// leaves no instance (no empty journal, no temporary meta file): `status` shows
/// nothing, and once there is room again the same `up` works. A run's journal is
/// then kept in memory, and leaves nothing either.
#[test]
fn a_full_state_dir_leaves_no_instance() {
    let sb = Sandbox::new();
    let lab = sb.write(
        "full.lua",
        r#"return net.scenario { name = "full", setup = function() net.ns.add("fa") end }"#,
    );
    let lab = lab.to_str().unwrap();
    sb.sh(
        "umount /run/lunet && mount -t tmpfs -o size=8k,mode=0700 lunet-full /run/lunet && \
         { dd if=/dev/zero of=/run/lunet/fill bs=1k count=64 2>/dev/null; true; }",
    );
    let before = sb.state_dump();
    let o = sb.lunet(&["up", lab]);
    let out = text(&o);
    assert_eq!(
        sb.sh("ls -A /run/lunet"),
        "fill\n",
        "a failed up left files behind: {out}"
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("No space left on device") && out.contains("nothing was changed"),
        "{out}"
    );
    assert_eq!(sb.state_dump(), before);
    let st = text(&sb.lunet(&["status"]));
    assert!(st.contains("no scenario is up"), "{st}");
    // A run: journal in memory, nothing left in the state dir.
    let o = sb.lunet(&["-e", r#"net.ns.add("fr")"#]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sb.sh("ls -A /run/lunet"), "fill\n", "a run left files behind");
    sb.sh("ip netns del fr; rm /run/lunet/fill");
    // What an earlier lunet left in that case (an empty journal, no meta) is no instance.
    sb.sh("touch -d '1 minute ago' /run/lunet/full.journal && chmod 600 /run/lunet/full.journal");
    let o = sb.lunet(&["up", lab]);
    assert!(o.status.success() && text(&o).contains("full is up"), "{}", text(&o));
    sb.down("full");
}

// ---------------------------------------------------------------- signals during up

/// Issue 21 item 13: SIGINT, SIGTERM or SIGHUP while `up` is mid-setup rolls back what
/// it made (as `run` does) and exits 130, 143 or 129; the sandbox is exactly as before.
#[test]
fn a_signal_during_up_rolls_it_back() {
    let sb = Sandbox::new();
    let ready = sb.dir.path().join("ready");
    let lab = sb.write(
        "slow.lua",
        &format!(
            r#"return net.scenario {{
                 name = "slow",
                 setup = function()
                   local a = net.ns.add("sa")
                   net.host:veth("sv0", "eth0", {{ peer_ns = a, up = true }})
                   a:spawn({{ "sleep", "864125" }})
                   io.open("{}", "w"):close()
                   net.sleep(100)
                 end,
               }}"#,
            ready.display()
        ),
    );
    let before = sb.state_dump();
    for (sig, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let _ = std::fs::remove_file(&ready);
        // (A background job of a non-interactive shell ignores SIGINT, and a test run under
        // `nohup` ignores SIGHUP: env restores what the test sends. lunet keeps a signal
        // ignored at its start ignored, by design.)
        let out = sb.sh(&format!(
            "env --default-signal=INT,TERM,HUP {} up {} >{dir}/out 2>&1 & pid=$!; \
             i=0; until [ -e {ready} ]; do i=$((i+1)); [ $i -lt 500 ] || break; sleep 0.02; done; \
             kill -{sig} $pid; wait $pid; echo \"rc=$?\"; cat {dir}/out",
            lunet_bin().display(),
            lab.display(),
            dir = sb.dir.path().display(),
            ready = ready.display(),
        ));
        assert!(ready.exists(), "{sig}: the setup never got going: {out}");
        assert!(out.starts_with(&format!("rc={code}\n")), "{sig}: {out}");
        assert!(
            out.contains(&format!("slow: setup interrupted by SIG{sig}")) && out.contains("rolled back"),
            "{sig}: {out}"
        );
        assert_eq!(sb.state_dump(), before, "{sig}: up left something behind: {out}");
    }
}

// ---------------------------------------------------------------- the REPL's journal

/// The REPL's instance (`repl-PID`) in the sandbox's state dir, if there is one.
fn repl_instance(sb: &Sandbox) -> Option<String> {
    common::instances(sb).into_iter().find(|n| n.starts_with("repl-"))
}

/// Issue 21 item 10: the REPL journals to disk as the instance `repl-PID`: after
/// `kill -9` of the REPL, `status` lists what it made and `down repl-PID` undoes it
/// (the process it spawned included), leaving the sandbox exactly as before. After a
/// clean `.quit` what it made stays and the REPL says how to undo it; a REPL that made
/// nothing leaves no instance.
#[test]
fn the_repl_journal_survives_kill_9_and_quit() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    // kill -9
    let t = common::term::Term::lunet(&sb, "");
    t.wait_for("lunet[host]>");
    t.line(r#"a = net.ns.add("rp"); net.host:veth("rpv0", "eth0", { peer_ns = a, up = true })"#);
    t.line(r#"a:spawn({ "sleep", "864126" }); print("made")"#);
    t.wait_for("\nmade");
    let name = repl_instance(&sb).expect("the REPL has no instance on disk");
    let pid = name.strip_prefix("repl-").unwrap();
    sb.sh(&format!("kill -9 {pid}"));
    t.wait_for("EXIT=137");
    let st = text(&sb.lunet(&["status"]));
    assert!(
        st.contains(&format!("{name}  (REPL, pid {pid} is gone"))
            && st.contains("ip netns add rp")
            && st.contains("rpv0")
            && st.contains("sleep"),
        "{st}"
    );
    assert!(
        sb.ok("ps -eo args | grep -q '^sleep 864126'"),
        "the REPL's sleep should still run"
    );
    let o = sb.lunet(&["down", &name]);
    assert!(o.status.success(), "{}", text(&o));
    wait_until("the sleep to end", || !sb.ok("ps -eo args | grep -q '^sleep 864126'"));
    assert_eq!(sb.state_dump(), before);
    drop(t);
    // .quit with a change kept: it stays, and the REPL says how to undo it.
    let t = common::term::Term::lunet(&sb, "");
    t.wait_for("lunet[host]>");
    t.line(r#"net.ns.add("rq")"#);
    let name = repl_instance(&sb).expect("the REPL has no instance on disk");
    t.line(".quit");
    let end = t.wait_for("EXIT=");
    assert!(
        end.contains("EXIT=0") && end.contains(&format!("`lunet down {name}` undoes them")),
        "{end}"
    );
    let st = text(&sb.lunet(&["status", &name]));
    assert!(
        st.contains("(REPL, pid") && st.contains("ended") && st.contains("ip netns add rq"),
        "{st}"
    );
    sb.down(&name);
    assert_eq!(sb.state_dump(), before);
    drop(t);
    // A REPL that made nothing (or undid all it made) leaves no instance.
    let t = common::term::Term::lunet(&sb, "");
    t.wait_for("lunet[host]>");
    t.line(r#"net.ns.add("rr")"#);
    t.line(".reset");
    t.keys(&["C-d"]);
    let end = t.wait_for("EXIT=");
    assert!(end.contains("EXIT=0") && !end.contains("lunet down"), "{end}");
    assert_eq!(sb.state_dump(), before);
}
