//! `ward rbldnsd`'s command line: rbldnsd's options and zone specs
//! (`zone:type:file[,file…]`), read as rbldnsd reads them with getopt — flags bundled
//! (`-nq`), an option's argument attached or apart (`-b127.0.0.2`, `-b 127.0.0.2`),
//! options and zone specs in any order, `--` ending the options. Options ward does not
//! take are refused here, each by name with the reason; what the others become is
//! `app::settings`' business.

use std::path::PathBuf;

use crate::zone::DatasetKind;

/// rbldnsd's options, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RbldnsdOptions {
    /// `-h`, or no arguments at all (then the exit status is 1, as rbldnsd's).
    pub help: Option<HelpExit>,
    /// `-b address[/port]`, as written, in order.
    pub bind: Vec<String>,
    /// `-4` / `-6`: resolve `-b` hosts to this family only (the last one given wins).
    pub family: Option<Family>,
    /// `-n`: stay in the foreground.
    pub foreground: bool,
    /// `-f`: fork a child to answer while reloading.
    pub fork_on_reload: bool,
    /// `-u user[:group]`.
    pub user: Option<String>,
    /// `-r rootdir`: chroot there.
    pub root: Option<PathBuf>,
    /// `-w workdir`: chdir there (after the chroot).
    pub workdir: Option<PathBuf>,
    /// `-t def[:min[:max]]`.
    pub ttl: Option<TtlBounds>,
    /// `-c time`: check the data files this often, in seconds (0: never).
    pub check: Option<u32>,
    /// `-e`: accept CIDRs with host bits set.
    pub accept_host_bits: bool,
    /// `-q`: start even when zones fail to load.
    pub quick: bool,
    /// `-l [+]file`: log every query there.
    pub query_log: Option<OutputFile>,
    /// `-s [+]file`: append a statistics line every `-c`.
    pub stats: Option<OutputFile>,
    pub zones: Vec<ZoneSpec>,
}

/// How `-h` ends: 0 when asked for, 1 when ward was given nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpExit {
    Asked,
    NoArguments,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// `-t def:min:max`: the default TTL, and bounds for every TTL (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlBounds {
    pub default: Option<u32>,
    pub min: Option<u32>,
    pub max: Option<u32>,
}

/// `-l` and `-s`: a file (`-` is standard output for `-l`), and `+`'s meaning: `-l`
/// unbuffered, `-s` counts since the last line instead of since the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: PathBuf,
    pub plus: bool,
}

