//! `waymark audit` and `waymark runs`: one audit row per ETL run in `etl_log_audit`.

use std::process::ExitCode;

use clap::Args;

use crate::cli::Global;

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {}

#[derive(Debug, Args)]
pub(crate) struct RunsArgs {}

pub(crate) fn run(_g: &Global, _args: &AuditArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("audit is not built yet")
}

pub(crate) fn runs(_g: &Global, _args: &RunsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("audit is not built yet")
}
