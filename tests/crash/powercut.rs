//! Power-cut simulation (root, loop devices, mkfs.ext4). The tests that use it are ignored by
//! default, with that reason; `cargo test --test crash -- --ignored` runs them, and test.sh
//! does so wherever the machine has what they need.
//!
//! The data dir lives on ext4 in a loop-mounted image file. Periodic writeback is switched off
//! (`vm.dirty_writeback_centisecs=0`, `vm.dirty_expire_centisecs` an hour) and ext4's journal
//! commit interval is an hour, so the filesystem's dirty pages reach the image only when
//! someone fsyncs. At the crash instant the server is SIGKILLed and the image file is copied
//! with plain reads: the copy holds what fsync pushed to the "disk" (plus whatever the kernel
//! chose to write on its own, which these settings minimise), not what sat in the page cache.
//! The copy is then mounted (ext4 replays its journal, as after a power cut) and the server
//! recovers from it.
//!
//! `power_cut_method_is_sound` proves the method before it is trusted: a file written and
//! fsynced is in the copy, a file written without fsync is not.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::model::Rng;
use crate::support::Server;
use crate::Harness;

/// Size of the (sparse) filesystem image.
const IMAGE_BYTES: u64 = 1536 * 1024 * 1024;

/// Fails the test, saying what is missing, when this machine cannot cut the power: a test
/// asked for explicitly (`--ignored`) must run or fail, never pass without running.
pub fn require_machine(test: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(root, "{test}: the power-cut tests need root (mount -o loop, sysctl vm.dirty_*)");
    assert!(Path::new("/dev/loop-control").exists(), "{test}: the power-cut tests need loop devices");
    let mkfs = Command::new("mkfs.ext4").arg("-V").output();
    assert!(mkfs.is_ok(), "{test}: the power-cut tests need mkfs.ext4 (e2fsprogs): {mkfs:?}");
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program).args(args).output().map_err(|error| format!("{program}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {args:?}: {}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// The writeback sysctls, set for the run and restored on drop (also when a test panics).
pub struct Writeback {
    saved: Vec<(PathBuf, String)>,
}

impl Writeback {
    pub fn hold_dirty_pages() -> Writeback {
        let settings = [("dirty_writeback_centisecs", "0"), ("dirty_expire_centisecs", "360000")];
        let mut saved = Vec::new();
        for (name, value) in settings {
            let path = Path::new("/proc/sys/vm").join(name);
            let old = fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
            fs::write(&path, value).unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
            eprintln!("power cut: vm.{name} = {value} (was {})", old.trim());
            saved.push((path, old.trim().to_string()));
        }
        Writeback { saved }
    }
}

impl Drop for Writeback {
    fn drop(&mut self) {
        for (path, value) in &self.saved {
            match fs::write(path, value) {
                Ok(()) => eprintln!("power cut: restored {} = {value}", path.display()),
                Err(error) => eprintln!("power cut: COULD NOT RESTORE {} = {value}: {error}", path.display()),
            }
        }
    }
}

/// An ext4 image mounted through a loop device; unmounted on drop.
pub struct Mounted {
    pub image: PathBuf,
    pub mountpoint: PathBuf,
}

impl Mounted {
    /// A fresh, sparse ext4 image.
    pub fn create(image: &Path, mountpoint: &Path) -> Mounted {
        let file = File::create(image).expect("create image");
        file.set_len(IMAGE_BYTES).expect("size image");
        drop(file);
        run("mkfs.ext4", &["-q", "-F", &image.to_string_lossy()]).expect("mkfs.ext4");
        Mounted::mount(image, mountpoint)
    }

    /// Mounts an image (ext4 replays its journal if the image was copied mid-flight). The
    /// journal commits only when fsync asks (commit interval of an hour).
    pub fn mount(image: &Path, mountpoint: &Path) -> Mounted {
        fs::create_dir_all(mountpoint).expect("mountpoint");
        run("mount", &["-o", "loop,commit=3600", &image.to_string_lossy(), &mountpoint.to_string_lossy()])
            .expect("mount -o loop");
        Mounted { image: image.to_path_buf(), mountpoint: mountpoint.to_path_buf() }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(error) = run("umount", &[&self.mountpoint.to_string_lossy()]) {
            eprintln!("power cut: umount {}: {error}; retrying lazily", self.mountpoint.display());
            let _ = run("umount", &["-l", &self.mountpoint.to_string_lossy()]);
        }
    }
}

/// Copies `from` to `to` with plain reads (through the page cache of the image file, never
/// syncing anything); all-zero stretches stay holes so the copy is as sparse as the image.
pub fn copy_image(from: &Path, to: &Path) {
    let mut source = File::open(from).expect("open image");
    let mut target = OpenOptions::new().write(true).create(true).truncate(true).open(to).expect("create copy");
    let mut buffer = vec![0u8; 1024 * 1024];
    let mut offset = 0u64;
    loop {
        let mut filled = 0;
        while filled < buffer.len() {
            match source.read(&mut buffer[filled..]).expect("read image") {
                0 => break,
                read => filled += read,
            }
        }
        if filled == 0 {
            break;
        }
        if buffer[..filled].iter().any(|&byte| byte != 0) {
            target.seek(SeekFrom::Start(offset)).expect("seek copy");
            target.write_all(&buffer[..filled]).expect("write copy");
        }
        offset += filled as u64;
        if filled < buffer.len() {
            break;
        }
    }
    target.set_len(offset).expect("size copy");
}

/// The power-cut harness: most crashes are power cuts (kill + image copy); some are plain
/// SIGKILLs followed by a power cut right after recovery, with no write in between, which
/// catches a recovery that serves bytes it never made durable.
pub struct PowerCut {
    pub work: PathBuf,
    mounted: Option<Mounted>,
    generation: usize,
    /// The copy taken at the last crash, to be mounted by `restart`.
    next_image: Option<PathBuf>,
    idle_cut_due: bool,
    pub power_cuts: usize,
}

impl PowerCut {
    pub fn new(work: &Path) -> PowerCut {
        let mounted = Mounted::create(&work.join("image-0"), &work.join("mnt"));
        PowerCut {
            work: work.to_path_buf(),
            mounted: Some(mounted),
            generation: 0,
            next_image: None,
            idle_cut_due: false,
            power_cuts: 0,
        }
    }

    /// Captures the image now (the server must already be dead); `restart` mounts the copy.
    pub fn power_cut_now(&mut self) {
        self.power_cut();
    }

    fn power_cut(&mut self) {
        let mounted = self.mounted.as_ref().expect("mounted image");
        let copy = self.work.join(format!("image-{}", self.generation + 1));
        copy_image(&mounted.image, &copy);
        self.next_image = Some(copy);
        self.power_cuts += 1;
    }
}

impl Harness for PowerCut {
    fn data_dir(&self) -> PathBuf {
        // Not the mountpoint itself: it holds lost+found, and s3core refuses a non-empty
        // directory that is not an s3core data dir.
        self.work.join("mnt").join("data")
    }

    fn log_dir(&self) -> PathBuf {
        self.work.clone()
    }

    fn crash(&mut self, server: &mut Server, rng: &mut Rng) -> &'static str {
        server.kill9();
        if self.idle_cut_due || rng.percent(75) {
            self.idle_cut_due = false;
            self.power_cut();
            "power cut"
        } else {
            self.idle_cut_due = true;
            "SIGKILL (page cache kept)"
        }
    }

    fn restart(&mut self, server: &mut Server) {
        if let Some(image) = self.next_image.take() {
            // Unmounting writes the old filesystem's dirty pages into the old image, which
            // is discarded: the copy is the disk after the power cut.
            let old = self.mounted.take().expect("mounted image");
            let old_image = old.image.clone();
            drop(old);
            let _ = fs::remove_file(&old_image);
            self.generation += 1;
            self.mounted = Some(Mounted::mount(&image, &self.work.join("mnt")));
        }
        server.kill9_and_restart();
    }

    fn next_cycle_idle(&mut self, _rng: &mut Rng) -> bool {
        self.idle_cut_due
    }
}

impl Drop for PowerCut {
    fn drop(&mut self) {
        self.mounted.take();
    }
}
