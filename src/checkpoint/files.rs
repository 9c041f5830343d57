//! Files in and out, for every reader and writer of the crate (checkpoints, `.npy` tensors,
//! images).
//!
//! * **Inputs** are opened with [`open_regular`]: a folder is named as such, and a FIFO, socket
//!   or device is refused before anything waits on it (the open is non-blocking, and the type
//!   is checked on the opened descriptor, so a file swapped in between cannot slip through).
//! * **Outputs** are written with [`write_atomically`]: into a temporary sibling
//!   (`.<name>.tmp-<pid>-<nanos>-<n>`), flushed, fsynced and renamed over the destination, so a
//!   reader sees the old file or the new one, never half of one. The temporary file is removed
//!   on every error, and on SIGINT, SIGTERM and SIGHUP too (a handler, installed with the first
//!   write when the signal's disposition is still the default, unlinks the temporary files in
//!   flight and then dies of the signal as it would have). A file that is replaced keeps its
//!   permission bits. SIGKILL cannot be caught: the temporary files a killed writer leaves are
//!   removed by the next write of the same destination, once their process is gone.
//! * [`same_file`] tells whether two paths name one file, so that a command can refuse an
//!   output that would overwrite one of its inputs.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::error::{Error, Result};

fn io_err(path: &Path, source: io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source }
}

/// What a file system object is, in words, when it is not a regular file.
fn kind_in_words(ft: &fs::FileType) -> Option<&'static str> {
    if ft.is_dir() {
        Some("a folder, not a file")
    } else if ft.is_fifo() {
        Some("a FIFO (named pipe), not a regular file")
    } else if ft.is_socket() {
        Some("a socket, not a regular file")
    } else if ft.is_char_device() || ft.is_block_device() {
        Some("a device, not a regular file")
    } else if !ft.is_file() {
        Some("not a regular file")
    } else {
        None
    }
}

/// Opens `path` for reading when it is a regular file (after following symbolic links); a
/// folder, FIFO, socket or device is an [`Error::Io`] saying which, returned at once (the open
/// does not block on a FIFO without a writer).
pub fn open_regular(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    let meta = file.metadata().map_err(|e| io_err(path, e))?;
    if let Some(what) = kind_in_words(&meta.file_type()) {
        return Err(io_err(path, io::Error::new(io::ErrorKind::InvalidInput, format!("is {what}"))));
    }
    // Regular files ignore O_NONBLOCK; clear it anyway so the descriptor behaves as usual.
    // SAFETY: fcntl on a descriptor this function owns, with integer arguments only.
    unsafe {
        use std::os::unix::io::AsRawFd;
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

/// Checks that `path` is a regular file without opening it for long (see [`open_regular`]).
pub fn check_regular(path: &Path) -> Result<()> {
    open_regular(path).map(drop)
}

/// Whether `a` and `b` name the same file: the same device and inode when both exist, else
/// the same absolute path once the folders are resolved (`out/../x.png` and `x.png`).
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) {
        return ma.dev() == mb.dev() && ma.ino() == mb.ino();
    }
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// `path` with its folder canonicalised (the file itself need not exist).
fn resolved(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(fs::canonicalize(dir).ok()?.join(name))
}

// ---------------------------------------------------------------------------------------------
// Temporary files removed on SIGINT / SIGTERM / SIGHUP.

/// Temporary files in flight, as leaked C strings the signal handler can unlink without
/// allocating. A slot is owned by whoever swaps its pointer out: the writer when it finishes
/// (and frees it), or the handler when a signal arrives (and the process dies).
const SLOTS: usize = 64;
static IN_FLIGHT: [AtomicPtr<libc::c_char>; SLOTS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

extern "C" fn remove_temp_files_and_die(sig: libc::c_int) {
    for slot in &IN_FLIGHT {
        let p = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: `p` is a NUL-terminated string leaked by `Registered::new`; unlink is
            // async-signal-safe.
            unsafe { libc::unlink(p) };
        }
    }
    // SAFETY: signal and raise are async-signal-safe; the default disposition of these
    // signals terminates the process, with the status a shell expects (128 + sig).
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn install_signal_cleanup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: plain sigaction calls with zeroed, then filled, structs; the handler only
            // calls async-signal-safe functions. A signal someone else handles (or ignores) is
            // left alone.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 || old.sa_sigaction != libc::SIG_DFL {
                    continue;
                }
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = remove_temp_files_and_die as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut new.sa_mask);
                new.sa_flags = libc::SA_RESTART;
                libc::sigaction(sig, &new, std::ptr::null_mut());
            }
        }
    });
}

/// A temporary file registered with the signal handler while it exists.
struct Registered {
    slot: Option<usize>,
}

