//! The `s3core` binary: flags, environment and config file → Config → server::run. Nothing
//! else lives here.

fn main() {
    let loaded = match s3core::config::load(std::env::args_os()) {
        Ok(loaded) => loaded,
        Err(s3core::config::LoadError::Clap(error)) => error.exit(),
        Err(s3core::config::LoadError::Invalid(message)) => {
            eprintln!("s3core: {message}");
            std::process::exit(2);
        }
    };
    if let Some(printed) = loaded.printed {
        print!("{printed}");
        return;
    }
    let config = loaded.config;
    s3core::server::init_logging(config.log_level, config.log_format);
    if let Err(error) = s3core::server::run(config) {
        log::error!("{error}");
        eprintln!("s3core: {error}");
        std::process::exit(1);
    }
}
