//! What every command needs: the configuration and the store, loaded from global options.

use anyhow::Context as _;
use waymark_core::config::{Config, ConfigSource};
use waymark_store::SqliteStore;

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

/// Opens (creating if needed) the store at `--db`.
pub(crate) fn open_store(global: &Global) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(&global.db)
        .with_context(|| format!("cannot open the store {}", global.db.display()))
}

/// Opens the store for queries; it must exist.
pub(crate) fn open_store_for_query(global: &Global) -> anyhow::Result<SqliteStore> {
    if !global.db.is_file() {
        anyhow::bail!(
            "no store at {} (run `waymark ingest` or `waymark demo` first, or pass --db)",
            global.db.display()
        );
    }
    open_store(global)
}