/// One `zone:type:file[,file…]`; an empty zone is every zone (`acl`, `aclkey` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSpec {
    pub zone: String,
    pub kind: DatasetKind,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RbldnsdArgError {
    #[error("invalid option -- '{0}'\ntype `ward rbldnsd -h' for help")]
    Unknown(char),
    #[error("option requires an argument -- '{0}'\ntype `ward rbldnsd -h' for help")]
    MissingArgument(char),
    #[error("-{option}: {reason}")]
    Refused { option: char, reason: &'static str },
    #[error("-{option} {value}: {problem}")]
    Value {
        option: char,
        value: String,
        problem: String,
    },
    #[error("no zone(s) to service specified (-h for help)")]
    NoZones,
    #[error("no address to listen on (-b option) specified")]
    NoAddress,
    #[error("zone spec `{spec}': {problem}")]
    ZoneSpec { spec: String, problem: String },
}

/// rbldnsd's options ward refuses, and why (what to do instead).
const REFUSED: &[(char, &str)] = &[
    (
        'p',
        "ward keeps no pid file: it stays in the foreground, for a service manager to track (systemd's MainPID, or start-stop-daemon --background --make-pidfile)",
    ),
    (
        'v',
        "ward never tells its version: version.bind and version.server queries (class CH) are refused; remove -v",
    ),
    (
        'a',
        "ward never adds NS records to the authority section of positive answers (-a's minimal answers are ward's only way); remove -a",
    ),
    (
        'A',
        "ward never adds NS records to the authority section of positive answers; remove -A",
    ),
    (
        'F',
        "ward logs to standard error (the journal under systemd), not to syslog; remove -F",
    ),
    (
        'C',
        "ward always reads gzip data files transparently; remove -C",
    ),
    (
        'd',
        "ward does not dump zones from rbldnsd's command line: put the files in a zones directory and run `ward export --format bind`",
    ),
    (
        'D',
        "ward does not dry-run from rbldnsd's command line: put the files in a zones directory and run `ward check`",
    ),
    ('x', "ward loads no extension modules"),
    ('X', "ward loads no extension modules"),
    (
        'U',
        "ward takes no dynamic updates: change the data files, which ward reloads",
    ),
];

/// The options that take an argument, as in rbldnsd's getopt string.
const WITH_ARGUMENT: &str = "urbwtcplsFxXU";
/// The options that take none.
const FLAGS: &str = "nehq46dvaAfCD";

/// The zone types ward reads from rbldnsd's command line: rbldnsd's and the fork's.
const TYPES: &[&str] = &[
    "ip4set", "ip4tset", "ip4trie", "ip6tset", "ip6trie", "dnset", "dnhash", "combined", "generic",
    "acl", "aclkey",
];

impl RbldnsdOptions {
    /// Reads rbldnsd's arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<RbldnsdOptions, RbldnsdArgError> {
        let mut options = RbldnsdOptions::default();
        if args.is_empty() {
            options.help = Some(HelpExit::NoArguments);
            return Ok(options);
        }
        let mut positional = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            if arg == "--" {
                positional.extend(args[i..].iter().cloned());
                break;
            }
            let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) else {
                positional.push(arg.clone());
                continue;
            };
            for (at, option) in letters.char_indices() {
                if WITH_ARGUMENT.contains(option) {
                    let rest = &letters[at + option.len_utf8()..];
                    let value = if !rest.is_empty() {
                        rest.to_string()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(RbldnsdArgError::MissingArgument(option));
                    };
                    options.take(option, value)?;
                    break;
                }
                if FLAGS.contains(option) {
                    options.flag(option)?;
                } else {
                    return Err(RbldnsdArgError::Unknown(option));
                }
            }
        }
        if options.help.is_some() {
            return Ok(options);
        }
        for spec in &positional {
            options.zones.push(zone_spec(spec)?);
        }
        if options.zones.is_empty() {
            return Err(RbldnsdArgError::NoZones);
        }
        if options.bind.is_empty() {
            return Err(RbldnsdArgError::NoAddress);
        }
        Ok(options)
    }

    fn flag(&mut self, option: char) -> Result<(), RbldnsdArgError> {
        match option {
            'n' => self.foreground = true,
            'e' => self.accept_host_bits = true,
            'h' => self.help = Some(HelpExit::Asked),
            'q' => self.quick = true,
            'f' => self.fork_on_reload = true,
            '4' => self.family = Some(Family::V4),
            '6' => self.family = Some(Family::V6),
            _ => return Err(refused(option)),
        }
        Ok(())
    }

    fn take(&mut self, option: char, value: String) -> Result<(), RbldnsdArgError> {
        let bad = |problem: &str| RbldnsdArgError::Value {
            option,
            value: value.clone(),
            problem: problem.to_string(),
        };
        match option {
            'b' => {
                if value.is_empty() {
                    return Err(bad("expected an address[/port]"));
                }
                self.bind.push(value);
            }
            'u' => {
                if value.is_empty() {
                    return Err(bad("expected a user[:group]"));
                }
                self.user = Some(value);
            }
            'r' => self.root = Some(PathBuf::from(value)),
            'w' => self.workdir = Some(PathBuf::from(value)),
            't' => self.ttl = Some(ttl_bounds(&value).map_err(|p| bad(&p))?),
            'c' => {
                self.check = Some(time(&value).ok_or_else(|| {
                    bad("expected a time: seconds, or a number and s, m, h, d or w")
                })?);
            }
            'l' => self.query_log = output_file(&value),
            's' => self.stats = output_file(&value),
            _ => return Err(refused(option)),
        }
        Ok(())
    }
}

fn refused(option: char) -> RbldnsdArgError {
    let reason = REFUSED
        .iter()
        .find(|(o, _)| *o == option)
        .map_or("not supported by ward", |(_, reason)| *reason);
    RbldnsdArgError::Refused { option, reason }
}

/// `[+]file`; an empty name is no file.
fn output_file(value: &str) -> Option<OutputFile> {
    let (plus, path) = match value.strip_prefix('+') {
        Some(path) => (true, path),
        None => (false, value),
    };
    (!path.is_empty()).then(|| OutputFile {
        path: PathBuf::from(path),
        plus,
    })
}

/// An rbldnsd time: decimal seconds, optionally with a unit s, m, h, d or w (any case).
pub fn time(text: &str) -> Option<u32> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let value: u64 = text[..digits].parse().ok()?;
    let unit = match text[digits..].to_ascii_lowercase().as_str() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    u32::try_from(value.checked_mul(unit)?).ok()
}

