//! `waymark scan`: ETL log files through the scan rules into `logscan_results`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::Global;

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Files, folders (recursive) or globs; default: `[scan] paths` of the config.
    pub(crate) paths: Vec<PathBuf>,
}

pub(crate) fn run(_g: &Global, _args: &ScanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("scan is not built yet")
}
