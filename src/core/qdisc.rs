//! Link conditions: a link's egress shaped by its root qdisc (`tc qdisc … root`)
//! — `tbf` for a rate alone, `netem` for delay, jitter, loss, duplication,
//! reordering and corruption (with netem's own rate when a rate is asked too).
//! Made over netlink, never by running `tc`. Units are parsed here by pure
//! functions, and the two qdiscs' options are encoded and decoded here
//! (netlink-packet-route has no type for tbf or netem).

use std::collections::HashMap;
use std::fmt;

use futures::StreamExt;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{
    DefaultNla, Emitable, NetlinkMessage, NetlinkPayload, Nla, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE,
    NLM_F_REQUEST,
};

use super::error::{Error, Result};
use super::net::Namespace;
use super::netns::NsId;

/// How a link's egress is conditioned. Units: rate in bits/s, burst in bytes,
/// delay and jitter in nanoseconds, loss/duplicate/reorder/corrupt in percent,
/// limit in bytes for tbf (a rate alone) and in packets for netem.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ShapeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The option names, in the order they are documented.
pub const KEYS: &[&str] = &[
    "rate",
    "burst",
    "delay",
    "jitter",
    "loss",
    "duplicate",
    "reorder",
    "corrupt",
    "limit",
];

/// A value as a user wrote it: a number in base units, or text with a unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    Number(f64),
    Text(String),
}

impl fmt::Display for Given {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Given::Number(n) => write!(f, "{n}"),
            Given::Text(s) => write!(f, "{s:?}"),
        }
    }
}

pub const NSEC_PER_SEC: u64 = 1_000_000_000;
/// One psched tick (the kernel's unit for tbf's buffer, netem's 32-bit latency): 64 ns.
const TICK_NS: u64 = 64;
/// The longest delay or jitter accepted (netem could take more; nobody means more).
const MAX_TIME_NS: u64 = 3600 * NSEC_PER_SEC;
/// The fastest rate accepted: 10 Tbit/s.
const MAX_RATE: f64 = 1e13;

/// Splits "10mbit" into (10.0, "mbit"); None if it does not start with a number.
fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if num.is_empty() || num == "." {
        return None;
    }
    Some((num.parse().ok()?, unit.trim()))
}

fn finite_positive(v: f64, zero_ok: bool) -> std::result::Result<f64, String> {
    if v.is_nan() {
        return Err("not a number".into());
    }
    if v.is_infinite() {
        return Err("must be finite".into());
    }
    if v < 0.0 {
        return Err("must not be negative".into());
    }
    if v == 0.0 && !zero_ok {
        return Err("must be more than 0".into());
    }
    Ok(v)
}

/// A rate in bits/s: a number (bits/s), or text with tc's units (`10mbit`,
/// `1gbit`, `100kbit`, `1mibit`, `10mbps` = megabytes/s, …; bare = bits/s).
pub fn parse_rate(v: &Given) -> std::result::Result<u64, String> {
    let bits = match v {
        Given::Number(n) => *n,
        Given::Text(s) => {
            let (n, unit) = split_number(s).ok_or("expected a number and a unit, e.g. \"10mbit\"")?;
            let scale = match unit.to_ascii_lowercase().as_str() {
                "" | "bit" => 1.0,
                "kbit" => 1e3,
                "mbit" => 1e6,
                "gbit" => 1e9,
                "tbit" => 1e12,
                "kibit" => 1024.0,
                "mibit" => 1024.0 * 1024.0,
                "gibit" => 1024.0 * 1024.0 * 1024.0,
                "tibit" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
                "bps" => 8.0,
                "kbps" => 8e3,
                "mbps" => 8e6,
                "gbps" => 8e9,
                "tbps" => 8e12,
                "kibps" => 8.0 * 1024.0,
                "mibps" => 8.0 * 1024.0 * 1024.0,
                "gibps" => 8.0 * 1024.0 * 1024.0 * 1024.0,
                _ => {
                    return Err(format!(
                    "unknown unit {unit:?} (bit, kbit, mbit, gbit, tbit; bps, kbps, mbps, gbps for bytes per second)"
                ))
                }
            };
            n * scale
        }
    };
    let bits = finite_positive(bits, false)?;
    if bits < 8.0 {
        return Err("must be at least 8bit (one byte per second)".into());
    }
    if bits > MAX_RATE {
        return Err("must be at most 10tbit".into());
    }
    Ok(bits.round() as u64)
}

/// A size in bytes: a number (bytes), or text with tc's units (`32kb` = 32 KiB,
/// `1mb`, `1500b`, `64kbit`; bare = bytes).
pub fn parse_size(v: &Given) -> std::result::Result<u64, String> {
    let bytes = match v {
        Given::Number(n) => *n,
        Given::Text(s) => {
            let (n, unit) = split_number(s).ok_or("expected a number and a unit, e.g. \"32kb\"")?;
            let scale = match unit.to_ascii_lowercase().as_str() {
                "" | "b" => 1.0,
                "k" | "kb" => 1024.0,
                "m" | "mb" => 1024.0 * 1024.0,
                "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
                "kbit" => 1024.0 / 8.0,
                "mbit" => 1024.0 * 1024.0 / 8.0,
                "gbit" => 1024.0 * 1024.0 * 1024.0 / 8.0,
                _ => return Err(format!("unknown unit {unit:?} (b, kb, mb, gb, kbit, mbit, gbit)")),
            };
            n * scale
        }
    };
    let bytes = finite_positive(bytes, false)?;
    if bytes.fract() != 0.0 && matches!(v, Given::Number(_)) {
        return Err("must be a whole number".into());
    }
    if bytes > u32::MAX as f64 {
        return Err(format!("must be at most {}", u32::MAX));
    }
    Ok(bytes.round().max(1.0) as u64)
}

