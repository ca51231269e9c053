//! `waymark config check|show`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::cli::Global;
use crate::context::load_config;

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate the configuration; every error is reported with its path and line.
    Check,
    /// Print the effective configuration (built-in merged with --config) as TOML.
    Show,
}

pub(crate) fn run(g: &Global, cmd: &ConfigCommand) -> anyhow::Result<ExitCode> {
    let config = match load_config(g) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    match cmd {
        ConfigCommand::Check => {
            let systems = config.parsers.system_names().join(", ");
            let from = g
                .config
                .as_ref()
                .map_or("built-in configuration".to_owned(), |p| p.display().to_string());
            println!("{from}: ok ({} systems: {systems})", config.parsers.system_names().len());
        }
        ConfigCommand::Show => print!("{}", config.to_toml()),
    }
    Ok(ExitCode::SUCCESS)
}
