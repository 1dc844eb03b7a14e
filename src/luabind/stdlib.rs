//! The Lua standard library (`lua/`), embedded in the binary and loadable with `require`.

use mlua::{Lua, Table};

/// (module name, source) for every file under lua/.
const MODULES: &[(&str, &str)] = &[("lunet.addr", include_str!("../../lua/lunet/addr.lua"))];

pub fn install(lua: &Lua, preload: &Table) -> mlua::Result<()> {
    for (name, src) in MODULES {
        let chunk = lua
            .load(*src)
            .set_name(format!("@lua/{}.lua", name.replace('.', "/")))
            .into_function()?;
        preload.set(*name, chunk)?;
    }
    Ok(())
}
