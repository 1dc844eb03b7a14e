//! The lunet core: network namespaces, links, addresses, routes, rules and
//! sysctls, driven over netlink. It knows nothing of Lua.

pub mod addr;
pub mod apply;
pub mod error;
pub mod etcfiles;
pub mod firewall;
pub mod fwrules;
pub mod ipcmd;
pub mod journal;
pub mod link;
pub mod monitor;
pub mod names;
pub mod net;
pub mod netns;
pub mod nft;
mod nsthread;
pub mod op;
pub mod probe;
pub mod process;
mod proctree;
pub mod qdisc;
pub mod route;
pub mod rule;
pub mod sysctl;
mod teardown;
pub mod words;

pub use error::{Error, Result};
pub use net::{Namespace, Net};
pub use netns::NsId;
pub use op::Op;