/// A time in nanoseconds: a number (seconds), or text with a unit (`5ms`,
/// `1s`, `250us`, `100ns`). Text without a unit is refused: tc reads it as
/// microseconds, a Lua number means seconds.
pub fn parse_time(v: &Given) -> std::result::Result<u64, String> {
    let ns = match v {
        Given::Number(n) => finite_positive(*n, true)? * 1e9,
        Given::Text(s) => {
            let (n, unit) = split_number(s).ok_or("expected a number and a unit, e.g. \"5ms\"")?;
            let scale = match unit.to_ascii_lowercase().as_str() {
                "s" | "sec" | "secs" => 1e9,
                "ms" | "msec" | "msecs" => 1e6,
                "us" | "usec" | "usecs" => 1e3,
                "ns" | "nsec" | "nsecs" => 1.0,
                "" if n == 0.0 => 1.0,
                "" => return Err("give a unit (\"5ms\") or a number of seconds".into()),
                _ => return Err(format!("unknown unit {unit:?} (s, ms, us, ns)")),
            };
            finite_positive(n, true)? * scale
        }
    };
    if ns > MAX_TIME_NS as f64 {
        return Err("must be at most 1 hour".into());
    }
    Ok(ns.round() as u64)
}

/// A probability in percent: a number (percent: `1` is 1 %), or text (`"1%"`, `"0.5"`).
pub fn parse_percent(v: &Given) -> std::result::Result<f64, String> {
    let p = match v {
        Given::Number(n) => *n,
        Given::Text(s) => {
            let (n, unit) = split_number(s).ok_or("expected a percentage, e.g. \"1%\"")?;
            if !(unit.is_empty() || unit == "%") {
                return Err(format!("unknown unit {unit:?} (a percentage: \"1%\" or 1)"));
            }
            n
        }
    };
    let p = finite_positive(p, true)?;
    if p > 100.0 {
        return Err("must be at most 100%".into());
    }
    Ok(p)
}

impl ShapeSpec {
    /// Sets one option from what the user wrote; the error names the option and the value.
    pub fn set(&mut self, key: &str, v: &Given) -> Result<()> {
        let bad = |why: String| Error::new(format!("bad {key} {v}: {why}"));
        match key {
            "rate" => self.rate = Some(parse_rate(v).map_err(bad)?),
            "burst" => self.burst = Some(parse_size(v).map_err(bad)? as u32),
            "limit" => self.limit = Some(parse_size(v).map_err(bad)? as u32),
            "delay" => self.delay = Some(parse_time(v).map_err(bad)?),
            "jitter" => self.jitter = Some(parse_time(v).map_err(bad)?),
            "loss" => self.loss = Some(parse_percent(v).map_err(bad)?),
            "duplicate" => self.duplicate = Some(parse_percent(v).map_err(bad)?),
            "reorder" => self.reorder = Some(parse_percent(v).map_err(bad)?),
            "corrupt" => self.corrupt = Some(parse_percent(v).map_err(bad)?),
            _ => {
                return Err(Error::new(format!(
                    "unknown option {key:?} (expected one of: {})",
                    KEYS.join(", ")
                )))
            }
        }
        Ok(())
    }

    /// Whether it needs netem (anything but a rate).
    pub fn is_netem(&self) -> bool {
        self.delay.is_some()
            || self.jitter.is_some()
            || self.loss.is_some()
            || self.duplicate.is_some()
            || self.reorder.is_some()
            || self.corrupt.is_some()
    }

