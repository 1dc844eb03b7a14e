//! The little of nf_tables' netlink protocol (nfnetlink) that lunet needs to
//! remove an nft table that iptables-nft created for it: whether a table
//! exists (and how many chains/sets it holds), the ruleset's generation, and
//! deleting a table in a batch that the kernel refuses if the ruleset changed
//! since a given generation. Every outcome is decided from the kernel's errno.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::error::{Error, Result};

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_BATCH_GENID: u16 = 1;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_USE: u16 = 3;
const NFTA_TABLE_HANDLE: u16 = 4;
/// `SO_NETNS_COOKIE` (Linux 5.14): a network namespace's number, never reused while the machine runs.
const SO_NETNS_COOKIE: i32 = 71;
const NFTA_GEN_ID: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_RULE_TABLE: u16 = 1;
const NF_ACCEPT: u32 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const HDR: usize = 16;

/// The nf_tables family of an iptables (v6 = ip6tables) table.
pub fn family(v6: bool) -> u8 {
    if v6 {
        libc::NFPROTO_IPV6 as u8
    } else {
        libc::NFPROTO_IPV4 as u8
    }
}

/// `ip` or `ip6`, as `nft` names the family.
pub fn family_name(v6: bool) -> &'static str {
    if v6 {
        "ip6"
    } else {
        "ip"
    }
}

/// What the kernel says of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    /// Chains, sets, objects and flowtables it holds (the kernel's use count).
    pub uses: u32,
    /// The table's handle: a number the kernel gives each new table of a
    /// namespace, never reused there (a table deleted and made again has a new one).
    pub handle: Option<u64>,
}

/// One chain of a table, as the kernel has it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainInfo {
    pub name: String,
    /// A base chain (attached to a hook), as iptables' built-in chains are.
    pub base: bool,
    /// A base chain's policy is accept (None for other chains).
    pub accept: Option<bool>,
}

/// What a table holds, as the kernel has it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableContent {
    pub uses: u32,
    /// See [`TableInfo::handle`].
    pub handle: Option<u64>,
    pub chains: Vec<ChainInfo>,
    pub rules: usize,
}

impl TableContent {
    /// Nothing that filters or is referred to: no rules, only base chains
    /// with policy accept, and nothing else the table counts (sets, objects,
    /// flowtables, which `uses` counts along with chains).
    pub fn is_empty(&self) -> bool {
        self.rules == 0
            && self.chains.iter().all(|c| c.base && c.accept == Some(true))
            && self.uses as usize == self.chains.len()
    }
}

