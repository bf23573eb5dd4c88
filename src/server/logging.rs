//! Log lines on standard error, with levels: `text` (`[2026-12-03T16:02:00.123Z INFO
//! s3core::server] message`) or `json` (one object per line: time, level, target, message),
//! for log shippers that parse fields rather than text.

use std::io::Write;

use serde::Serialize;

use crate::config::LogFormat;

#[derive(Serialize)]
struct JsonLine<'a> {
    time: &'a str,
    level: &'a str,
    target: &'a str,
    message: String,
}

/// Installs the process's logger (once, at start).
pub fn init_logging(level: log::LevelFilter, format: LogFormat) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level).format_timestamp_millis();
    if format == LogFormat::Json {
        builder.format(|out, record| {
            let time = crate::dates::iso8601(crate::dates::now_ms());
            let line = JsonLine {
                time: &time,
                level: record.level().as_str(),
                target: record.target(),
                message: record.args().to_string(),
            };
            serde_json::to_writer(&mut *out, &line)?;
            writeln!(out)
        });
    }
    builder.init();
}
