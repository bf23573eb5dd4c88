//! Records the commit the binary is built from, for `s3core_build_info` (the metrics) and
//! `--version`: `S3CORE_COMMIT` when set (packagers building from a tarball), otherwise
//! `git rev-parse --short HEAD`, otherwise `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=S3CORE_COMMIT");
    let commit = std::env::var("S3CORE_COMMIT")
        .ok()
        .filter(|commit| !commit.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    // Rebuild when HEAD moves (a worktree's HEAD lives outside `.git/`, so ask git where).
    // A path that does not exist would make cargo rerun this script (and rebuild) every time.
    let watch = |path: Option<String>| {
        if let Some(path) = path.filter(|path| std::path::Path::new(path).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    };
    watch(git(&["rev-parse", "--git-path", "HEAD"]));
    watch(git(&["rev-parse", "--git-path", "packed-refs"]));
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &reference]));
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=S3CORE_COMMIT={commit}");
}
