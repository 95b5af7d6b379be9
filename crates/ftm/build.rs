//! Embeds the vendored FollowTheMoney schema files (`schema/*.yaml`) into the crate.
//!
//! Writes `$OUT_DIR/schema_files.rs`: a `SCHEMA_FILES` slice of `(file name, YAML text)` pairs,
//! sorted by file name, which `model.rs` includes.

use std::{env, fs, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("schema");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("schema folder")
        .map(|e| e.expect("schema entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = String::from("pub(crate) const SCHEMA_FILES: &[(&str, &str)] = &[\n");
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        out.push_str(&format!("    ({name:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    out.push_str("];\n");
    let target = PathBuf::from(env::var("OUT_DIR").unwrap()).join("schema_files.rs");
    fs::write(target, out).expect("write schema_files.rs");
}
