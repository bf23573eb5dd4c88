//! Configuration layers: flag > environment > file > default, `--print-config`, and every
//! validation error stopping the start with a message that names the setting.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{exchange, Launch};
use crate::support::server_binary;

/// Runs the binary with exactly `args` and `env` (no other S3CORE_ variable) until it exits:
/// (exit code, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = Command::new(server_binary());
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("S3CORE_") {
            command.env_remove(&name);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("spawn s3core");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("s3core {args:?} {env:?} kept running: it should have exited");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// The printed line of `key`.
fn printed(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find(|line| line.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{stdout}"))
        .to_string()
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn precedence_is_flag_then_environment_then_file_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir.path().join("s3core.toml"),
        "path_prefix = \"/file\"\nshutdown_grace_ms = 1234\nlog_level = \"warn\"\nsecret_key = \"file-secret\"\naccess_key = \"AK\"\n",
    );
    let env = [("S3CORE_PATH_PREFIX", "/env"), ("S3CORE_LOG_LEVEL", "debug"), ("S3CORE_METRICS_TOKEN", "env-token")];
    let (code, stdout, stderr) = run(&["--config", &file, "--print-config", "--log-level", "error"], &env);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(printed(&stdout, "log_level"), "log_level = \"error\"  # flag");
    assert_eq!(printed(&stdout, "path_prefix"), "path_prefix = \"/env\"  # environment");
    assert_eq!(printed(&stdout, "shutdown_grace_ms"), format!("shutdown_grace_ms = 1234  # file {file}"));
    assert_eq!(printed(&stdout, "multipart_min_part_bytes"), "multipart_min_part_bytes = 1048576  # default");
    assert!(stdout.contains("secret_key = \"<redacted>\""), "{stdout}");
    assert!(stdout.contains("metrics_token = \"<redacted>\"  # environment"), "{stdout}");
    assert!(!stdout.contains("file-secret") && !stdout.contains("env-token"), "a secret was printed:\n{stdout}");
    // One layer less each time.
    let (_, stdout, _) = run(&["--config", &file, "--print-config"], &env);
    assert_eq!(printed(&stdout, "log_level"), "log_level = \"debug\"  # environment");
    let (_, stdout, _) = run(&["--config", &file, "--print-config"], &[]);
    assert_eq!(printed(&stdout, "log_level"), format!("log_level = \"warn\"  # file {file}"));
    assert_eq!(printed(&stdout, "path_prefix"), format!("path_prefix = \"/file\"  # file {file}"));
    let (_, stdout, _) = run(&["--print-config"], &[("S3CORE_CONFIG", &file)]);
    assert_eq!(printed(&stdout, "path_prefix"), format!("path_prefix = \"/file\"  # file {file}"), "S3CORE_CONFIG");
    let (_, stdout, _) = run(&["--print-config"], &[]);
    assert_eq!(printed(&stdout, "log_level"), "log_level = \"info\"  # default");
    // What --print-config prints is a configuration file that gives the same configuration.
    let (_, first, _) = run(&["--print-config", "--cores", "3", "--path-prefix", "/again"], &[]);
    let reprinted = write(&dir.path().join("printed.toml"), &first);
    let (code, second, stderr) = run(&["--config", &reprinted, "--print-config"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(printed(&second, "cores"), format!("cores = 3  # file {reprinted}"));
    assert_eq!(printed(&second, "path_prefix"), format!("path_prefix = \"/again\"  # file {reprinted}"));
}

#[test]
fn a_server_runs_on_its_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir.path().join("s3core.toml"), "path_prefix = \"/from-file\"\naccess_log = \"off\"\n");
    let node = Launch::new(&dir.path().join("data")).args(&["--config", &file]).start();
    assert_eq!(exchange(node.s3(), "PUT", "/from-file/filed", b"").status, 200);
    let listing = exchange(node.s3(), "GET", "/from-file/", b"");
    assert!(String::from_utf8_lossy(&listing.body).contains("<Name>filed</Name>"), "{:?}", listing.body);
}

#[test]
fn every_invalid_setting_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let config = |name: &str, text: &str| write(&dir.path().join(name), text);
    let unknown = config("unknown.toml", "colour = \"blue\"\n");
    let wrong_type = config("type.toml", "cores = \"many\"\n");
    let table = config("table.toml", "[server]\ncores = 2\n");
    let list = config("list.toml", "path_prefix = [\"/a\", \"/b\"]\n");
    let switch = config("switch.toml", "skip_checksum_verification = \"yes\"\n");
    let syntax = config("syntax.toml", "cores = = 2\n");
    let zero_cores = config("zero.toml", "cores = 0\n");
    let missing = dir.path().join("missing.toml").to_string_lossy().into_owned();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--cores", "0"], &[], "--cores must be between 1 and"),
        (&["--cores", "5000"], &[], "--cores must be between 1 and"),
        (&["--cores", "two"], &[], "--cores"),
        (&[], &[("S3CORE_CORES", "0")], "(set by S3CORE_CORES)"),
        (&["--listen", "nowhere"], &[], "--listen"),
        (&["--path-prefix", "no-slash"], &[], "--path-prefix must start with /"),
        (&["--multipart-min-part-bytes", "99999999999"], &[], "--multipart-min-part-bytes cannot exceed"),
        (&["--access-key", "AK"], &[], "--secret-key"),
        (&["--access-key", "", "--secret-key", "x"], &[], "must not be empty"),
        (&["--credentials-file", "/no/such/credentials"], &[], "/no/such/credentials"),
        (&["--log-level", "loud"], &[], "--log-level"),
        (&["--log-format", "xml"], &[], "--log-format"),
        (&["--admin-listen", "nowhere"], &[], "--admin-listen must be an address"),
        (&["--listen", "127.0.0.1:39990", "--admin-listen", "127.0.0.1:39990"], &[], "is the S3 address"),
        (&["--metrics-token", ""], &[], "--metrics-token must not be empty"),
        (&["--access-log", "/no/such/dir/access.log"], &[], "--access-log /no/such/dir/access.log: directory"),
        (&["--shutdown-grace-ms", "7200000"], &[], "--shutdown-grace-ms must be at most"),
        (&["--shutdown-grace-ms=-1"], &[], "--shutdown-grace-ms"),
        (&["--inline-budget-bytes", "lots"], &[], "--inline-budget-bytes"),
        (&["--journal-checkpoint-bytes", "100"], &[], "--journal-checkpoint-bytes must be at least"),
        (&["--fault-injection", "journal-sync"], &[], "--fault-injection"),
        (&["--config", &unknown], &[], "unknown key `colour`"),
        (&["--config", &wrong_type], &[], "(set by `cores` in"),
        (&["--config", &table], &[], "unknown key `server`"),
        (&["--config", &list], &[], "`path_prefix` takes one value"),
        (&["--config", &switch], &[], "`skip_checksum_verification` must be true or false"),
        (&["--config", &syntax], &[], "is not valid TOML"),
        (&["--config", &zero_cores], &[], "--cores must be between 1 and 1024, not 0 (set by `cores` in"),
        (&["--config", &missing], &[], "cannot read the configuration file"),
        (&[], &[("S3CORE_CONFIG", &missing)], "cannot read the configuration file"),
    ];
    for (args, env, expected) in cases {
        let mut all = vec!["--data-dir", data, "--admin-listen", ""];
        if !args.contains(&"--listen") {
            all.extend(["--listen", "127.0.0.1:0"]);
        }
        if args.iter().any(|arg| arg.starts_with("--admin-listen")) {
            all.truncate(2);
        }
        all.extend(args.iter());
        let (code, _, stderr) = run(&all, env);
        assert_eq!(code, Some(2), "{args:?} {env:?} must fail to start with status 2; stderr:\n{stderr}");
        assert!(stderr.contains(expected), "{args:?} {env:?}: expected {expected:?} in:\n{stderr}");
    }
    assert!(!Path::new(data).exists(), "a refused configuration must not create the data directory");
}
