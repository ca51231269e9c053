//! What every command needs: the configuration and the store, loaded from global options.

use anyhow::Context as _;
use waymark_core::config::{Config, ConfigSource};
use waymark_store::AnyStore;

use crate::cli::Global;

/// Loads the configuration: the built-in one, merged with `--config` when given.
pub(crate) fn load_config(global: &Global) -> anyhow::Result<Config> {
    let Some(path) = &global.config else {
        return Ok(Config::load(None)?);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let name = path.display().to_string();
    Ok(Config::load(Some(&ConfigSource { name: &name, text: &text }))?)
}

/// Opens (creating if needed) the store `--db` names: a SQLite path or a `postgres://` URL.
pub(crate) fn open_store(global: &Global) -> anyhow::Result<AnyStore> {
    waymark_store::open(&global.db)
        .with_context(|| format!("cannot open the store {}", shown_db(global)))
}

/// `--db` as it may be printed: a URL without its password.
pub(crate) fn shown_db(global: &Global) -> String {
    let text = global.db.display().to_string();
    match (text.find("://"), text.rfind('@')) {
        (Some(s), Some(at)) if at > s => match text[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &text[..s + 3 + colon], &text[at..]),
            None => text,
        },
        _ => text,
    }
}

/// Whether `--db` names a PostgreSQL database (which need not be a file here).
pub(crate) fn is_url(global: &Global) -> bool {
    global.db.to_str().is_some_and(waymark_store::is_postgres_url)
}

/// Opens the store for queries; it must exist.
pub(crate) fn open_store_for_query(global: &Global) -> anyhow::Result<AnyStore> {
    if !is_url(global) && !global.db.is_file() {
        anyhow::bail!(
            "no store at {} (run `waymark ingest` or `waymark demo` first, or pass --db)",
            global.db.display()
        );
    }
    open_store(global)
}
