//! Probes the build machine for what some tests need, so that a test which cannot run here is
//! reported ignored, with the reason, instead of passing without checking anything:
//!
//! - `s3core_host_avx512f`: the CPU has AVX-512F (the 16-lane MD5 kernel, `hash::md5_kernel`);
//! - `s3core_host_cachestat`: the kernel answers `cachestat(2)` (Linux 6.5+, not filtered), which
//!   the sendfile path needs to find cached ranges (`server::zero_copy`);
//! - `s3core_host_io_uring`: the kernel sets up an io_uring (monoio's default driver).
//!
//! Honest where the tests run on the machine that built them, as in CI and `./test.sh`. Nothing
//! is set when cross-compiling. Tests using these also check the capability when they run, so
//! a binary moved to a machine without it fails loudly (rebuild there: `cargo clean -p s3core`).
//! The script reruns when this file changes or HEAD moves (the commit below).
//!
//! Records the commit the binary is built from, for `s3core_build_info` (the metrics) and
//! `--version`: `S3CORE_COMMIT` when set (packagers building from a tarball), otherwise
//! `git rev-parse --short HEAD`, otherwise `unknown`.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    record_commit();
    for name in ["s3core_host_avx512f", "s3core_host_cachestat", "s3core_host_io_uring"] {
        println!("cargo::rustc-check-cfg=cfg({name})");
    }
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    if !native {
        println!("cargo::warning=cross-compiling: tests that need AVX-512F, cachestat or io_uring are ignored");
        return;
    }
    let probes = [
        ("s3core_host_avx512f", host_has_avx512f()),
        ("s3core_host_cachestat", host_has_cachestat()),
        ("s3core_host_io_uring", host_has_io_uring()),
    ];
    for (name, present) in probes {
        if present {
            println!("cargo::rustc-cfg={name}");
        }
    }
}

fn host_has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `cachestat(2)` on a small file of the build directory answers.
#[cfg(target_os = "linux")]
fn host_has_cachestat() -> bool {
    use std::os::fd::AsRawFd;
    /// The syscall's number, the same on every Linux architecture.
    const SYS_CACHESTAT: libc::c_long = 451;
    let Some(directory) = std::env::var_os("OUT_DIR") else { return false };
    let path = std::path::Path::new(&directory).join("cachestat-probe");
    if std::fs::write(&path, [0u8; 4096]).is_err() {
        return false;
    }
    let Ok(file) = std::fs::File::open(&path) else { return false };
    let range = [0u64, 4096]; // struct cachestat_range { off, len }
    let mut stat = [0u64; 5]; // struct cachestat: five counters
                              // SAFETY: both pointers refer to live arrays laid out as the kernel's structs for the whole
                              // call; the descriptor is open.
    let result = unsafe { libc::syscall(SYS_CACHESTAT, file.as_raw_fd(), range.as_ptr(), stat.as_mut_ptr(), 0) };
    result == 0
}

#[cfg(not(target_os = "linux"))]
fn host_has_cachestat() -> bool {
    false
}

/// `io_uring_setup(2)` gives a ring (not disabled by `kernel.io_uring_disabled` or seccomp).
#[cfg(target_os = "linux")]
fn host_has_io_uring() -> bool {
    // struct io_uring_params is 120 bytes; zeroed asks for defaults.
    let mut params = [0u8; 120];
    // SAFETY: `params` is a live, writable buffer of the struct's size for the whole call.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd < 0 {
        return false;
    }
    // SAFETY: closes the descriptor the call above returned, once.
    unsafe { libc::close(fd as libc::c_int) };
    true
}

#[cfg(not(target_os = "linux"))]
fn host_has_io_uring() -> bool {
    false
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// Records the commit (see the module comment).
fn record_commit() {
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
