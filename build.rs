//! Embeds the Lua standard library (`lua/`) and the bundled scenarios
//! (`scripts/`) in the binary, so `lunet` works from anywhere.

use std::fs;
use std::path::Path;

fn lua_files(dir: &Path, prefix: &str, out: &mut Vec<(String, String)>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            lua_files(&p, &format!("{prefix}{name}."), out);
        } else if let Some(stem) = name.strip_suffix(".lua") {
            out.push((
                format!("{prefix}{stem}"),
                p.canonicalize().unwrap().display().to_string(),
            ));
        }
    }
}

fn table(name: &str, items: &[(String, String)]) -> String {
    let mut s = format!("pub const {name}: &[(&str, &str)] = &[\n");
    for (n, p) in items {
        s += &format!("    ({n:?}, include_str!({p:?})),\n");
    }
    s + "];\n"
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (mut modules, mut scenarios) = (vec![], vec![]);
    lua_files(&root.join("lua"), "", &mut modules);
    lua_files(&root.join("scripts"), "", &mut scenarios);
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("bundled.rs");
    fs::write(out, table("MODULES", &modules) + &table("SCENARIOS", &scenarios)).unwrap();
    println!("cargo:rerun-if-changed=lua");
    println!("cargo:rerun-if-changed=scripts");
}