impl Registered {
    fn new(path: &Path) -> Registered {
        install_signal_cleanup();
        let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return Registered { slot: None } };
        let p = c.into_raw();
        for (i, slot) in IN_FLIGHT.iter().enumerate() {
            if slot.compare_exchange(std::ptr::null_mut(), p, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                return Registered { slot: Some(i) };
            }
        }
        // Every slot is taken: the file is still removed on errors, only not on signals.
        // SAFETY: `p` came from `CString::into_raw` just above and was not shared.
        drop(unsafe { CString::from_raw(p) });
        Registered { slot: None }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let p = IN_FLIGHT[i].swap(std::ptr::null_mut(), Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: we swapped it out, so the handler never will; it came from into_raw.
                drop(unsafe { CString::from_raw(p) });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Atomic writes.

/// The prefix of the temporary files of writes to `name`.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

/// Whether process `pid` is alive (or exists under another user).
fn process_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for the process.
    pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Removes the temporary files earlier writes of `name` in `dir` left behind when their
/// process was killed (SIGKILL, power loss): those whose process is gone. Best effort.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = temp_prefix(name);
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
        if pid as u32 != std::process::id() && !process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes the file `path` atomically: `write` fills a buffered writer on a new temporary file
/// in the same folder, which is then flushed, fsynced and renamed over `path` (and the folder
/// fsynced). On any error, and on SIGINT/SIGTERM/SIGHUP meanwhile, the temporary file is
/// removed and an existing `path` is left as it was. An existing `path` must be a regular file
/// (a folder, FIFO or device there is an error naming it) and keeps its permission bits;
/// a new file gets `0o666` less the umask. Temporary files of this destination left by killed
/// writers are removed first.
pub fn write_atomically<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<&File>) -> Result<()>,
{
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{}: not a file name", path.display())))?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mode = match fs::metadata(path) {
        Ok(m) => {
            if let Some(what) = kind_in_words(&m.file_type()) {
                return Err(io_err(
                    path,
                    io::Error::new(io::ErrorKind::InvalidInput, format!("exists and is {what}: not replacing it")),
                ));
            }
            Some(m.permissions().mode() & 0o7777)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(path, e)),
    };
    match fs::metadata(&dir) {
        Ok(m) if !m.is_dir() => {
            return Err(io_err(&dir, io::Error::new(io::ErrorKind::InvalidInput, "is not a folder")));
        }
        Ok(_) => {}
        Err(e) => return Err(io_err(&dir, e)),
    }
    remove_stale_temps(&dir, &name);

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut created = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{}{}-{nanos:x}-{n}", temp_prefix(&name), std::process::id()));
        // Registered before it is created: a signal in the instant after the file appears must
        // remove it too (unlinking a name not yet created does nothing). The name holds our pid,
        // the time and a counter: a file already there under it (AlreadyExists, unregistered
        // below) can only be a dead writer's leftover of the same pid.
        let registered = Registered::new(&tmp);
        match OpenOptions::new().write(true).create_new(true).mode(0o666).custom_flags(libc::O_CLOEXEC).open(&tmp) {
            Ok(f) => {
                created = Some((f, tmp, registered));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(path, e)),
        }
    }
    let (file, tmp, registered) =
        created.ok_or_else(|| io_err(path, io::Error::other("no free temporary file name in the folder")))?;
    let result = (|| -> Result<()> {
        if let Some(mode) = mode {
            file.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| io_err(path, e))?;
        }
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        write(&mut w)?;
        w.flush().map_err(|e| io_err(path, e))?;
        drop(w);
        file.sync_all().map_err(|e| io_err(path, e))?;
        fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    drop(registered);
    result?;
    // Make the rename itself durable (best effort: not every file system can fsync a folder).
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// [`write_atomically`] for a writer that reports plain I/O errors.
pub fn write_atomically_io<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<&File>) -> io::Result<()>,
{
    write_atomically(path, |w| write(w).map_err(|e| io_err(path, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_files_keep_their_mode_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically_io(&p, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let err = write_atomically_io(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from("x.bin")]);
    }

    #[test]
    fn stale_temps_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("y.bin");
        // A pid that cannot be alive (above the kernel's pid_max of 2^22).
        let stale = dir.path().join(".y.bin.tmp-99999999-0-0");
        let other = dir.path().join(".z.bin.tmp-99999999-0-0");
        fs::write(&stale, b"junk").unwrap();
        fs::write(&other, b"junk").unwrap();
        write_atomically_io(&p, |w| w.write_all(b"ok")).unwrap();
        assert!(!stale.exists());
        assert!(other.exists(), "only temporaries of the same destination are touched");
    }

    #[test]
    fn non_regular_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let msg = open_regular(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("a folder, not a file"), "{msg}");
        let msg = write_atomically_io(dir.path(), |_| Ok(())).unwrap_err().to_string();
        assert!(msg.contains("a folder"), "{msg}");
        fs::create_dir(dir.path().join("a")).unwrap();
        assert!(same_file(&dir.path().join("a/../b"), &dir.path().join("b")));
        assert!(same_file(&dir.path().join("b"), &dir.path().join("./b")));
    }
}
