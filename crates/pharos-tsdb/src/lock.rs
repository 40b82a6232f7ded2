//! The data directory lock: one process per directory.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Holds an exclusive `flock` on `<dir>/lock` until dropped; the kernel releases it if the
/// process dies, so a crash never leaves a stale lock behind.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock or fails with `WouldBlock` if another process holds it.
    pub fn acquire(dir: &Path) -> io::Result<DirLock> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("lock"))?;
        // SAFETY: flock on a valid, owned file descriptor has no memory-safety preconditions.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "data directory {} is in use by another process",
                        dir.display()
                    ),
                ));
            }
            return Err(e);
        }
        file.set_len(0)?;
        let _ = writeln!(file, "{}", std::process::id());
        Ok(DirLock { _file: file })
    }
}

/// The pid recorded in `<dir>/lock` if that process is still running (and is not us): a hint
/// that a server owns the directory, read without touching the lock itself.
pub fn running_holder(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join("lock"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()).then_some(pid)
}
