//! s3core-bench: a closed-loop load generator for S3-compatible endpoints.
//!
//! One OS thread per keep-alive connection, blocking `std::net` sockets, hand-written HTTP/1.1,
//! latency in `hdrhistogram`. Module map, in the order a request flows:
//! `config` (flags → Config) → `run` (bucket, preload, phases) → `engine` (threads, timing,
//! progress) → `workload` (which request next, is its response right) → `client` (path-style
//! URL, SigV4 via `sigv4`) → `http` (request head writer, response parser) → `report`.

mod client;
mod config;
mod engine;
mod http;
mod phase;
mod report;
mod run;
mod sigv4;
mod workload;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = config::Args::parse();
    let config = match config::Config::from_args(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("s3core-bench: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &config.prepare_dir {
        return match run::prepare_dir(&config, dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("s3core-bench: writing {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    if run::run(&config) {
        ExitCode::SUCCESS
    } else {
        eprintln!("s3core-bench: at least one phase had errors");
        ExitCode::FAILURE
    }
}
