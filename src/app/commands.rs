//! The commands other than `serve`: each reads its arguments and `ward.toml`, does
//! its work through the library and prints what a person at a terminal needs. The
//! binary only parses the command line and calls these.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::policy::{PolicySettings, serve_policy};
use super::settings::{lenient, load_options, read_config, state_dir, zones_dir};
use crate::config::ConfigError;
use crate::config::args::{
    AddArgs, CheckArgs, Cli, ExportArgs, ExportFormat, LookupArgs, ManpagesArgs, PolicyArgs,
    ProbeArgs, RemoveArgs, RequestsAction, RequestsArgs, StateArgs, ZoneArgs,
};
use crate::external::ExternalLists;
use crate::listings::decide::{DecideError, decide};
use crate::listings::edit::{EditError, Editor, NewEntry, Removal};
use crate::listings::requests::{RequestError, RequestStore, StateFilter};
use crate::load::{DirectoryLoad, Loader, ScanError};
use crate::records::text::Format;
use crate::report::explain::LookupError;
use crate::time::{format_rfc3339, unix_now};
use crate::zone::name::Name;

/// Why a command could not do its work (a finding, such as a zone error, is not an
/// error: it is printed and the exit status says so).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Requests(#[from] RequestError),
    #[error(transparent)]
    Decide(#[from] DecideError),
    #[error("no zone to probe in the zones directory; give a name")]
    NothingToProbe,
    #[error("`{0}` is not a zone name")]
    NotAZoneName(String),
    #[error("no zone {zone} in {dir}")]
    NoSuchZone { zone: String, dir: PathBuf },
    #[error("the zones have errors (listed above); fix them or use --lenient")]
    ZoneErrors,
    #[error("cannot create the state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Policy(#[from] super::policy::PolicyError),
    #[error(transparent)]
    Resolver(#[from] crate::external::ResolverError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
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

/// `ward check`: every error and warning, what an operator should know of each zone,
/// and exit 1 when there are errors.
pub fn check(args: &CheckArgs) -> Result<ExitCode, CommandError> {
    let file = read_config(&args.zone)?;
    let dir = zones_dir(&args.zone, &file);
    let mut options = load_options(&args.zone, &file);
    // The overlaps between files are found by name: addresses are kept whole.
    options.for_export = true;
    let loader = Loader {
        dir: dir.clone(),
        options,
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
    for report in crate::report::check::zone_reports(&load, &transferred) {
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

/// `ward lookup`: exit 0 when the value is listed somewhere, 1 when not.
pub fn lookup(args: &LookupArgs) -> Result<ExitCode, CommandError> {
    let file = read_config(&args.zone)?;
    let mut options = load_options(&args.zone, &file);
    options.keep_entries = true;
    let loader = Loader {
        dir: zones_dir(&args.zone, &file),
        options,
        lenient: true,
    };
    let load = loader.load_all()?;
    let report = crate::report::explain::explain(&args.query, load)?;
    print!("{report}");
    let mut listed = report.listed();
    if args.external {
        listed |= print_external(&args.query, &file)?;
    }
    Ok(if listed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What the public lists of ward.toml say about `query`; whether one lists it.
fn print_external(query: &str, file: &crate::config::FileConfig) -> Result<bool, CommandError> {
    let Some(settings) = super::settings::external_settings(file)? else {
        println!("other lists: none configured ([external.\"…\"] in ward.toml)");
        return Ok(false);
    };
    let Some(subject) = crate::external::subject_of(query) else {
        println!(
            "other lists: not asked about `{query}` (not an address, domain or email address)"
        );
        return Ok(false);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Runtime)?;
    let results = runtime.block_on(async {
        let lists = Arc::new(ExternalLists::new(&settings)?);
        Ok::<_, CommandError>(lists.check(&subject).await)
    })?;
    println!("other lists:");
    if results.is_empty() {
        println!("  none of them lists this kind of name");
    }
    for result in &results {
        let answer = match result.status {
            "listed" => {
                let codes: Vec<String> = result
                    .codes
                    .iter()
                    .zip(&result.meanings)
                    .map(|(code, meaning)| format!("{code} ({meaning})"))
                    .collect();
                format!("listed: {}", codes.join(", "))
            }
            "not listed" => "not listed".to_string(),
            _ => format!(
                "could not check: {}",
                result.detail.as_deref().unwrap_or("no answer")
            ),
        };
        println!("  {} ({}): {answer}", result.name, result.zone);
        if let Some(link) = result.link.as_ref().filter(|_| result.status == "listed") {
            println!("    {link}");
        }
    }
    Ok(results.iter().any(|r| r.status == "listed"))
}

/// `ward probe`: exit 0 when the server answers at all.
pub fn probe(args: &ProbeArgs) -> Result<ExitCode, CommandError> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => {
            let file = read_config(&args.zone)?;
            let scan = crate::load::scan(&zones_dir(&args.zone, &file))?;
            let zone = scan.zones.first().ok_or(CommandError::NothingToProbe)?;
            // The RFC 5782 test point every zone answers (unless switched off).
            format!("2.0.0.127.{}", zone.name)
        }
    };
    let wait = Duration::from_secs(args.timeout.max(1));
    match super::probe::probe(args.server, &name, &args.qtype, wait) {
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

/// `ward export`: one zone as a BIND zone file or as rbldnsd data.
pub fn export(args: &ExportArgs) -> Result<ExitCode, CommandError> {
    let file = read_config(&args.zones)?;
    let mut options = load_options(&args.zones, &file);
    options.for_export = true;
    let loader = Loader {
        dir: zones_dir(&args.zones, &file),
        options,
        lenient: lenient(&args.zones, &file),
    };
    let mut load = loader.load_all()?;
    if print_diagnostics(&load) > 0 && !loader.lenient {
        return Err(CommandError::ZoneErrors);
    }
    let snapshot = load.take_snapshot();
    let wanted =
        Name::parse(&args.zone).map_err(|_| CommandError::NotAZoneName(args.zone.clone()))?;
    let zone = snapshot
        .zone(&wanted)
        .ok_or_else(|| CommandError::NoSuchZone {
            zone: args.zone.clone(),
            dir: loader.dir.clone(),
        })?;
    let format = match args.format {
        ExportFormat::Bind => Format::Bind,
        ExportFormat::Rbldnsd => Format::Rbldnsd,
    };
    let now = unix_now();
    let write_to = |out: &mut dyn Write| -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(out);
        crate::records::text::write(zone, format, now, &mut out)?;
        out.flush()
    };
    let written = match &args.out {
        Some(path) => std::fs::File::create(path).and_then(|mut file| write_to(&mut file)),
        // A reader that stops early (`| head`) is not an error, as for any Unix tool.
        None => match write_to(&mut std::io::stdout().lock()) {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        },
    };
    written.map_err(|source| CommandError::Write {
        path: args.out.clone().unwrap_or_else(|| "standard output".into()),
        source,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `ward policy`: the Postfix policy service, until SIGTERM or SIGINT.
pub fn policy(args: &PolicyArgs) -> Result<ExitCode, CommandError> {
    let settings = PolicySettings {
        listen: args.listen,
        server: args.server,
        sender_zones: args.sender_zones.clone(),
        recipient_zones: args.recipient_zones.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CommandError::Runtime)?;
    runtime.block_on(serve_policy(settings, super::lifecycle::termination()))?;
    Ok(ExitCode::SUCCESS)
}

/// The editor the admin API uses, on the same files (and lock), and the state
/// directory it logs to.
fn editor(zone: &ZoneArgs, state: &StateArgs) -> Result<(Editor, PathBuf), CommandError> {
    let file = read_config(zone)?;
    let zones = zones_dir(zone, &file);
    let (state, _) = state_dir(state, &file, &zones);
    std::fs::create_dir_all(&state).map_err(|source| CommandError::StateDir {
        path: state.clone(),
        source,
    })?;
    Ok((
        Editor::new(&zones, &state, load_options(zone, &file)),
        state,
    ))
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

/// `ward add`: what `POST /api/v1/entries` does.
pub fn add(args: &AddArgs) -> Result<ExitCode, CommandError> {
    let (editor, _) = editor(&args.zone_args, &args.state)?;
    let added = editor.add(
        &NewEntry {
            zone: args.zone.clone(),
            key: args.key.clone(),
            reason: args.reason.clone(),
            expires: args.expires.clone(),
            ticket: args.ticket.clone(),
            by: Some(cli_user(&args.by)),
            force: args.force,
        },
        None,
    )?;
    let verb = if added.replaced { "replaced" } else { "added" };
    println!("{}: {verb} {}", added.file, added.entry.line);
    Ok(ExitCode::SUCCESS)
}

/// `ward remove`: what `DELETE /api/v1/entries` does.
pub fn remove(args: &RemoveArgs) -> Result<ExitCode, CommandError> {
    let (editor, _) = editor(&args.zone_args, &args.state)?;
    let by = cli_user(&args.by);
    let removed = editor.remove(Removal::of(&args.zone, &args.key, &by))?;
    for entry in removed {
        let expired = if entry.expired {
            " (it had expired)"
        } else {
            ""
        };
        println!(
            "zones/{}/api.zone: removed {}{expired}",
            entry.zone, entry.line
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ward requests`: list, accept or reject removal requests.
pub fn requests(args: &RequestsArgs) -> Result<ExitCode, CommandError> {
    let (editor, state) = editor(&args.zone_args, &args.state)?;
    let store = RequestStore::open(&state)?;
    match args.action.clone().unwrap_or(RequestsAction::List {
        show: StateFilter::Open,
    }) {
        RequestsAction::List { show } => list_requests(&store, show)?,
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
        RequestsAction::Fail2ban => {
            let listed: Vec<_> = editor
                .list(None, None)?
                .into_iter()
                .filter(|e| e.by.as_deref() == Some("fail2ban"))
                .collect();
            if listed.is_empty() {
                println!("fail2ban has listed nothing that is still in api.zone");
            }
            for entry in listed {
                let until = match (&entry.expires, entry.expired) {
                    (Some(at), false) => format!("until {at}"),
                    (Some(at), true) => format!("expired {at}"),
                    (None, _) => "until removed".to_string(),
                };
                println!(
                    "{} in {} ({}) {until}, added {}, {}",
                    entry.key,
                    entry.zone,
                    entry.reason.as_deref().unwrap_or("-"),
                    entry.added.as_deref().unwrap_or("-"),
                    entry.ticket.as_deref().unwrap_or("-")
                );
            }
        }
        RequestsAction::SelfRemovals => {
            let removals = store.self_removals(10_000)?;
            if removals.is_empty() {
                println!("nothing was removed by its owner");
            }
            for r in removals {
                let contact = if r.contact.is_empty() {
                    String::new()
                } else {
                    format!(" <{}>", r.contact)
                };
                println!(
                    "{} {} in {} ({}) removed by its owner from {}{contact}",
                    crate::time::format_rfc3339(r.removed),
                    r.what,
                    r.zone,
                    r.reason,
                    r.client_ip
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

fn list_requests(store: &RequestStore, show: StateFilter) -> Result<(), CommandError> {
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
    Ok(())
}

/// The man pages' manual and section: ward is a daemon, in /usr/sbin.
const MAN_SECTION: &str = "8";
const MAN_MANUAL: &str = "System Administration";

/// `ward manpages DIR`: the man pages, made from the command line's own help (so they
/// say what `--help` says): `ward.8` with the files of the Debian package, and a page
/// for every command (`ward-serve.8`, `ward-requests-accept.8`, …).
pub fn manpages(args: &ManpagesArgs) -> Result<ExitCode, CommandError> {
    use clap::CommandFactory;
    let mut top = Cli::command()
        .disable_help_subcommand(true)
        .mut_subcommands(|command| command.disable_help_subcommand(true));
    top.build();
    // The date of the source (reproducible builds' SOURCE_DATE_EPOCH), or today.
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(unix_now);
    let date: String = format_rfc3339(seconds).chars().take(10).collect();
    let man = |command: clap::Command| {
        let title = command
            .get_display_name()
            .unwrap_or(command.get_name())
            .to_uppercase();
        clap_mangen::Man::new(command)
            .title(title)
            .section(MAN_SECTION)
            .date(date.clone())
            .manual(MAN_MANUAL)
            .source(format!("ward {}", env!("CARGO_PKG_VERSION")))
    };
    let mut pages = vec![man(top.clone())];
    // Every command below, depth first (clap's tree of commands is finite).
    let mut below: Vec<clap::Command> = top.get_subcommands().cloned().collect();
    while let Some(command) = below.pop() {
        if !command.is_hide_set() {
            below.extend(command.get_subcommands().cloned());
            pages.push(man(command));
        }
    }
    for (index, page) in pages.iter().enumerate() {
        let path = args.dir.join(page.get_filename());
        let mut text = Vec::new();
        let rendered = if index == 0 {
            top_page(page, &mut text)
        } else {
            page.render(&mut text)
        };
        rendered
            .and_then(|()| std::fs::write(&path, &text))
            .map_err(|source| CommandError::Write {
                path: path.clone(),
                source,
            })?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// ward.8: clap's name, synopsis, options and list of commands, with a description and
/// the files of the Debian package.
fn top_page(man: &clap_mangen::Man, out: &mut dyn Write) -> std::io::Result<()> {
    use clap_mangen::roff::{Roff, bold, italic, roman};
    let mut description = Roff::new();
    description
        .control("SH", ["DESCRIPTION"])
        .text([roman(
            "ward answers DNS queries for mail reputation lists (DNSBLs of IP addresses, \
             RHSBLs of domains, lists of email addresses, plain or hashed) from a zones \
             directory: one file or directory per zone, in ward's format or rbldnsd's data \
             files unchanged. It reloads changed files by itself, serves UDP and TCP, \
             transfers zones to secondaries, and can serve a lookup page (--http) and an \
             admin API (--admin).",
        )])
        .control("PP", [] as [&str; 0])
        .text([
            bold("ward serve"),
            roman(" is the default command. Every setting has a flag and a key in "),
            italic("ward.toml"),
            roman(" (given with --config, or found beside the zones directory); flags win."),
        ]);
    let mut files = Roff::new();
    files.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/ward/ward.toml",
            "The Debian package's settings: ward.service runs \"ward serve --config \
             /etc/ward/ward.toml\" as the user ward.",
        ),
        (
            "/etc/ward/zones/",
            "The zones directory: reasons.conf and one file or directory per zone. The \
             admin API writes <zone>/api.zone in the zone directories the group ward may \
             write.",
        ),
        (
            "/etc/ward/admin.token",
            "The admin API's bearer token, made on install, readable by root and the group \
             ward.",
        ),
        (
            "/var/lib/ward/",
            "The state: removal requests (requests.sqlite3), the audit log (audit.log) and \
             the serials kept across restarts.",
        ),
        (
            "/usr/share/doc/ward/",
            "README.md and docs/: installing, configuration, operations, the web page and \
             API, secondaries, moving from rbldnsd.",
        ),
    ] {
        files
            .control("TP", [] as [&str; 0])
            .text([italic(path)])
            .text([roman(what)]);
    }
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    description.to_writer(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    files.to_writer(out)?;
    man.render_version_section(out)
}