    pub fn kind(&self) -> &'static str {
        if self.is_netem() {
            "netem"
        } else {
            "tbf"
        }
    }

    /// The checks across options (each value was checked when set).
    pub fn check(&self) -> Result<()> {
        let e = |m: &str| Err(Error::new(m.to_string()));
        if !self.is_netem() && self.rate.is_none() {
            return e("nothing to shape: give rate, delay, jitter, loss, duplicate, reorder or corrupt (shape(nil) removes a shape)");
        }
        if self.is_netem() && self.burst.is_some() {
            return e(
                "burst applies to a rate alone (tbf); with delay, loss, … the rate is netem's, which has no burst",
            );
        }
        if self.jitter.is_some() && self.delay.is_none() {
            return e("jitter needs a delay (jitter varies the delay)");
        }
        if self.reorder.is_some_and(|r| r > 0.0) && self.delay.is_none_or(|d| d == 0) {
            return e("reorder needs a delay (packets are reordered by sending some without it)");
        }
        let burst = self.tbf_burst();
        match self.limit {
            Some(l) if !self.is_netem() && l < burst => e(&format!(
                "limit {l} is less than burst {burst}: the queue must hold a burst"
            )),
            _ => Ok(()),
        }
    }

    /// tbf's bucket: as given, else 10 ms at the rate, at least 16 KiB.
    pub fn tbf_burst(&self) -> u32 {
        self.burst.unwrap_or_else(|| {
            let ten_ms = self.rate.unwrap_or(0) / 8 / 100;
            ten_ms.clamp(16 * 1024, u32::MAX as u64) as u32
        })
    }

    /// tbf's queue, in bytes: as given, else the burst plus 50 ms at the rate.
    pub fn tbf_limit(&self) -> u32 {
        self.limit.unwrap_or_else(|| {
            let fifty_ms = self.rate.unwrap_or(0) / 8 / 20;
            (self.tbf_burst() as u64 + fifty_ms).min(u32::MAX as u64) as u32
        })
    }

    /// netem's queue, in packets: as given, else 1000 (tc's default).
    pub fn netem_limit(&self) -> u32 {
        self.limit.unwrap_or(1000)
    }

    /// The value of TCA_OPTIONS for this shape.
    pub fn encode(&self) -> Vec<u8> {
        if self.is_netem() {
            self.encode_netem()
        } else {
            self.encode_tbf()
        }
    }

    fn encode_tbf(&self) -> Vec<u8> {
        let rate_bps = self.rate.unwrap_or(0) / 8;
        let burst = self.tbf_burst();
        let mut parms = Vec::with_capacity(36);
        ratespec(&mut parms, rate_bps);
        parms.extend_from_slice(&[0u8; 12]); // no peak rate
        parms.extend_from_slice(&self.tbf_limit().to_ne_bytes());
        parms.extend_from_slice(&ticks(xmit_ns(burst as u64, rate_bps)).to_ne_bytes());
        parms.extend_from_slice(&0u32.to_ne_bytes()); // mtu: only with a peak rate
        let mut out = vec![];
        put_nla(&mut out, TCA_TBF_PARMS, &parms);
        put_nla(&mut out, TCA_TBF_BURST, &burst.to_ne_bytes());
        if rate_bps > u32::MAX as u64 {
            put_nla(&mut out, TCA_TBF_RATE64, &rate_bps.to_ne_bytes());
        }
        out
    }

    fn encode_netem(&self) -> Vec<u8> {
        let delay = self.delay.unwrap_or(0);
        let jitter = self.jitter.unwrap_or(0);
        let reorder = self.reorder.map(prob).unwrap_or(0);
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&ticks(delay).to_ne_bytes());
        out.extend_from_slice(&self.netem_limit().to_ne_bytes());
        out.extend_from_slice(&self.loss.map(prob).unwrap_or(0).to_ne_bytes());
        out.extend_from_slice(&u32::from(reorder != 0).to_ne_bytes()); // gap: as tc sets it
        out.extend_from_slice(&self.duplicate.map(prob).unwrap_or(0).to_ne_bytes());
        out.extend_from_slice(&ticks(jitter).to_ne_bytes());
        if reorder != 0 {
            put_nla(&mut out, TCA_NETEM_REORDER, &pair(reorder, 0));
        }
        if let Some(c) = self.corrupt.map(prob).filter(|c| *c != 0) {
            put_nla(&mut out, TCA_NETEM_CORRUPT, &pair(c, 0));
        }
        if let Some(rate) = self.rate {
            let rate_bps = rate / 8;
            let mut r = Vec::with_capacity(16);
            r.extend_from_slice(&(rate_bps.min(u32::MAX as u64) as u32).to_ne_bytes());
            r.extend_from_slice(&[0u8; 12]); // packet_overhead, cell_size, cell_overhead
            put_nla(&mut out, TCA_NETEM_RATE, &r);
            if rate_bps > u32::MAX as u64 {
                put_nla(&mut out, TCA_NETEM_RATE64, &rate_bps.to_ne_bytes());
            }
        }
        if delay != 0 {
            put_nla(&mut out, TCA_NETEM_LATENCY64, &(delay as i64).to_ne_bytes());
        }
        if jitter != 0 {
            put_nla(&mut out, TCA_NETEM_JITTER64, &(jitter as i64).to_ne_bytes());
        }
        out
    }

    /// Reads back a tbf or netem qdisc's options (None for other kinds or
    /// options it cannot read). Burst and percentages come back rounded as
    /// the kernel keeps them (burst as a time at the rate, percentages as u32 fractions).
    pub fn decode(kind: &str, options: &[u8]) -> Option<ShapeSpec> {
        match kind {
            "tbf" => decode_tbf(options),
            "netem" => decode_netem(options),
            _ => None,
        }
    }
}

// Attribute numbers from <linux/pkt_sched.h>.
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const TC_LINKLAYER_ETHERNET: u8 = 1;
const TCA_OPTIONS: u16 = 2;
const TC_H_ROOT: u32 = 0xFFFF_FFFF;

/// `struct tc_ratespec` with an ethernet link layer (no rate table needed).
fn ratespec(out: &mut Vec<u8>, rate_bps: u64) {
    out.push(0); // cell_log
    out.push(TC_LINKLAYER_ETHERNET);
    out.extend_from_slice(&0u16.to_ne_bytes()); // overhead
    out.extend_from_slice(&0i16.to_ne_bytes()); // cell_align
    out.extend_from_slice(&0u16.to_ne_bytes()); // mpu
    out.extend_from_slice(&(rate_bps.min(u32::MAX as u64) as u32).to_ne_bytes());
}

