//! The `ward` command: the arguments read, logging set up, and the library called.

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use ward::commands;
use ward::config::args::{Cli, Command, LogFormat, ServeArgs};
use ward::settings::{log_filter, log_format, read_config, serve_settings};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ward: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    Ok(
        match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
            Command::Serve(args) => serve(&args)?,
            Command::Check(args) => commands::check(&args)?,
            Command::Lookup(args) => commands::lookup(&args)?,
            Command::Probe(args) => commands::probe(&args)?,
            Command::Export(args) => commands::export(&args)?,
            Command::Add(args) => commands::add(&args)?,
            Command::Remove(args) => commands::remove(&args)?,
            Command::Requests(args) => commands::requests(&args)?,
            Command::Manpages(args) => commands::manpages(&args)?,
            Command::Policy(args) => {
                init_logging("info", LogFormat::Text);
                commands::policy(&args)?
            }
            Command::Rbldnsd(args) => ward::rbldnsd::rbldnsd(&args)?,
        },
    )
}

/// The error and its causes, each once: the library's messages already name their
/// cause (`cannot read x: No such file…`), so a cause the text ends with is not
/// repeated.
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn init_logging(filter: &str, format: LogFormat) {
    // hickory logs every query at INFO; keep it to warnings.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{filter},hickory_server=warn,hickory_proto=warn,notify=warn"
        ))
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn serve(args: &ServeArgs) -> Result<ExitCode> {
    let file = read_config(&args.zone)?;
    init_logging(&log_filter(args, &file), log_format(args, &file));
    ward::serve(serve_settings(args, &file)?, ward::termination())?;
    Ok(ExitCode::SUCCESS)
}
