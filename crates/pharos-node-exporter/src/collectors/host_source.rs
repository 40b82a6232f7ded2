//! Reading the file or directory a collector is built on. When it is missing the subsystem is
//! missing (no ZFS module, a kernel without schedstats), which the collector reports as
//! [`CollectError::NotPresent`] so a scrape stays successful, as node_exporter's does.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::collector::CollectError;

/// An I/O failure on `path`.
pub(super) fn io_error(path: &Path, source: std::io::Error) -> CollectError {
    CollectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn absent_or_io(path: &Path, source: std::io::Error) -> CollectError {
    if source.kind() == ErrorKind::NotFound {
        CollectError::NotPresent(path.display().to_string())
    } else {
        io_error(path, source)
    }
}

/// The whole text of the collector's source file.
pub(super) fn read_source_file(path: &Path) -> Result<String, CollectError> {
    fs::read_to_string(path).map_err(|source| absent_or_io(path, source))
}

/// The entries of the collector's source directory (one per device, pool, filesystem...).
pub(super) fn read_source_dir(path: &Path) -> Result<fs::ReadDir, CollectError> {
    fs::read_dir(path).map_err(|source| absent_or_io(path, source))
}

/// A source file holding one number, as `/proc/sys` files do.
pub(super) fn read_source_number(path: &Path) -> Result<f64, CollectError> {
    let text = read_source_file(path)?;
    let trimmed = text.trim();
    trimmed.parse().map_err(|_| CollectError::Parse {
        path: PathBuf::from(path),
        reason: format!("{trimmed:?} is not a number"),
    })
}
