//! Repository hygiene: every Rust file opens with a `//!` doc saying what it is for.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&crates, &mut files);
    assert!(files.len() > 30, "found only {} files under {}", files.len(), crates.display());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a `//!` doc: {missing:?}");
}

/// The store crate is the only one that knows SQL libraries, and the pipeline takes store
/// traits, never a concrete backend (tests aside).
#[test]
fn sql_stays_in_the_store_and_the_pipeline_names_no_backend() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let krate = entry.unwrap().path();
        let name = krate.file_name().unwrap().to_string_lossy().into_owned();
        let mut files = Vec::new();
        if krate.join("src").is_dir() {
            rust_files(&krate.join("src"), &mut files);
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            // Unit tests at the end of a file may use anything.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            if name != "waymark-store" && (code.contains("rusqlite") || code.contains("postgres::"))
            {
                offenders.push(format!("{}: names a SQL library", f.display()));
            }
            if name == "waymark-pipeline"
                && ["SqliteStore", "PostgresStore", "PgStore"].iter().any(|t| code.contains(t))
            {
                offenders.push(format!("{}: names a concrete store", f.display()));
            }
        }
        let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap_or_default();
        let deps = manifest.split("[dev-dependencies]").next().unwrap_or("");
        if name != "waymark-store" && deps.contains("rusqlite") {
            offenders.push(format!("{name}/Cargo.toml: depends on rusqlite"));
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// ARCHITECTURE.md's code map names every crate and every module that exists (a `mod.rs` by
/// its folder), so that a newcomer finds each stage where the map says.
#[test]
fn the_code_map_names_every_crate_and_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let krate = entry.unwrap().path();
        let name = krate.file_name().unwrap().to_string_lossy().into_owned();
        if !map.contains(&format!("crates/{name}")) {
            missing.push(format!("crate {name}"));
        }
        let mut files = Vec::new();
        if krate.join("src").is_dir() {
            rust_files(&krate.join("src"), &mut files);
        }
        for f in files {
            let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
            let named = match stem.as_str() {
                "lib" | "tests" => continue,
                "mod" => {
                    let dir = f.parent().unwrap().file_name().unwrap().to_string_lossy();
                    format!("`{dir}/`")
                }
                _ => format!("{stem}.rs"),
            };
            if !map.contains(&named) {
                missing.push(f.display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "not in ARCHITECTURE.md's code map: {missing:#?}");
}