/// An nfnetlink socket in a namespace.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// Builds one netlink message: header, nfgenmsg, attributes.
/// A name as the kernel wants it in an attribute: NUL-terminated.
fn c_string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn message(kind: u16, flags: u16, seq: u32, family: u8, res_id: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = vec![0u8; HDR];
    m[4..6].copy_from_slice(&kind.to_ne_bytes());
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // struct nfgenmsg { family, version = NFNETLINK_V0, res_id (big endian) }
    m.push(family);
    m.push(0);
    m.extend_from_slice(&res_id.to_be_bytes());
    for (kind, value) in attrs {
        let len = 4 + value.len();
        m.extend_from_slice(&(len as u16).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(value);
        m.resize(align(m.len()), 0);
    }
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m
}

/// One received message: type, seq, payload after the header.
struct Reply {
    kind: u16,
    seq: u32,
    payload: Vec<u8>,
}

impl Reply {
    /// For NLMSG_ERROR: the (positive) errno, 0 for an ack.
    fn errno(&self) -> Option<i32> {
        (self.kind == NLMSG_ERROR && self.payload.len() >= 4)
            .then(|| -i32::from_ne_bytes(self.payload[0..4].try_into().unwrap()))
    }

    /// Attributes after the nfgenmsg.
    fn attr(&self, want: u16) -> Option<&[u8]> {
        let mut rest = self.payload.get(4..)?;
        while rest.len() >= 4 {
            let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
            let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
            if len < 4 || len > rest.len() {
                return None;
            }
            if kind == want {
                return Some(&rest[4..len]);
            }
            rest = rest.get(align(len)..).unwrap_or(&[]);
        }
        None
    }

    fn be64(&self, want: u16) -> Option<u64> {
        let v = self.attr(want)?;
        Some(u64::from_be_bytes(v.get(0..8)?.try_into().ok()?))
    }

    fn be32(&self, want: u16) -> Option<u32> {
        let v = self.attr(want)?;
        Some(u32::from_be_bytes(v.get(0..4)?.try_into().ok()?))
    }
}

fn parse_replies(buf: &[u8]) -> Vec<Reply> {
    let mut out = vec![];
    let mut rest = buf;
    while rest.len() >= HDR {
        let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
        if len < HDR || len > rest.len() {
            break;
        }
        out.push(Reply {
            kind: u16::from_ne_bytes([rest[4], rest[5]]),
            seq: u32::from_ne_bytes(rest[8..12].try_into().unwrap()),
            payload: rest[HDR..len].to_vec(),
        });
        rest = rest.get(align(len)..).unwrap_or(&[]);
    }
    out
}

impl Socket {
    /// Opens the socket inside `ns` (None = this thread's namespace). The
    /// socket stays in the namespace it was made in: a throw-away thread (never
    /// a tokio worker) enters `ns`, makes the socket, and ends.
    pub fn open(ns: Option<&File>) -> Result<Socket> {
        let make = || -> Result<OwnedFd> {
            if let Some(f) = ns {
                // SAFETY: setns on this short-lived thread only; the fd is valid for the call.
                if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
                    return Err(Error::io("enter the namespace", std::io::Error::last_os_error()));
                }
            }
            // SAFETY: plain socket(2); the fd is owned right after.
            let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_NETFILTER) };
            if fd < 0 {
                return Err(Error::io("open an nfnetlink socket", std::io::Error::last_os_error()));
            }
            // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        let fd = match ns {
            None => make()?,
            Some(_) => std::thread::scope(|s| s.spawn(make).join())
                .map_err(|_| Error::new("the nfnetlink thread panicked"))??,
        };
        let tv = libc::timeval { tv_sec: 5, tv_usec: 0 };
        // SAFETY: setsockopt with a correctly sized timeval.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        Ok(Socket { fd, seq: 1 })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, buf: &[u8]) -> Result<()> {
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: buf and addr are valid for the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                0,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 {
            return Err(Error::io("send to nfnetlink", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Reads replies until an NLMSG_ERROR (ack or error) or the NLMSG_DONE of a dump for one of `seqs`;
    /// returns the messages seen for `seqs` before it, and that errno (0 = ack).
    fn wait(&self, seqs: &[u32]) -> Result<(Vec<Reply>, i32, u32)> {
        let mut seen = vec![];
        let mut buf = vec![0u8; 65536];
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            if n < 0 {
                return Err(Error::io("read from nfnetlink", std::io::Error::last_os_error()));
            }
            for r in parse_replies(&buf[..n as usize]) {
                if !seqs.contains(&r.seq) {
                    continue;
                }
                if let Some(errno) = r.errno() {
                    return Ok((seen, errno, r.seq));
                }
                if r.kind == NLMSG_DONE {
                    return Ok((seen, 0, r.seq));
                }
                seen.push(r);
            }
        }
    }

    /// One nf_tables request (`msg`) and its answers, with the kernel's errno (0: fine).
    fn ask(&mut self, msg: u16, flags: u16, family: u8, attrs: &[(u16, &[u8])]) -> Result<(Vec<Reply>, i32)> {
        let seq = self.next_seq();
        self.send(&message(
            (NFNL_SUBSYS_NFTABLES << 8) | msg,
            flags,
            seq,
            family,
            0,
            attrs,
        ))?;
        let (replies, errno, _) = self.wait(&[seq])?;
        Ok((replies, errno))
    }

    /// The cookie of the socket's network namespace (`SO_NETNS_COOKIE`): unlike
    /// its inode number, never given to another namespace while the machine runs.
    pub fn netns_cookie(&self) -> Result<u64> {
        let mut v: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: getsockopt into a correctly sized u64.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_NETNS_COOKIE,
                &mut v as *mut u64 as *mut libc::c_void,
                &mut len,
            )
        };
        if r < 0 {
            return Err(Error::io("get the namespace's cookie", std::io::Error::last_os_error()));
        }
        Ok(v)
    }

    /// The ruleset's generation (it changes with every committed change).
    pub fn genid(&mut self) -> Result<u32> {
        let (replies, errno) = self.ask(NFT_MSG_GETGEN, NLM_F_REQUEST | NLM_F_ACK, 0, &[])?;
        if errno != 0 {
            return Err(Error::sys("nf_tables: get the ruleset generation", errno));
        }
        replies
            .iter()
            .find(|r| r.kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)
            .and_then(|r| r.be32(NFTA_GEN_ID))
            .ok_or_else(|| Error::new("nf_tables: no generation in the kernel's answer"))
    }

    /// The table `family`/`name`; None when it does not exist (ENOENT).
    pub fn table(&mut self, family: u8, name: &str) -> Result<Option<TableInfo>> {
        let n = c_string(name);
        let (replies, errno) = self.ask(
            NFT_MSG_GETTABLE,
            NLM_F_REQUEST | NLM_F_ACK,
            family,
            &[(NFTA_TABLE_NAME, &n)],
        )?;
        match errno {
            0 => {}
            libc::ENOENT => return Ok(None),
            e => return Err(Error::sys(format!("nf_tables: table {name}"), e)),
        }
        let r = replies
            .iter()
            .find(|r| r.kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE)
            .ok_or_else(|| Error::new(format!("nf_tables: table {name}: no table in the kernel's answer")))?;
        Ok(Some(TableInfo {
            uses: r.be32(NFTA_TABLE_USE).unwrap_or(u32::MAX),
            handle: r.be64(NFTA_TABLE_HANDLE),
        }))
    }

    /// Dumps the objects of one kind (chains, rules) of `family` that belong to `table`.
    fn dump(&mut self, msg: u16, reply: u16, family: u8, table: &str, table_attr: u16) -> Result<Vec<Reply>> {
        let n = c_string(table);
        let (replies, errno) = self.ask(msg, NLM_F_REQUEST | NLM_F_DUMP, family, &[(table_attr, &n)])?;
        if errno != 0 {
            return Err(Error::sys(format!("nf_tables: list table {table}"), errno));
        }
        // Older kernels ignore the table in a dump request: filter here too.
        Ok(replies
            .into_iter()
            .filter(|r| r.kind == (NFNL_SUBSYS_NFTABLES << 8) | reply && r.attr(table_attr) == Some(&n[..]))
            .collect())
    }

    /// The table's chains and rule count; None when it does not exist.
    pub fn table_content(&mut self, family: u8, name: &str) -> Result<Option<TableContent>> {
        let Some(info) = self.table(family, name)? else {
            return Ok(None);
        };
        let chains = self
            .dump(NFT_MSG_GETCHAIN, NFT_MSG_NEWCHAIN, family, name, NFTA_CHAIN_TABLE)?
            .iter()
            .map(|r| {
                let base = r.attr(NFTA_CHAIN_HOOK).is_some();
                ChainInfo {
                    name: r
                        .attr(NFTA_CHAIN_NAME)
                        .map(|v| String::from_utf8_lossy(v).trim_end_matches('\0').to_string())
                        .unwrap_or_default(),
                    base,
                    accept: base.then(|| r.be32(NFTA_CHAIN_POLICY) == Some(NF_ACCEPT)),
                }
            })
            .collect();
        let rules = self
            .dump(NFT_MSG_GETRULE, NFT_MSG_NEWRULE, family, name, NFTA_RULE_TABLE)?
            .len();
        Ok(Some(TableContent {
            uses: info.uses,
            handle: info.handle,
            chains,
            rules,
        }))
    }

    /// Deletes the table (with whatever it holds) in one batch, which the
    /// kernel refuses with ERESTART if the ruleset's generation is no longer
    /// `genid`. Errors keep the kernel's errno (ENOENT: no such table).
    pub fn delete_table(&mut self, family: u8, name: &str, genid: u32) -> Result<()> {
        let (begin, del, end) = (self.next_seq(), self.next_seq(), self.next_seq());
        let n = c_string(name);
        let gen = genid.to_be_bytes();
        let mut batch = message(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            begin,
            libc::AF_UNSPEC as u8,
            NFNL_SUBSYS_NFTABLES,
            &[(NFNL_BATCH_GENID, &gen)],
        );
        batch.extend(message(
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELTABLE,
            NLM_F_REQUEST | NLM_F_ACK,
            del,
            family,
            0,
            &[(NFTA_TABLE_NAME, &n)],
        ));
        batch.extend(message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            end,
            libc::AF_UNSPEC as u8,
            NFNL_SUBSYS_NFTABLES,
            &[],
        ));
        self.send(&batch)?;
        let (_, errno, _) = self.wait(&[begin, del, end])?;
        if errno != 0 {
            return Err(Error::sys(format!("nf_tables: delete table {name}"), errno));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_aligned_and_parse_back() {
        let m = message(
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE,
            NLM_F_REQUEST,
            7,
            2,
            0,
            &[(NFTA_TABLE_NAME, b"nat\0"), (NFTA_TABLE_USE, &4u32.to_be_bytes())],
        );
        assert_eq!(m.len(), HDR + 4 + 8 + 8);
        let r = parse_replies(&m);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].seq, 7);
        assert_eq!(r[0].attr(NFTA_TABLE_NAME), Some(&b"nat\0"[..]));
        assert_eq!(r[0].be32(NFTA_TABLE_USE), Some(4));
        assert_eq!(r[0].errno(), None);
        // "mangle\0" is 7 bytes: padded to 8, the next attribute still found.
        let m = message(
            0,
            0,
            1,
            2,
            0,
            &[(NFTA_TABLE_NAME, b"mangle\0"), (NFTA_TABLE_USE, &[0, 0, 0, 5])],
        );
        assert_eq!(parse_replies(&m)[0].be32(NFTA_TABLE_USE), Some(5));
    }

    #[test]
    fn emptiness_counts_rules_chains_and_sets() {
        let base = |name: &str, accept| ChainInfo {
            name: name.into(),
            base: true,
            accept: Some(accept),
        };
        let mut t = TableContent {
            uses: 1,
            handle: Some(1),
            chains: vec![base("POSTROUTING", true)],
            rules: 0,
        };
        assert!(t.is_empty());
        t.uses = 2; // a set, or anything else iptables does not show
        assert!(!t.is_empty());
        t.uses = 1;
        t.rules = 1;
        assert!(!t.is_empty());
        t.rules = 0;
        t.chains = vec![base("FORWARD", false)];
        assert!(!t.is_empty());
        t.chains = vec![ChainInfo {
            name: "MINE".into(),
            base: false,
            accept: None,
        }];
        assert!(!t.is_empty());
    }

    #[test]
    fn error_messages_give_the_errno() {
        let mut m = vec![0u8; HDR];
        m[0..4].copy_from_slice(&((HDR + 4 + HDR) as u32).to_ne_bytes());
        m[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&(-libc::ENOENT).to_ne_bytes());
        m.extend_from_slice(&[0u8; HDR]);
        let r = parse_replies(&m);
        assert_eq!(r[0].errno(), Some(libc::ENOENT));
    }
}
