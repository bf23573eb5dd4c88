//! Where each setting comes from: a flag, else an environment variable (`S3CORE_*`), else the
//! TOML file named by `--config`, else the default. Clap already does flags, variables and
//! defaults; the file is merged in by adding, for each of its keys that no flag or variable
//! set (`ArgMatches::value_source`), the flag that key names, and parsing again, so a file
//! value goes through the same parser as the flag. Keys are the flag names with `_` for `-`
//! (`data_dir = "/var/lib/s3core"`); an unknown key, a table, or a value that does not parse
//! stops the start with a message naming the key and the file.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};

/// Settings that only make sense on the command line (or in the environment).
const NOT_IN_FILE: &[&str] = &["help", "version", "config", "print_config"];

/// The settable keys of `command`, for messages.
fn known_keys(command: &Command) -> Vec<&str> {
    command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .map(|arg| arg.get_id().as_str())
        .filter(|id| !NOT_IN_FILE.contains(id))
        .collect()
}

/// The flags that carry the file's values for the settings no flag or variable set; the keys
/// they came from are added to `from_file`.
pub(super) fn file_arguments(
    command: &Command,
    matches: &ArgMatches,
    path: &Path,
    from_file: &mut BTreeSet<String>,
) -> Result<Vec<OsString>, String> {
    let where_ = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read the configuration file {where_}: {error}"))?;
    let table: toml::Table =
        text.parse().map_err(|error| format!("the configuration file {where_} is not valid TOML: {error}"))?;
    let mut arguments = Vec::new();
    for (key, value) in &table {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_id().as_str() == key.as_str() && !NOT_IN_FILE.contains(&key.as_str()))
            .ok_or_else(|| format!("{where_}: unknown key `{key}` (known keys: {})", known_keys(command).join(", ")))?;
        let long = arg.get_long().ok_or_else(|| format!("{where_}: `{key}` cannot be set in a file"))?;
        let overridden = matches!(matches.value_source(key), Some(ValueSource::CommandLine | ValueSource::EnvVariable));
        let values = strings(value).map_err(|reason| format!("{where_}: `{key}` {reason}"))?;
        match arg.get_action() {
            ArgAction::SetTrue => {
                let toml::Value::Boolean(flag) = value else {
                    return Err(format!("{where_}: `{key}` must be true or false, not {value}"));
                };
                if !overridden && *flag {
                    arguments.push(OsString::from(format!("--{long}")));
                }
            }
            ArgAction::Append => {
                if !overridden {
                    arguments.extend(values.iter().map(|value| OsString::from(format!("--{long}={value}"))));
                }
            }
            _ => {
                let [value] = values.as_slice() else {
                    return Err(format!("{where_}: `{key}` takes one value, not a list"));
                };
                if !overridden {
                    arguments.push(OsString::from(format!("--{long}={value}")));
                }
            }
        }
        if !overridden {
            from_file.insert(key.clone());
        }
    }
    Ok(arguments)
}

/// A TOML value as the strings a flag would take.
fn strings(value: &toml::Value) -> Result<Vec<String>, String> {
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Float(number) => Ok(number.to_string()),
        toml::Value::Boolean(flag) => Ok(flag.to_string()),
        toml::Value::Datetime(_) | toml::Value::Table(_) | toml::Value::Array(_) => {
            Err(format!("must be a string, a number or a boolean, not {value}"))
        }
    };
    match value {
        toml::Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

/// Where the setting `id` came from, in words.
pub(super) fn source(id: &str, matches: &ArgMatches, from_file: &BTreeSet<String>, file: Option<&Path>) -> String {
    if from_file.contains(id) {
        return match file {
            Some(path) => format!("file {}", path.display()),
            None => "file".into(),
        };
    }
    match matches.value_source(id) {
        Some(ValueSource::CommandLine) => "flag".into(),
        Some(ValueSource::EnvVariable) => "environment".into(),
        Some(ValueSource::DefaultValue) | None => "default".into(),
        Some(_) => "other".into(),
    }
}

/// Adds to a validation message which setting made it and where it came from: the message
/// names a flag (`--cores`); the value may have come from a variable or the file.
pub(super) fn explain(
    message: &str,
    command: &Command,
    matches: &ArgMatches,
    from_file: &BTreeSet<String>,
    file: Option<&Path>,
) -> String {
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let flag = format!("--{long}");
        let named = message.match_indices(&flag).any(|(at, _)| {
            let after = message[at + flag.len()..].chars().next();
            !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if !named {
            continue;
        }
        let id = arg.get_id().as_str();
        if from_file.contains(id) {
            let path = file.map(|path| path.display().to_string()).unwrap_or_default();
            return format!("{message} (set by `{id}` in {path})");
        }
        if matches.value_source(id) == Some(ValueSource::EnvVariable) {
            if let Some(variable) = arg.get_env() {
                return format!("{message} (set by {})", variable.to_string_lossy());
            }
        }
        return message.to_string();
    }
    message.to_string()
}
