//! `--sandbox`: a private network and mount namespace for everything lunet does,
//! entered at the very start of `main`, before any thread exists (a process with
//! threads cannot unshare its mount namespace, or a user namespace).

use std::fs;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getegid, geteuid};

/// Where lunet keeps its state (journals); a fresh tmpfs in the sandbox.
pub const STATE_DIR: &str = "/run/lunet";

pub fn enter() -> Result<()> {
    let (uid, gid) = (geteuid(), getegid());
    let mut flags = CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS;
    if !uid.is_root() {
        // Unprivileged: become root of a fresh user namespace that owns the sandbox.
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    unshare(flags).map_err(|e| match e {
        nix::errno::Errno::EPERM => anyhow::anyhow!(
            "--sandbox: cannot create a private network namespace: permission denied (run as root, or enable unprivileged user namespaces)"
        ),
        e => anyhow::anyhow!("--sandbox: cannot create a private network namespace: {e}"),
    })?;
    if !uid.is_root() {
        fs::write("/proc/self/setgroups", "deny").context("--sandbox: write setgroups")?;
        fs::write("/proc/self/uid_map", format!("0 {uid} 1")).context("--sandbox: write uid_map")?;
        fs::write("/proc/self/gid_map", format!("0 {gid} 1")).context("--sandbox: write gid_map")?;
    }
    // Nothing mounted in here may propagate back to the machine.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("--sandbox: make mounts private")?;
    for (dir, mode) in [("/run/netns", "0755"), ("/etc/netns", "0755"), (STATE_DIR, "0700")] {
        fs::create_dir_all(dir).with_context(|| format!("--sandbox: create {dir}"))?;
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(format!("mode={mode}").as_str()),
        )
        .with_context(|| format!("--sandbox: mount a tmpfs on {dir}"))?;
    }
    // /sys as seen from the sandbox's network namespace (so /sys/class/net is ours).
    if let Err(e) = mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    ) {
        bail!("--sandbox: mount sysfs: {e}");
    }
    Ok(())
}