/// The time to send `bytes` at `rate_bps` bytes/s, in ns.
fn xmit_ns(bytes: u64, rate_bps: u64) -> u64 {
    if rate_bps == 0 {
        return 0;
    }
    ((bytes as u128 * NSEC_PER_SEC as u128) / rate_bps as u128).min(u64::MAX as u128) as u64
}

fn ticks(ns: u64) -> u32 {
    (ns / TICK_NS).min(u32::MAX as u64) as u32
}

/// A percentage as the kernel's u32 probability (as tc rounds it).
fn prob(percent: f64) -> u32 {
    (percent / 100.0 * u32::MAX as f64).round().clamp(0.0, u32::MAX as f64) as u32
}

fn percent(p: u32) -> f64 {
    // Six decimals: what a u32 fraction holds of a percentage people write.
    (p as f64 / u32::MAX as f64 * 100.0 * 1e6).round() / 1e6
}

fn pair(a: u32, b: u32) -> [u8; 8] {
    let mut o = [0u8; 8];
    o[..4].copy_from_slice(&a.to_ne_bytes());
    o[4..].copy_from_slice(&b.to_ne_bytes());
    o
}

fn put_nla(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The attributes in `buf`, as (type without flags, value); stops at anything malformed.
fn nlas(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = vec![];
    let mut i = 0;
    while i + 4 <= buf.len() {
        let len = u16::from_ne_bytes([buf[i], buf[i + 1]]) as usize;
        let kind = u16::from_ne_bytes([buf[i + 2], buf[i + 3]]) & 0x3fff;
        if len < 4 || i + len > buf.len() {
            break;
        }
        out.push((kind, &buf[i + 4..i + len]));
        i += (len + 3) & !3;
    }
    out
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_of(b: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?))
}

fn decode_tbf(options: &[u8]) -> Option<ShapeSpec> {
    let attrs = nlas(options);
    let parms = attrs.iter().find(|(k, _)| *k == TCA_TBF_PARMS)?.1;
    let mut rate_bps = u32_at(parms, 8)? as u64;
    if let Some((_, v)) = attrs.iter().find(|(k, _)| *k == TCA_TBF_RATE64) {
        rate_bps = u64_of(v)?;
    }
    let limit = u32_at(parms, 24)?;
    let buffer = u32_at(parms, 28)? as u128;
    let burst = (buffer * TICK_NS as u128 * rate_bps as u128 + NSEC_PER_SEC as u128 / 2) / NSEC_PER_SEC as u128;
    Some(ShapeSpec {
        rate: Some(rate_bps * 8),
        burst: Some(burst.min(u32::MAX as u128) as u32),
        limit: Some(limit),
        ..Default::default()
    })
}

fn decode_netem(options: &[u8]) -> Option<ShapeSpec> {
    let q = options.get(..24)?;
    let (latency, limit, loss, duplicate, jitter) = (
        u32_at(q, 0)?,
        u32_at(q, 4)?,
        u32_at(q, 8)?,
        u32_at(q, 16)?,
        u32_at(q, 20)?,
    );
    let mut s = ShapeSpec {
        delay: Some(latency as u64 * TICK_NS),
        jitter: (jitter != 0).then_some(jitter as u64 * TICK_NS),
        loss: (loss != 0).then(|| percent(loss)),
        duplicate: (duplicate != 0).then(|| percent(duplicate)),
        limit: Some(limit),
        ..Default::default()
    };
    for (kind, v) in nlas(options.get(24..).unwrap_or_default()) {
        match kind {
            TCA_NETEM_REORDER => s.reorder = u32_at(v, 0).filter(|p| *p != 0).map(percent),
            TCA_NETEM_CORRUPT => s.corrupt = u32_at(v, 0).filter(|p| *p != 0).map(percent),
            TCA_NETEM_RATE => s.rate = u32_at(v, 0).filter(|r| *r != 0).map(|r| r as u64 * 8).or(s.rate),
            TCA_NETEM_RATE64 => s.rate = u64_of(v).map(|r| r * 8),
            TCA_NETEM_LATENCY64 => s.delay = u64_of(v),
            TCA_NETEM_JITTER64 => s.jitter = u64_of(v).filter(|j| *j != 0),
            _ => {}
        }
    }
    if s.delay == Some(0) && s.jitter.is_none() {
        // netem with no delay: say nothing of one, as it was not asked.
        s.delay = None;
    }
    if s.delay.is_none() && !s.is_netem() {
        s.delay = Some(0);
    }
    Some(s)
}

/// A rate as tc writes it: `10mbit`, `1500kbit`, `12345bit`.
pub fn fmt_rate(bits: u64) -> String {
    for (scale, unit) in [
        (1_000_000_000_000, "tbit"),
        (1_000_000_000, "gbit"),
        (1_000_000, "mbit"),
        (1_000, "kbit"),
    ] {
        if bits >= scale && bits.is_multiple_of(scale) {
            return format!("{}{unit}", bits / scale);
        }
    }
    format!("{bits}bit")
}

/// A time as tc writes it: `5ms`, `250us`, `100ns`, `1s`.
pub fn fmt_time(ns: u64) -> String {
    for (scale, unit) in [(NSEC_PER_SEC, "s"), (1_000_000, "ms"), (1_000, "us")] {
        if ns >= scale && ns.is_multiple_of(scale) {
            return format!("{}{unit}", ns / scale);
        }
    }
    format!("{ns}ns")
}

