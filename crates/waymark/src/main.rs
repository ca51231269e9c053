//! `waymark`: the command line. Thin glue: it parses arguments, loads the configuration,
//! opens the store and hands over to the command's module.

mod cli;
mod cmd;
mod context;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json_logs = matches!(&cli.command, cli::Command::Serve(a) if a.log_format == cmd::serve::LogFormat::Json);
    // serve logs what it does at info level unless told otherwise.
    let verbose = match &cli.command {
        cli::Command::Serve(_) => cli.global.verbose.max(1),
        _ => cli.global.verbose,
    };
    init_tracing(verbose, cli.global.quiet, json_logs);
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`waymark trace x | head`) is not an error.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("waymark: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(verbose: u8, quiet: bool, json: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WAYMARK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        fmt.json().init();
    } else {
        fmt.with_target(false).init();
    }
}
