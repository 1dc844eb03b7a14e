//! The Lua standard library (`lua/`), embedded in the binary and loadable with `require`.

use mlua::{Lua, Table};

use crate::bundled::MODULES;

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