/// `def[:min[:max]]`, any part empty.
fn ttl_bounds(text: &str) -> Result<TtlBounds, String> {
    let mut parts = text.split(':');
    let mut next = |what: &str| -> Result<Option<u32>, String> {
        match parts.next() {
            None | Some("") => Ok(None),
            Some(part) => time(part)
                .map(Some)
                .ok_or_else(|| format!("expected the {what} TTL as a time (35m, 2100)")),
        }
    };
    let bounds = TtlBounds {
        default: next("default")?,
        min: next("minimum")?,
        max: next("maximum")?,
    };
    if parts.next().is_some() {
        return Err("expected def[:min[:max]]".to_string());
    }
    if bounds.default == Some(0) {
        return Err("the default TTL cannot be 0".to_string());
    }
    if let (Some(min), Some(max)) = (bounds.min, bounds.max)
        && min > max
    {
        return Err("the minimum TTL is above the maximum".to_string());
    }
    let default = bounds.default.unwrap_or(2100);
    if bounds.min.is_some_and(|min| default < min) || bounds.max.is_some_and(|max| default > max) {
        return Err("the default TTL is outside the minimum and maximum".to_string());
    }
    Ok(bounds)
}

/// `zone:type:file[,file…]` (files split at `,` or `:`).
fn zone_spec(spec: &str) -> Result<ZoneSpec, RbldnsdArgError> {
    let problem = |problem: String| RbldnsdArgError::ZoneSpec {
        spec: spec.to_string(),
        problem,
    };
    let (zone, rest) = spec
        .split_once(':')
        .ok_or_else(|| problem("expected zone:type:file".to_string()))?;
    let (type_name, files) = rest
        .split_once(':')
        .ok_or_else(|| problem("missing filenames (expected zone:type:file)".to_string()))?;
    if !TYPES.contains(&type_name) {
        return Err(problem(format!(
            "unknown dataset type `{type_name}' (expected one of {})",
            TYPES.join(", ")
        )));
    }
    let kind = DatasetKind::from_name(type_name)
        .ok_or_else(|| problem(format!("unknown dataset type `{type_name}'")))?;
    let files: Vec<PathBuf> = files
        .split([',', ':'])
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        return Err(problem("missing filenames".to_string()));
    }
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    if zone.is_empty() && !matches!(kind, DatasetKind::Acl | DatasetKind::Aclkey) {
        return Err(problem(
            "an empty zone name (every zone) is only for acl and aclkey".to_string(),
        ));
    }
    Ok(ZoneSpec { zone, kind, files })
}

/// `ward rbldnsd -h`: the options, as rbldnsd's own usage lists them. Every line of an
/// option starts with a blank and the option (the rspamd fork's test suite looks for
/// ` -6` to know IPv6 is there).
pub const USAGE: &str = "ward rbldnsd: rbldnsd's command line, served by ward
Usage is: ward rbldnsd options zonespec...
where options are:
 -b address[/port] - listen on this address, UDP and TCP (required; repeat for
  several; port 53 unless given; a host name means each of its addresses, and
  localhost means 127.0.0.1 and ::1)
 -4 - use IPv4 addresses only for -b host names
 -6 - use IPv6 addresses only for -b host names
 -n - stay in the foreground (ward always does)
 -u user[:group] - run as this user (and group) once the sockets are bound
  (rbldns when started as root and that user exists)
 -r rootdir - chroot to this directory
 -w workdir - working directory with zone files
 -t defttl[:minttl[:maxttl]] - default TTL of answers (35m), and bounds for
  every TTL
 -c check - how often to check the data files for changes (1m; 0 = never;
  SIGHUP reloads at once)
 -e - accept CIDR ranges whose address is not on the prefix boundary
  (10.1.2.3/16 is taken as 10.1.0.0/16)
 -q - quickstart: start even when some zone fails to load
 -f - answer during reloads (ward always does)
 -l [+]logfile - log every query to this file (- for standard output,
  + for unbuffered); access keys are never logged
 -s [+]statsfile - append a statistics line every check (-c) seconds
  (+ for counts since the previous line)
 -h - print this and exit
