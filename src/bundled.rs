//! What is embedded in the binary: `lua/` modules and `scripts/` scenarios,
//! as (name, source) pairs; `lua/lunet/addr.lua` is module `lunet.addr`.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

pub fn scenario(name: &str) -> Option<&'static str> {
    SCENARIOS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