impl fmt::Display for ShapeSpec {
    /// The qdisc as `tc qdisc replace … root` takes it: `tbf rate 10mbit burst 16384b limit 78884b`
    /// (defaults filled in, so it is exactly what lunet sends).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_netem() {
            return write!(
                f,
                "tbf rate {} burst {}b limit {}b",
                fmt_rate(self.rate.unwrap_or(0)),
                self.tbf_burst(),
                self.tbf_limit()
            );
        }
        f.write_str("netem")?;
        if let Some(d) = self.delay {
            write!(f, " delay {}", fmt_time(d))?;
            if let Some(j) = self.jitter {
                write!(f, " {}", fmt_time(j))?;
            }
        }
        for (name, v) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
        ] {
            if let Some(p) = v {
                write!(f, " {name} {p}%")?;
            }
        }
        if let Some(r) = self.rate {
            write!(f, " rate {}", fmt_rate(r))?;
        }
        write!(f, " limit {}", self.netem_limit())
    }
}

/// A root qdisc as the kernel reported it, kept to be put back exactly.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedQdisc {
    pub kind: String,
    /// Its handle, `major << 16` (e.g. 0x80010000 for `8001:`).
    pub handle: u32,
    /// TCA_OPTIONS as dumped (which the kernel takes back as they are, for the kinds in RESTORABLE).
    pub options: Vec<u8>,
}

/// Kinds whose dumped options re-create them exactly, and that hold no
/// classes or child qdiscs of their own.
const RESTORABLE: &[&str] = &["tbf", "netem", "pfifo", "bfifo", "pfifo_head_drop"];

impl SavedQdisc {
    fn major(&self) -> u32 {
        self.handle >> 16
    }
}

impl fmt::Display for SavedQdisc {
    /// As `tc qdisc replace dev X root …` takes it (best effort for the options).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handle {:x}: ", self.major())?;
        match ShapeSpec::decode(&self.kind, &self.options) {
            Some(s) => write!(f, "{s}"),
            None => match (self.kind.as_str(), u32_at(&self.options, 0)) {
                ("pfifo" | "bfifo" | "pfifo_head_drop", Some(l)) => write!(f, "{} limit {l}", self.kind),
                _ => f.write_str(&self.kind),
            },
        }
    }
}

/// What is at the root of a link's egress now.
#[derive(Debug, Clone, PartialEq)]
pub struct Root {
    pub saved: SavedQdisc,
    /// Other qdiscs hang below it (classes with their own qdiscs).
    pub children: bool,
}

impl Root {
    /// The kernel's own (handle 0): deleting a root qdisc brings it back.
    pub fn is_default(&self) -> bool {
        self.saved.handle == 0
    }

    /// Why it could not be put back exactly, if so.
    pub fn unrestorable(&self) -> Option<String> {
        if !RESTORABLE.contains(&self.saved.kind.as_str()) {
            return Some(format!("a {} root qdisc", self.saved.kind));
        }
        if self.children {
            return Some(format!("a {} root qdisc with qdiscs below it", self.saved.kind));
        }
        None
    }

    /// lunet's reading of it, when it is a tbf or netem.
    pub fn shape(&self) -> Option<ShapeSpec> {
        if self.is_default() {
            return None;
        }
        ShapeSpec::decode(&self.saved.kind, &self.saved.options)
    }
}

/// The TCA_OPTIONS value of a dumped qdisc, raw.
fn raw_options(m: &TcMessage) -> Vec<u8> {
    for a in &m.attributes {
        let nla: &dyn Nla = match a {
            TcAttribute::Options(opts) => match opts.as_slice() {
                // Kinds the crate does not know come as one attribute: TCA_OPTIONS itself.
                [TcOption::Other(o)] if o.kind() & 0x3fff == TCA_OPTIONS => o,
                _ => {
                    // Kinds it knows (fq_codel, ingress): emit the parsed attributes back.
                    let mut buf = vec![0u8; opts.as_slice().buffer_len()];
                    opts.as_slice().emit(&mut buf);
                    return buf;
                }
            },
            TcAttribute::Other(o) if o.kind() & 0x3fff == TCA_OPTIONS => o,
            _ => continue,
        };
        let mut buf = vec![0u8; nla.value_len()];
        nla.emit_value(&mut buf);
        return buf;
    }
    vec![]
}

fn kind_of(m: &TcMessage) -> String {
    m.attributes
        .iter()
        .find_map(|a| match a {
            TcAttribute::Kind(k) => Some(k.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Every qdisc of the namespace (`tc qdisc show`).
async fn dump(ns: &Namespace) -> Result<Vec<TcMessage>> {
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()));
    req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let what = || format!("list qdiscs of {}", ns.describe());
    let mut resp = ns.nl.clone().request(req).map_err(|e| Error::netlink(what(), e))?;
    let mut out = vec![];
    while let Some(msg) = resp.next().await {
        match msg.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewQueueDiscipline(m)) => out.push(m),
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(Error::netlink(what(), rtnetlink::Error::NetlinkError(e)))
            }
            _ => {}
        }
    }
    Ok(out)
}

const TC_H_INGRESS: u32 = 0xFFFF_FFF1;

