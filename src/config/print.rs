//! `--print-config`: the effective configuration as a TOML file that `--config` accepts, each
//! setting with where it came from; secrets redacted.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};

use super::layers::source;
use super::Config;

/// Settings whose values are never printed.
const SECRETS: &[&str] = &["secret_key", "metrics_token"];
const NOT_PRINTED: &[&str] = &["help", "version", "config", "print_config"];

pub(super) fn effective(
    command: &Command,
    matches: &ArgMatches,
    from_file: &BTreeSet<String>,
    file: Option<&Path>,
    config: &Config,
) -> String {
    let mut out = String::from(
        "# s3core effective configuration: flag > environment (S3CORE_*) > file (--config) > default.\n\
         # Usable as a --config file (secrets are shown as \"<redacted>\").\n",
    );
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_PRINTED.contains(&id) {
            continue;
        }
        let origin = source(id, matches, from_file, file);
        // Test knobs appear only when someone set them.
        let defaulted = matches!(matches.value_source(id), Some(ValueSource::DefaultValue) | None);
        if arg.is_hide_set() && defaulted && !from_file.contains(id) {
            continue;
        }
        let value = match (id, arg.get_action()) {
            (_, ArgAction::SetTrue) => Some(matches.get_flag(id).to_string()),
            // Settings whose default is computed: show what it resolved to.
            ("cores", _) => Some(config.cores.to_string()),
            ("admin_listen", _) => {
                Some(toml_string(&config.admin_listen.map(|address| address.to_string()).unwrap_or_default()))
            }
            (_, action) => {
                let values: Vec<String> = matches
                    .get_raw(id)
                    .map(|raw| raw.map(|value| value.to_string_lossy().into_owned()).collect())
                    .unwrap_or_default();
                if values.is_empty() && !matches!(action, ArgAction::Append) {
                    None
                } else if SECRETS.contains(&id) {
                    Some(toml_string("<redacted>"))
                } else if matches!(action, ArgAction::Append) {
                    Some(format!("[{}]", values.iter().map(|value| toml_string(value)).collect::<Vec<_>>().join(", ")))
                } else {
                    Some(scalar(&values[0]))
                }
            }
        };
        match value {
            Some(value) => {
                let _ = writeln!(out, "{id} = {value}  # {origin}");
            }
            None => {
                let _ = writeln!(out, "# {id} is not set");
            }
        }
    }
    out
}

/// A number stays a number; anything else is a TOML string.
fn scalar(value: &str) -> String {
    if value.parse::<u64>().is_ok_and(|number| number.to_string() == value) {
        value.to_string()
    } else {
        toml_string(value)
    }
}

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}
