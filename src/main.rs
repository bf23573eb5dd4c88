//! The `s3core` binary: flags → Config → server::run. Nothing else lives here.

use clap::Parser;

fn main() {
    let args = s3core::config::Args::parse();
    let config = match s3core::config::Config::from_args(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("s3core: {message}");
            std::process::exit(2);
        }
    };
    env_logger::Builder::new().filter_level(config.log_level).format_timestamp_millis().init();
    if let Err(error) = s3core::server::run(config) {
        log::error!("{error}");
        eprintln!("s3core: {error}");
        std::process::exit(1);
    }
}