/// The root qdisc of every link of the namespace, by ifindex.
pub async fn roots(ns: &Namespace) -> Result<HashMap<u32, Root>> {
    let all = dump(ns).await?;
    let mut out: HashMap<u32, Root> = HashMap::new();
    for m in &all {
        if u32::from(m.header.parent) != TC_H_ROOT {
            continue;
        }
        out.insert(
            m.header.index as u32,
            Root {
                saved: SavedQdisc {
                    kind: kind_of(m),
                    handle: u32::from(m.header.handle),
                    options: raw_options(m),
                },
                children: false,
            },
        );
    }
    for m in &all {
        let parent = u32::from(m.header.parent);
        if parent == TC_H_ROOT || parent == TC_H_INGRESS || u32::from(m.header.handle) == 0 {
            continue;
        }
        if let Some(r) = out.get_mut(&(m.header.index as u32)) {
            r.children = true;
        }
    }
    Ok(out)
}

/// The root qdisc of the link `ifindex` (`tc qdisc show dev DEV root`).
pub async fn root(ns: &Namespace, ifindex: u32) -> Result<Option<Root>> {
    Ok(roots(ns).await?.remove(&ifindex))
}

/// Sends one RTM_NEWQDISC / RTM_DELQDISC and waits for its ack.
async fn send(ns: &Namespace, msg: RouteNetlinkMessage, flags: u16) -> std::result::Result<(), rtnetlink::Error> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let mut resp = ns.nl.clone().request(req)?;
    while let Some(m) = resp.next().await {
        if let NetlinkPayload::Error(e) = m.payload {
            if e.code.is_some() {
                return Err(rtnetlink::Error::NetlinkError(e));
            }
        }
    }
    Ok(())
}

fn message(ifindex: u32, handle: u32, kind: Option<&str>, options: Option<Vec<u8>>) -> TcMessage {
    let mut m = TcMessage::with_index(ifindex as i32);
    m.header.parent = TcHandle::from(TC_H_ROOT);
    m.header.handle = TcHandle::from(handle);
    if let Some(k) = kind {
        m.attributes.push(TcAttribute::Kind(k.to_string()));
    }
    if let Some(o) = options {
        m.attributes.push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, o)));
    }
    m
}

/// The kernel module a qdisc kind lives in.
fn module(kind: &str) -> String {
    format!("sch_{kind}")
}

fn fail(ns: &Namespace, dev: &str, kind: &str, e: rtnetlink::Error) -> Error {
    let err = Error::netlink(format!("{dev:?} in {}: qdisc {kind}", ns.describe()), e);
    match err.errno() {
        Some(libc::ENODEV) => Error::new(format!("no interface {dev:?} in {}", ns.describe())).with_errno(libc::ENODEV),
        Some(libc::ENOENT | libc::EOPNOTSUPP) => {
            let m = module(kind);
            let why = if kind == "netem" {
                "delay, jitter, loss, duplicate, reorder and corrupt need netem; "
            } else {
                ""
            };
            err.reword(format!(
                "{dev:?} in {}: {why}this kernel has no {m} (modprobe {m}, or a kernel built with CONFIG_NET_SCH_{})",
                ns.describe(),
                kind.to_ascii_uppercase()
            ))
        }
        Some(libc::EINVAL) => err.reword(format!(
            "{dev:?} in {}: the kernel refused {kind} with these values",
            ns.describe()
        )),
        _ => err,
    }
}

/// `tc qdisc replace dev DEV root tbf|netem …`
pub async fn replace(ns: &Namespace, ifindex: u32, dev: &str, spec: &ShapeSpec) -> Result<()> {
    spec.check()?;
    let kind = spec.kind();
    let m = message(ifindex, 0, Some(kind), Some(spec.encode()));
    send(
        ns,
        RouteNetlinkMessage::NewQueueDiscipline(m),
        NLM_F_CREATE | NLM_F_REPLACE,
    )
    .await
    .map_err(|e| fail(ns, dev, kind, e))
}

/// `tc qdisc del dev DEV root`: the kernel's default comes back.
pub async fn delete_root(ns: &Namespace, ifindex: u32, dev: &str) -> Result<()> {
    let m = message(ifindex, 0, None, None);
    send(ns, RouteNetlinkMessage::DelQueueDiscipline(m), 0)
        .await
        .map_err(|e| fail(ns, dev, "root", e))
}

/// `tc qdisc replace dev DEV root handle H: KIND …` with the options it had.
pub async fn restore(ns: &Namespace, ifindex: u32, dev: &str, saved: &SavedQdisc) -> Result<()> {
    let m = message(ifindex, saved.handle, Some(&saved.kind), Some(saved.options.clone()));
    send(
        ns,
        RouteNetlinkMessage::NewQueueDiscipline(m),
        NLM_F_CREATE | NLM_F_REPLACE,
    )
    .await
    .map_err(|e| fail(ns, dev, &saved.kind, e))
}

