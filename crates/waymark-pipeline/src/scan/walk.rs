//! Inputs into files: a file, a folder (recursive) or a glob (`logs/**/*.log`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use walkdir::WalkDir;

/// The files found, sorted and without duplicates, and what could not be read.
#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<PathBuf>,
    /// (path, reason) of each input, folder or entry that could not be read.
    pub errors: Vec<(String, String)>,
}

/// Expands every input; an unreadable one is reported and the others go on.
pub fn expand(inputs: &[String]) -> Walked {
    let mut files = BTreeSet::new();
    let mut errors = Vec::new();
    for input in inputs {
        if is_glob(input) {
            glob(input, &mut files, &mut errors);
            continue;
        }
        let path = absolute(Path::new(input));
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, &mut |p| _ = files.insert(p), &mut errors),
            Ok(_) => _ = files.insert(path),
            Err(e) => errors.push((input.clone(), e.to_string())),
        }
    }
    Walked { files: files.into_iter().collect(), errors }
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// Absolute without resolving links, so that a path names the same file across runs.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn walk(dir: &Path, found: &mut dyn FnMut(PathBuf), errors: &mut Vec<(String, String)>) {
    for entry in WalkDir::new(dir).follow_links(false).sort_by_file_name() {
        match entry {
            Ok(e) if e.file_type().is_file() => found(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let path =
                    e.path().map_or_else(|| dir.display().to_string(), |p| p.display().to_string());
                let reason = e.io_error().map_or_else(|| e.to_string(), |io| io.to_string());
                errors.push((path, reason));
            }
        }
    }
}

/// Walks the glob's literal base folder and keeps the files the glob matches (`*` stays
/// within one folder, `**` crosses folders).
fn glob(pattern: &str, files: &mut BTreeSet<PathBuf>, errors: &mut Vec<(String, String)>) {
    let absolute_pattern = absolute(Path::new(pattern)).display().to_string();
    let matcher = match GlobBuilder::new(&absolute_pattern).literal_separator(true).build() {
        Ok(g) => g.compile_matcher(),
        Err(e) => {
            errors.push((pattern.to_owned(), e.to_string()));
            return;
        }
    };
    let base: PathBuf = Path::new(&absolute_pattern)
        .components()
        .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
        .collect();
    walk(
        &base,
        &mut |p| {
            if matcher.is_match(&p) {
                files.insert(p);
            }
        },
        errors,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_folders_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        for f in ["x.log", "a/y.log", "a/b/z.log", "a/b/z.txt"] {
            std::fs::write(d.join(f), "l\n").unwrap();
        }
        let w = expand(&[d.join("a").display().to_string()]);
        assert_eq!(w.files.len(), 3);
        let w =
            expand(&[format!("{}/**/*.log", d.display()), d.join("x.log").display().to_string()]);
        assert_eq!(w.files.len(), 3, "{:?}", w.files);
        let w = expand(&[format!("{}/*.log", d.display())]);
        assert_eq!(w.files, [d.join("x.log")]);
        let w = expand(&[d.join("missing").display().to_string()]);
        assert_eq!((w.files.len(), w.errors.len()), (0, 1));
    }
}
