//! Reachability probes made from inside a namespace without running a
//! program: a TCP connect from a socket created in the namespace.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::time::Duration;

use super::error::{Error, Result};
use super::net::Net;
use super::netns::NsId;

impl Net {
    /// Connects to `addr` from inside `id`; Ok when the handshake completes within `timeout`.
    pub async fn tcp_connect(&self, id: &NsId, addr: SocketAddr, timeout: Duration) -> Result<()> {
        self.trace_read(|| format!("{}nc -z {} {}", id.exec_prefix(), addr.ip(), addr.port()));
        if self.is_plan() {
            return Ok(());
        }
        let file = self.ns_file(id).await?;
        let domain = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        // A socket belongs to the namespace it was created in: make it on the namespace thread.
        let fd: OwnedFd = self
            .thread
            .run_in(file, move || {
                // SAFETY: a plain socket(2) call; the fd is owned right away.
                let fd =
                    unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
                if fd < 0 {
                    return Err(Error::io("socket", std::io::Error::last_os_error()));
                }
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            })
            .await?;
        // SAFETY: a fresh, unconnected, non-blocking TCP socket we own.
        let sock = unsafe { tokio::net::TcpSocket::from_raw_fd(fd.into_raw_fd()) };
        match tokio::time::timeout(timeout, sock.connect(addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::io(format!("connect to {addr}"), e)),
            Err(_) => Err(Error::new(format!("connect to {addr}: timed out after {timeout:?}"))),
        }
    }
}
