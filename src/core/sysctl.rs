//! `net.*` sysctls. /proc/sys/net shows the namespace of the thread that opens
//! the file, so these run on the namespace thread, inside the namespace.

use std::fs;

use super::error::{Error, Result};
use super::names::sysctl_path;

pub fn check(key: &str) -> Result<String> {
    let path = sysctl_path(key)?;
    Ok(path)
}

pub fn read(key: &str) -> Result<String> {
    let path = check(key)?;
    let v = fs::read_to_string(&path).map_err(|e| missing_or(key, e))?;
    Ok(v.trim_end().to_string())
}

pub fn write(key: &str, value: &str) -> Result<()> {
    let path = check(key)?;
    fs::write(&path, value).map_err(|e| match e.raw_os_error() {
        Some(libc::EINVAL) => Error::new(format!("sysctl {key}: invalid value {value:?}")),
        _ => missing_or(key, e),
    })
}

fn missing_or(key: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::new(format!("sysctl {key}: no such key in this namespace"))
    } else {
        Error::io(format!("sysctl {key}"), e)
    }
}
