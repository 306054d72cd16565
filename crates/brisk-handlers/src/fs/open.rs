//! Opening a path under the root, component by component (see the module
//! docs' "Safety of paths").

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use super::{Inner, Symlinks};

/// What a path under the root names.
pub(crate) enum Opened {
    /// A regular file, with its metadata.
    File(File, std::fs::Metadata),
    /// A directory.
    Dir(OwnedFd),
}

/// Why a path could not be served.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// A component is empty, `.`, `..`, or holds NUL or `\`: 400.
    BadPath,
    /// Nothing servable there (missing, hidden, a refused link, a link out
    /// of the root, not a regular file or directory): 404.
    NotFound,
    /// The server may not read it: 403.
    Forbidden,
    /// Anything else: 500.
    Io(io::Error),
}

impl From<Errno> for OpenError {
    fn from(e: Errno) -> OpenError {
        match e {
            // ELOOP: a symbolic link under O_NOFOLLOW.
            Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP | Errno::ENAMETOOLONG | Errno::ENXIO => {
                OpenError::NotFound
            }
            Errno::EACCES | Errno::EPERM => OpenError::Forbidden,
            other => OpenError::Io(other.into()),
        }
    }
}

/// Opens the root directory.
pub(crate) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok(fd)
}

/// The real path of an open descriptor (Linux: `/proc/self/fd/N`).
pub(crate) fn fd_path(fd: &impl AsFd) -> io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

/// The components of `path` (`/`-separated, empty ones skipped), checked:
/// `Err(BadPath)` for `.`, `..`, NUL or `\`, `Err(NotFound)` for a hidden
/// one when hidden files are refused.
pub(crate) fn components(path: &[u8], hidden: bool) -> Result<Vec<&[u8]>, OpenError> {
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        if c.is_empty() {
            continue;
        }
        if c == b"." || c == b".." || c.contains(&0) || c.contains(&b'\\') {
            return Err(OpenError::BadPath);
        }
        if !hidden && c[0] == b'.' {
            return Err(OpenError::NotFound);
        }
        out.push(c);
    }
    Ok(out)
}

/// Opens `comps` under the root as the server's symlink policy says.
pub(crate) fn open_under(inner: &Inner, comps: &[&[u8]]) -> Result<Opened, OpenError> {
    let root = inner.root_fd.as_fd();
    let fd = match inner.symlinks {
        Symlinks::Refuse => walk_nofollow(root, comps)?,
        Symlinks::WithinRoot | Symlinks::Follow => {
            let joined = if comps.is_empty() {
                b".".to_vec()
            } else {
                comps.join(&b'/')
            };
            let fd = openat(root, joined.as_slice(), file_flags(), Mode::empty())?;
            if let Some(real_root) = &inner.real_root {
                let real = fd_path(&fd).map_err(OpenError::Io)?;
                if !real.starts_with(real_root) {
                    log::debug!(
                        "file server: {} is out of the root {}; refused",
                        real.display(),
                        real_root.display()
                    );
                    return Err(OpenError::NotFound);
                }
            }
            fd
        }
    };
    classify(fd)
}

/// Opens a file name in a directory already open, without following a
/// link (an index file).
pub(crate) fn open_in(
    inner: &Inner,
    dir: BorrowedFd<'_>,
    name: &[u8],
) -> Result<Opened, OpenError> {
    let flags = match inner.symlinks {
        Symlinks::Refuse => file_flags() | OFlag::O_NOFOLLOW,
        _ => file_flags(),
    };
    let fd = openat(dir, name, flags, Mode::empty())?;
    if let Some(real_root) = &inner.real_root {
        let real = fd_path(&fd).map_err(OpenError::Io)?;
        if !real.starts_with(real_root) {
            return Err(OpenError::NotFound);
        }
    }
    classify(fd)
}

/// Flags of the last component: read-only, and non-blocking so that a
/// FIFO cannot block the loop (it is refused after the `fstat`).
fn file_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK
}

/// Opens each component under the previous one with `O_NOFOLLOW`: a
/// symbolic link anywhere on the path fails (`ELOOP`, or `ENOTDIR` for a
/// directory one), however the tree changes between two calls.
fn walk_nofollow(root: BorrowedFd<'_>, comps: &[&[u8]]) -> Result<OwnedFd, OpenError> {
    let Some((last, dirs)) = comps.split_last() else {
        return Ok(openat(
            root,
            b".".as_slice(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?);
    };
    let mut cur: Option<OwnedFd> = None;
    for d in dirs {
        let at = cur.as_ref().map_or(root, AsFd::as_fd);
        let next = openat(
            at,
            *d,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        cur = Some(next);
    }
    let at = cur.as_ref().map_or(root, AsFd::as_fd);
    Ok(openat(
        at,
        *last,
        file_flags() | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )?)
}

/// A regular file or a directory; anything else is not served.
fn classify(fd: OwnedFd) -> Result<Opened, OpenError> {
    let file = File::from(fd);
    let meta = file.metadata().map_err(OpenError::Io)?;
    if meta.is_file() {
        Ok(Opened::File(file, meta))
    } else if meta.is_dir() {
        Ok(Opened::Dir(OwnedFd::from(file)))
    } else {
        Err(OpenError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_checked() {
        assert_eq!(components(b"/a//b/", false).unwrap(), [b"a", b"b"]);
        assert!(components(b"/", false).unwrap().is_empty());
        for bad in [&b"/a/../b"[..], b"/./a", b"/a/b\0c", b"/a\\b", b"/.."] {
            assert!(
                matches!(components(bad, true), Err(OpenError::BadPath)),
                "{bad:?}"
            );
        }
        assert!(matches!(
            components(b"/.git/config", false),
            Err(OpenError::NotFound)
        ));
        assert_eq!(components(b"/.well-known/x", true).unwrap().len(), 2);
    }
}
