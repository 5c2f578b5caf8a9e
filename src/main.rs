//! The `ward` command: argument handling and printing only; the library does the work.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use tracing_subscriber::EnvFilter;

use ward::cli::{
    AddArgs, CheckArgs, Cli, Command, ExportArgs, LogFormat, LookupArgs, ProbeArgs, RemoveArgs,
    RequestsAction, RequestsArgs, ServeArgs, StateArgs, ZoneArgs,
};
use ward::config::FileConfig;
use ward::load::{DirectoryLoad, Loader};
use ward::web::decide::decide;
use ward::web::edit::{Editor, NewEntry};
use ward::web::requests::{RequestStore, StateFilter};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(&args),
        Command::Check(args) => check(&args),
        Command::Lookup(args) => lookup(&args),
        Command::Probe(args) => probe(&args),
        Command::Export(args) => export(&args),
        Command::Add(args) => add(&args),
        Command::Remove(args) => remove(&args),
        Command::Requests(args) => requests(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ward: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
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

fn file_config(args: &ZoneArgs) -> Result<FileConfig> {
    let zones = args.zones.clone().unwrap_or_else(|| "zones".into());
    match FileConfig::locate(args.config.as_deref(), &zones) {
        Some(path) => Ok(FileConfig::load(&path)?),
        None => Ok(FileConfig::default()),
    }
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

fn print_diagnostics(load: &DirectoryLoad) -> usize {
    let mut errors = 0;
    for error in load.errors() {
        eprintln!("error: {error}");
        errors += 1;
    }
    for warning in load.warnings() {
        eprintln!("warning: {warning}");
    }
    errors
}

fn serve(args: &ServeArgs) -> Result<ExitCode> {
    let file = file_config(&args.zone)?;
    init_logging(&args.log_filter(&file), args.log_format(&file));
    ward::serve(args.settings(&file)?, shutdown_signal())?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT. Registered when first polled, which `serve` does
/// before the first load.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot handle SIGTERM; only SIGINT stops ward");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn check(args: &CheckArgs) -> Result<ExitCode> {
    let file = file_config(&args.zone)?;
    let dir = args.zone.zones_dir(&file);
    let loader = Loader {
        dir: dir.clone(),
        options: args.zone.load_options(&file),
        lenient: true,
    };
    let load = loader.load_all()?;
    let errors = print_diagnostics(&load);
    for ignored in &load.scan.ignored {
        eprintln!(
            "note: {} is not a data file (unknown extension); ignored",
            ignored.display()
        );
    }
    let transferred = file
        .zone
        .iter()
        .filter(|(_, settings)| settings.transfer.is_some())
        .map(|(name, _)| name.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    for report in ward::check::zone_reports(&load, &transferred) {
        println!("{report}");
    }
    if errors > 0 {
        println!("{}: {errors} error(s)", dir.display());
        Ok(ExitCode::FAILURE)
    } else {
        println!("{}: ok", dir.display());
        Ok(ExitCode::SUCCESS)
    }
}

fn lookup(args: &LookupArgs) -> Result<ExitCode> {
    let file = file_config(&args.zone)?;
    let mut options = args.zone.load_options(&file);
    options.keep_entries = true;
    let loader = Loader {
        dir: args.zone.zones_dir(&file),
        options,
        lenient: true,
    };
    let load = loader.load_all()?;
    let report = ward::explain::explain(&args.query, load)?;
    print!("{report}");
    Ok(if report.listed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn probe(args: &ProbeArgs) -> Result<ExitCode> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => {
            let file = file_config(&args.zone)?;
            let scan = ward::load::scan(&args.zone.zones_dir(&file))?;
            let zone = scan
                .zones
                .first()
                .context("no zone to probe in the zones directory; give a name")?;
            // The RFC 5782 test point every zone answers (unless switched off).
            format!("2.0.0.127.{}", zone.name)
        }
    };
    let wait = std::time::Duration::from_secs(args.timeout.max(1));
    match ward::dns::probe::probe(args.server, &name, &args.qtype, wait) {
        Ok(answer) => {
            println!(
                "{name}: {} ({} answer records)",
                answer.rcode, answer.answers
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("ward probe: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn export(args: &ExportArgs) -> Result<ExitCode> {
    let file = file_config(&args.zones)?;
    let mut options = args.zones.load_options(&file);
    options.keep_digests = true;
    let loader = Loader {
        dir: args.zones.zones_dir(&file),
        options,
        lenient: args.zones.lenient(&file),
    };
    let mut load = loader.load_all()?;
    if print_diagnostics(&load) > 0 && !loader.lenient {
        anyhow::bail!("the zones have errors (listed above); fix them or use --lenient");
    }
    let snapshot = load.take_snapshot();
    let wanted = ward::zone::name::Name::parse(&args.zone)
        .with_context(|| format!("`{}` is not a zone name", args.zone))?;
    let zone = snapshot
        .zone(&wanted)
        .with_context(|| format!("no zone {} in {}", args.zone, loader.dir.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match &args.out {
        Some(path) => {
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            );
            ward::export::text::write(zone, args.format, now, &mut out)?;
            std::io::Write::flush(&mut out)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            ward::export::text::write(zone, args.format, now, &mut out)?;
            std::io::Write::flush(&mut out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The editor the admin API uses, on the same files (and lock), and the state
/// directory it logs to.
fn editor(zone: &ZoneArgs, state: &StateArgs) -> Result<(Editor, std::path::PathBuf)> {
    let file = file_config(zone)?;
    let zones = zone.zones_dir(&file);
    let (state, _) = state.resolve(&file, &zones);
    std::fs::create_dir_all(&state)
        .with_context(|| format!("cannot create the state directory {}", state.display()))?;
    Ok((Editor::new(&zones, &state, zone.load_options(&file)), state))
}

/// `cli:<user>`: who ran the command, for `by=` and the audit log.
fn cli_user(by: &Option<String>) -> String {
    by.clone().unwrap_or_else(|| {
        let user = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".to_string());
        let user: String = user
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
            .collect();
        format!("cli:{user}")
    })
}

fn add(args: &AddArgs) -> Result<ExitCode> {
    let (editor, _) = editor(&args.zone_args, &args.state)?;
    let added = editor.add(
        &NewEntry {
            zone: args.zone.clone(),
            key: args.key.clone(),
            reason: args.reason.clone(),
            expires: args.expires.clone(),
            ticket: args.ticket.clone(),
            by: Some(cli_user(&args.by)),
        },
        None,
    )?;
    let verb = if added.replaced { "replaced" } else { "added" };
    println!("{}: {verb} {}", added.file, added.entry.line);
    Ok(ExitCode::SUCCESS)
}

fn remove(args: &RemoveArgs) -> Result<ExitCode> {
    let (editor, _) = editor(&args.zone_args, &args.state)?;
    let removed = editor.remove(&args.zone, &args.key, &cli_user(&args.by), true, None, None)?;
    for entry in removed {
        println!("zones/{}/api.zone: removed {}", entry.zone, entry.line);
    }
    Ok(ExitCode::SUCCESS)
}

fn requests(args: &RequestsArgs) -> Result<ExitCode> {
    let (editor, state) = editor(&args.zone_args, &args.state)?;
    let store = RequestStore::open(&state)?;
    match args.action.clone().unwrap_or(RequestsAction::List {
        show: StateFilter::Open,
    }) {
        RequestsAction::List { show } => {
            let requests = store.list(show, 10_000)?;
            if requests.is_empty() {
                println!("no {} requests", format!("{show:?}").to_lowercase());
            }
            for r in requests {
                println!(
                    "#{} {} {} in {} from {} <{}>",
                    r.id, r.state, r.what, r.zone, r.client_ip, r.email
                );
                for line in r.message.lines() {
                    println!("    | {}", line.escape_debug());
                }
                if let Some(answer) = r.answer {
                    println!("    answer: {}", answer.escape_debug());
                }
            }
        }
        RequestsAction::Accept { id, answer, by } => {
            let answer = answer.unwrap_or_else(|| "Accepted: the listing is removed.".to_string());
            let outcome = decide(&editor, &store, id, true, &answer, &cli_user(&by), None)?;
            for entry in &outcome.removed {
                println!("zones/{}/api.zone: removed {}", entry.zone, entry.line);
            }
            println!("#{id} accepted");
            if outcome.still_listed {
                println!(
                    "warning: {} is still listed in {} by entries outside api.zone (see `ward lookup {}`); remove those by hand",
                    outcome.request.what, outcome.request.zone, outcome.request.what
                );
            }
        }
        RequestsAction::Reject { id, answer, by } => {
            decide(&editor, &store, id, false, &answer, &cli_user(&by), None)?;
            println!("#{id} rejected");
        }
    }
    Ok(ExitCode::SUCCESS)
}