/// `tc` or `tc -n NS`, for printing.
pub fn tc(ns: &NsId) -> String {
    match ns {
        NsId::Host => "tc".into(),
        NsId::Named(n) => format!("tc -n {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Given {
        Given::Text(s.into())
    }
    fn n(v: f64) -> Given {
        Given::Number(v)
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate(&t("10mbit")), Ok(10_000_000));
        assert_eq!(parse_rate(&t("1gbit")), Ok(1_000_000_000));
        assert_eq!(parse_rate(&t("1.5Mbit")), Ok(1_500_000));
        assert_eq!(parse_rate(&t("100kbit")), Ok(100_000));
        assert_eq!(parse_rate(&t("1mibit")), Ok(1_048_576));
        assert_eq!(
            parse_rate(&t("10mbps")),
            Ok(80_000_000),
            "mbps is megabytes per second, as tc"
        );
        assert_eq!(parse_rate(&t("125000bps")), Ok(1_000_000));
        assert_eq!(parse_rate(&t("64000")), Ok(64_000), "bare: bits");
        assert_eq!(parse_rate(&n(2e6)), Ok(2_000_000));
        assert!(parse_rate(&t("10 parsecs"))
            .unwrap_err()
            .contains("unknown unit \"parsecs\""));
        assert!(parse_rate(&n(-5.0)).unwrap_err().contains("negative"));
        assert!(parse_rate(&n(0.0)).is_err());
        assert!(parse_rate(&n(f64::NAN)).unwrap_err().contains("not a number"));
        assert!(parse_rate(&n(f64::INFINITY)).unwrap_err().contains("finite"));
        assert!(parse_rate(&t("-1mbit")).is_err());
        assert!(parse_rate(&t("mbit")).is_err());
        assert!(parse_rate(&t("")).is_err());
        assert!(parse_rate(&t("1e999mbit")).is_err());
        assert!(parse_rate(&n(4.0)).is_err(), "under a byte per second");
        assert!(parse_rate(&t("100tbit")).is_err());
    }

    #[test]
    fn sizes_times_percents() {
        assert_eq!(parse_size(&t("32kb")), Ok(32 * 1024));
        assert_eq!(parse_size(&t("1mb")), Ok(1 << 20));
        assert_eq!(parse_size(&t("1500")), Ok(1500));
        assert_eq!(parse_size(&t("1500b")), Ok(1500));
        assert_eq!(parse_size(&t("8kbit")), Ok(1024));
        assert_eq!(parse_size(&n(1000.0)), Ok(1000));
        assert!(parse_size(&n(1.5)).is_err());
        assert!(parse_size(&n(1e12)).is_err());
        assert!(parse_size(&t("3 apples")).is_err());

        assert_eq!(parse_time(&t("5ms")), Ok(5_000_000));
        assert_eq!(parse_time(&t("1s")), Ok(NSEC_PER_SEC));
        assert_eq!(parse_time(&t("250us")), Ok(250_000));
        assert_eq!(parse_time(&t("100ns")), Ok(100));
        assert_eq!(parse_time(&t("0.5ms")), Ok(500_000));
        assert_eq!(parse_time(&n(0.005)), Ok(5_000_000), "a number is seconds");
        assert_eq!(parse_time(&n(0.0)), Ok(0));
        assert_eq!(parse_time(&t("0")), Ok(0));
        assert!(parse_time(&t("5")).unwrap_err().contains("give a unit"));
        assert!(parse_time(&n(-0.001)).is_err());
        assert!(parse_time(&t("2h")).is_err());
        assert!(parse_time(&n(1e10)).is_err());

        assert_eq!(parse_percent(&t("1%")), Ok(1.0));
        assert_eq!(parse_percent(&t("0.5")), Ok(0.5));
        assert_eq!(parse_percent(&n(100.0)), Ok(100.0));
        assert!(parse_percent(&n(100.5)).unwrap_err().contains("at most 100%"));
        assert!(parse_percent(&t("101%")).is_err());
        assert!(parse_percent(&n(-1.0)).is_err());
        assert!(parse_percent(&t("1 %%")).is_err());
        assert!(parse_percent(&n(f64::NAN)).is_err());
    }

    #[test]
    fn errors_name_option_and_value() {
        let mut s = ShapeSpec::default();
        let e = s.set("rate", &t("10 parsecs")).unwrap_err().to_string();
        assert!(e.starts_with("bad rate \"10 parsecs\": unknown unit"), "{e}");
        let e = s.set("loss", &n(150.0)).unwrap_err().to_string();
        assert_eq!(e, "bad loss 150: must be at most 100%");
        assert!(s
            .set("speed", &n(1.0))
            .unwrap_err()
            .to_string()
            .contains("unknown option"));
    }

    #[test]
    fn cross_checks() {
        let spec = |kv: &[(&str, Given)]| {
            let mut s = ShapeSpec::default();
            for (k, v) in kv {
                s.set(k, v).unwrap();
            }
            s.check().map(|_| s)
        };
        assert!(spec(&[]).is_err(), "empty");
        assert!(spec(&[("limit", n(100.0))]).is_err(), "limit alone");
        assert!(spec(&[("jitter", t("1ms"))]).is_err(), "jitter without delay");
        assert!(spec(&[("reorder", n(5.0))]).is_err(), "reorder without delay");
        assert!(
            spec(&[("delay", t("5ms")), ("burst", t("32kb"))]).is_err(),
            "burst with netem"
        );
        assert!(spec(&[("rate", t("10mbit")), ("burst", n(20000.0)), ("limit", n(1000.0))]).is_err());
        assert_eq!(spec(&[("rate", t("10mbit"))]).unwrap().kind(), "tbf");
        assert_eq!(
            spec(&[("rate", t("10mbit")), ("loss", n(1.0))]).unwrap().kind(),
            "netem"
        );
    }

    #[test]
    fn tbf_encoding() {
        let s = ShapeSpec {
            rate: Some(10_000_000),
            burst: Some(16000),
            limit: Some(78500),
            ..Default::default()
        };
        let b = s.encode();
        let attrs = nlas(&b);
        assert_eq!(attrs.len(), 2);
        let (k, parms) = attrs[0];
        assert_eq!(k, TCA_TBF_PARMS);
        assert_eq!(parms.len(), 36, "struct tc_tbf_qopt");
        assert_eq!(parms[1], TC_LINKLAYER_ETHERNET);
        assert_eq!(u32_at(parms, 8), Some(1_250_000), "rate in bytes/s");
        assert_eq!(u32_at(parms, 24), Some(78500), "limit");
        assert_eq!(
            u32_at(parms, 28),
            Some(12_800_000 / 64),
            "buffer: 16000 B at 1.25 MB/s = 12.8 ms, in ticks"
        );
        assert_eq!(attrs[1], (TCA_TBF_BURST, &16000u32.to_ne_bytes()[..]));
        assert_eq!(s.to_string(), "tbf rate 10mbit burst 16000b limit 78500b");
        let back = ShapeSpec::decode("tbf", &b).unwrap();
        assert_eq!(back, s);

        // Over 4 GB/s: the 32-bit rate is saturated and TCA_TBF_RATE64 carries it.
        let fast = ShapeSpec {
            rate: Some(40_000_000_000),
            ..Default::default()
        };
        let b = fast.encode();
        let attrs = nlas(&b);
        assert_eq!(u32_at(attrs[0].1, 8), Some(u32::MAX));
        assert_eq!(attrs[2], (TCA_TBF_RATE64, &5_000_000_000u64.to_ne_bytes()[..]));
        assert_eq!(ShapeSpec::decode("tbf", &b).unwrap().rate, Some(40_000_000_000));
        // Defaults: 10 ms at the rate (at least 16 KiB), and 50 ms more of queue.
        assert_eq!(fast.tbf_burst(), 50_000_000);
        let slow = ShapeSpec {
            rate: Some(1_000_000),
            ..Default::default()
        };
        assert_eq!(slow.tbf_burst(), 16384);
        assert_eq!(slow.tbf_limit(), 16384 + 6250);
        assert_eq!(slow.to_string(), "tbf rate 1mbit burst 16384b limit 22634b");
    }

    #[test]
    fn netem_encoding() {
        let s = ShapeSpec {
            delay: Some(5_000_000),
            jitter: Some(1_000_000),
            loss: Some(1.0),
            duplicate: Some(0.5),
            reorder: Some(25.0),
            corrupt: Some(0.1),
            rate: Some(10_000_000),
            limit: Some(500),
            ..Default::default()
        };
        let b = s.encode();
        assert_eq!(u32_at(&b, 0), Some(5_000_000 / 64), "latency in ticks");
        assert_eq!(u32_at(&b, 4), Some(500));
        assert_eq!(u32_at(&b, 8), Some(prob(1.0)));
        assert_eq!(u32_at(&b, 12), Some(1), "gap 1 with reorder, as tc");
        assert_eq!(u32_at(&b, 16), Some(prob(0.5)));
        assert_eq!(u32_at(&b, 20), Some(1_000_000 / 64));
        assert_eq!(prob(100.0), u32::MAX);
        assert_eq!(prob(1.0), 42_949_673);
        let kinds: Vec<u16> = nlas(&b[24..]).iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                TCA_NETEM_REORDER,
                TCA_NETEM_CORRUPT,
                TCA_NETEM_RATE,
                TCA_NETEM_LATENCY64,
                TCA_NETEM_JITTER64
            ]
        );
        assert_eq!(ShapeSpec::decode("netem", &b).unwrap(), s);
        assert_eq!(
            s.to_string(),
            "netem delay 5ms 1ms loss 1% duplicate 0.5% reorder 25% corrupt 0.1% rate 10mbit limit 500"
        );
        let lossy = ShapeSpec {
            loss: Some(2.0),
            ..Default::default()
        };
        assert_eq!(lossy.to_string(), "netem loss 2% limit 1000");
        assert_eq!(ShapeSpec::decode("netem", &lossy.encode()).unwrap().loss, Some(2.0));
        assert_eq!(
            ShapeSpec::decode("netem", &[1, 2, 3]),
            None,
            "short options are not read"
        );
    }

    #[test]
    fn decoding_never_panics_on_garbage() {
        for len in 0..80 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let _ = ShapeSpec::decode("tbf", &junk);
            let _ = ShapeSpec::decode("netem", &junk);
            let saved = SavedQdisc {
                kind: "pfifo".into(),
                handle: 0x10000,
                options: junk,
            };
            let _ = saved.to_string();
        }
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_rate(10_000_000), "10mbit");
        assert_eq!(fmt_rate(1_500_000), "1500kbit");
        assert_eq!(fmt_rate(12_345), "12345bit");
        assert_eq!(fmt_time(5_000_000), "5ms");
        assert_eq!(fmt_time(1_500_000), "1500us");
        assert_eq!(fmt_time(100), "100ns");
        assert_eq!(fmt_time(2 * NSEC_PER_SEC), "2s");
    }
}