Options ward refuses, with the reason: -p -v -a -A -F -C -d -D -x -X -U
Each zone is given as zone:type:file,file... and a repeated zone name adds
its files to the same zone; an empty zone name with acl or aclkey applies
to every zone. Data files are read as rbldnsd reads them: a bad line is
skipped with a warning naming file:line.
Dataset types:
 ip4set - IPv4 addresses and ranges, the most specific of /32 /24 /16 /8
 ip4tset - IPv4 addresses, trivial
 ip4trie - IPv4 prefixes, longest match, per-entry parameters (@ ...)
 ip6tset - IPv6 /64 prefixes and excluded addresses, trivial
 ip6trie - IPv6 prefixes, longest match, per-entry parameters (@ ...)
 dnset - domain names and wildcards
 dnhash - domain names and wildcards, per-entry parameters (@ ...)
 combined - several datasets and subzones in one file
 generic - plain A, TXT and MX records
 acl - what each client network gets
 aclkey - access keys: what the queries naming each key get
";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<RbldnsdOptions, RbldnsdArgError> {
        RbldnsdOptions::parse(&args.iter().map(ToString::to_string).collect::<Vec<_>>())
    }

    #[test]
    fn options_as_getopt_reads_them() {
        let options = parse(&[
            "-b",
            "localhost/53000",
            "-nq",
            "-b127.0.0.2",
            "bl.example:ip4set:/data/a,/data/b",
            "-t",
            "1h:5m:2h",
            "-c0",
            "bl.example:dnhash:c:d",
            "-e4",
            "--",
            "-odd:acl:x",
        ])
        .unwrap();
        assert_eq!(options.bind, ["localhost/53000", "127.0.0.2"]);
        assert!(options.foreground && options.quick && options.accept_host_bits);
        assert_eq!(options.family, Some(Family::V4));
        assert_eq!(options.check, Some(0));
        assert_eq!(
            options.ttl,
            Some(TtlBounds {
                default: Some(3600),
                min: Some(300),
                max: Some(7200)
            })
        );
        assert_eq!(options.zones.len(), 3);
        assert_eq!(
            options.zones[0].files,
            [PathBuf::from("/data/a"), PathBuf::from("/data/b")]
        );
        assert_eq!(options.zones[1].kind, DatasetKind::Dnhash);
        assert_eq!(options.zones[1].files.len(), 2, "`:` separates files too");
        assert_eq!(options.zones[2].zone, "-odd");
    }

    #[test]
    fn help_and_errors_as_rbldnsd_says_them() {
        assert_eq!(parse(&[]).unwrap().help, Some(HelpExit::NoArguments));
        assert_eq!(parse(&["-h"]).unwrap().help, Some(HelpExit::Asked));
        assert_eq!(parse(&["-Z"]), Err(RbldnsdArgError::Unknown('Z')));
        assert_eq!(parse(&["-b"]), Err(RbldnsdArgError::MissingArgument('b')));
        assert_eq!(parse(&["-b", "::1/53"]), Err(RbldnsdArgError::NoZones));
        assert_eq!(parse(&["z:ip4set:f"]), Err(RbldnsdArgError::NoAddress));
        for option in [
            "-p", "-v", "-a", "-A", "-F", "-C", "-d", "-D", "-x", "-X", "-U",
        ] {
            let error = parse(&[option, "x", "-b", "::1", "z:ip4set:f"]).unwrap_err();
            assert!(
                matches!(error, RbldnsdArgError::Refused { .. }),
                "{option}: {error}"
            );
        }
        let spec = |s: &str| parse(&["-b", "::1", s]).unwrap_err().to_string();
        assert!(spec("z:ip4sets:f").contains("unknown dataset type `ip4sets'"));
        assert!(spec("z:ip4set:").contains("missing filenames"));
        assert!(spec(":ip4set:f").contains("only for acl and aclkey"));
        assert!(parse(&["-b", "::1", ":aclkey:keys", "z:ip4set:f"]).is_ok());
        let ttl = |t: &str| parse(&["-t", t, "-b", "::1", "z:ip4set:f"]);
        assert!(ttl("0").is_err());
        assert!(ttl("1h:2h").is_err(), "default below the minimum");
        assert!(ttl("::2h").is_ok(), "parts may be empty");
        assert!(
            ttl("::2m").is_err(),
            "the default 35m above the maximum, as rbldnsd says"
        );
        assert!(ttl("1h30m").is_err());
    }

    #[test]
    fn the_usage_is_safe_to_paste_into_python() {
        // The fork's suite pastes the usage into `"""…"""` and looks for "\n -6".
        assert!(USAGE.contains("\n -6 "));
        assert!(!USAGE.contains('\\') && !USAGE.contains("\"\"\""));
    }
}
