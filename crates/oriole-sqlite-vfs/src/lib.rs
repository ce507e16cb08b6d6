//! A SQLite VFS that writes a commit's WAL frames in one system call.
//!
//! SQLite appends each WAL frame with two `pwrite`s, a 24-byte header and
//! the page, so a commit of 300 pages makes 600 calls, and each one that
//! extends or dirties a page of the file pays the file system's
//! bookkeeping on its own. This VFS wraps the platform's (`unix`) and, for
//! WAL files only, keeps consecutive writes in memory and hands them to
//! the kernel as one write just before anything that needs them in the
//! file: a sync, a read, a size query, a truncation, a file control or a
//! close. Every other file (the database, its `-shm`, journals) goes
//! straight to the platform's VFS, untouched.
//!
//! # When it is safe
//!
//! Only with `PRAGMA synchronous = FULL` (or `EXTRA`) on every connection
//! that writes. In WAL mode SQLite then syncs the WAL at each commit
//! *before* it publishes the commit's frames in the WAL index, so no other
//! connection can be told of a frame that is still in this buffer, and a
//! commit that returned has its frames written (and synced). (Read in
//! SQLite 3.46.0's `sqlite3WalFrames`: frames, `sqlite3OsSync`, then
//! `walIndexAppend` and `walIndexWriteHdr`; a test pins that version.) With
//! `NORMAL` a commit publishes frames without a sync, so another
//! connection could read a frame that is still here: do not use this VFS
//! then. [`oriole-store-sqlite`] selects it only for `FULL`.
//!
//! A crash (even `kill -9`) loses at most frames of a commit that had not
//! returned yet, which WAL recovery discards by their checksums anyway.
//!
//! [`oriole-store-sqlite`]: ../oriole_store_sqlite/index.html

// The one crate that may: a VFS is a table of C callbacks over raw
// pointers. Everything unsafe stays in this file.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt;
use std::mem::{align_of, size_of};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// The name to pass as `vfs=` (`SqliteConnectOptions::vfs`).
pub const NAME: &str = "oriole-wal-coalesce";
const NAME_C: &CStr = c"oriole-wal-coalesce";

/// Pending bytes beyond this are written at once, whatever comes next: a
/// transaction larger than this writes in pieces of about this size.
const FLUSH_AT: usize = 4 << 20;

/// Writes to WAL files since the process started, for tests and
/// benchmarks: how many SQLite made, and how many reached the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// `xWrite` calls SQLite made on WAL files opened through this VFS.
    pub sqlite_writes: u64,
    /// Writes this VFS handed to the platform's VFS for them.
    pub kernel_writes: u64,
}

struct Counters {
    sqlite_writes: AtomicU64,
    kernel_writes: AtomicU64,
}

static STATS: Counters = Counters {
    sqlite_writes: AtomicU64::new(0),
    kernel_writes: AtomicU64::new(0),
};

/// The counts so far (all connections, all databases, this process).
pub fn stats() -> Stats {
    Stats {
        sqlite_writes: STATS.sqlite_writes.load(Ordering::Relaxed),
        kernel_writes: STATS.kernel_writes.load(Ordering::Relaxed),
    }
}

/// The name of the VFS a connection's main database was opened with
/// (SQLite's `SQLITE_FCNTL_VFS_POINTER`): to check which one a pool uses.
pub async fn vfs_of(conn: &mut sqlx::SqliteConnection) -> Result<String, sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    let mut vfs: *mut ffi::sqlite3_vfs = ptr::null_mut();
    // SAFETY: `db` is open and locked to this thread's use by `handle`
    // until it drops; the call writes one pointer into `vfs`.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            db,
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_VFS_POINTER,
            ptr::from_mut(&mut vfs).cast(),
        )
    };
    if rc != ffi::SQLITE_OK || vfs.is_null() {
        return Err(sqlx::Error::Protocol(format!(
            "SQLite answered {rc} when asked for the connection's VFS"
        )));
    }
    // SAFETY: a registered VFS and its name live as long as the process.
    let name = unsafe { CStr::from_ptr((*vfs).zName) };
    Ok(name.to_string_lossy().into_owned())
}

/// The largest write handed to the platform's VFS at once. The `unix`
/// VFS masks a write's length to 17 bits (`nBuf &= 0x1ffff` in
/// `seekAndWriteFd`): a longer one would be cut short, and one of exactly
/// 128 KiB would write nothing and answer `SQLITE_FULL`.
const MAX_WRITE: usize = 124 << 10;

/// Registering failed: SQLite had no platform VFS, or refused the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterError(String);

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "registering the SQLite VFS `{NAME}`: {}", self.0)
    }
}

impl std::error::Error for RegisterError {}

/// Register the VFS with SQLite (once per process; later calls answer the
/// first call's outcome) and return its name. It is not made the default.
pub fn register() -> Result<&'static str, RegisterError> {
    static REGISTERED: OnceLock<Result<(), RegisterError>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| unsafe { register_once() })
        .clone()
        .map(|()| NAME)
}

unsafe fn register_once() -> Result<(), RegisterError> {
    let rc = ffi::sqlite3_initialize();
    if rc != ffi::SQLITE_OK {
        return Err(RegisterError(format!("sqlite3_initialize answered {rc}")));
    }
    let base = ffi::sqlite3_vfs_find(c"unix".as_ptr());
    if base.is_null() {
        return Err(RegisterError("SQLite has no `unix` VFS".into()));
    }
    let base_file = usize::try_from((*base).szOsFile)
        .map_err(|_| RegisterError("the `unix` VFS has a negative file size".into()))?;
    let size = c_int::try_from(REAL_OFFSET + base_file)
        .map_err(|_| RegisterError("file object too large".into()))?;
    // SQLite keeps the pointer (and links it into its list), so the VFS
    // lives as long as the process.
    let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
        iVersion: 2,
        szOsFile: size,
        mxPathname: (*base).mxPathname,
        pNext: ptr::null_mut(),
        zName: NAME_C.as_ptr(),
        pAppData: base.cast(),
        xOpen: Some(open),
        xDelete: Some(delete),
        xAccess: Some(access),
        xFullPathname: Some(full_pathname),
        xDlOpen: Some(dl_open),
        xDlError: Some(dl_error),
        xDlSym: Some(dl_sym),
        xDlClose: Some(dl_close),
        xRandomness: Some(randomness),
        xSleep: Some(sleep),
        xCurrentTime: Some(current_time),
        xGetLastError: Some(get_last_error),
        xCurrentTimeInt64: Some(current_time_int64),
        xSetSystemCall: None,
        xGetSystemCall: None,
        xNextSystemCall: None,
    }));
    let rc = ffi::sqlite3_vfs_register(vfs, 0);
    if rc != ffi::SQLITE_OK {
        return Err(RegisterError(format!("sqlite3_vfs_register answered {rc}")));
    }
    Ok(())
}

/// A WAL file as SQLite sees it: our method table first (the
/// `sqlite3_file` header), then the platform's file object at
/// [`REAL_OFFSET`] of the same allocation. Any other file is the
/// platform's object at offset 0, with the platform's own methods.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    pending: *mut Pending,
}

/// Bytes written but not yet handed to the kernel: one contiguous run
/// starting at `offset`.
struct Pending {
    offset: i64,
    bytes: Vec<u8>,
}

/// Where the platform's file object starts in a WAL file's allocation.
const REAL_OFFSET: usize = size_of::<WalFile>().next_multiple_of(align_of::<u64>() * 2);

fn base_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY (for callers): `vfs` is the object `register_once` leaked.
    unsafe { (*vfs).pAppData.cast() }
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = base_vfs(vfs);
    let Some(base_open) = (*base).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        return base_open(base, name, file, flags, out_flags);
    }
    let real = file
        .cast::<u8>()
        .add(REAL_OFFSET)
        .cast::<ffi::sqlite3_file>();
    (*real).pMethods = ptr::null();
    let rc = base_open(base, name, real, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        // SQLite closes a file whose methods are set even when its open
        // failed; ours are not set, so close the platform's here.
        if let Some(close) = (*real).pMethods.as_ref().and_then(|m| m.xClose) {
            close(real);
        }
        (*file).pMethods = ptr::null();
        return rc;
    }
    let wal = file.cast::<WalFile>();
    wal.write(WalFile {
        base: ffi::sqlite3_file {
            pMethods: &WAL_METHODS,
        },
        real,
        pending: Box::into_raw(Box::new(Pending {
            offset: 0,
            bytes: Vec::new(),
        })),
    });
    ffi::SQLITE_OK
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    // Version 1: a WAL file has no shared memory and is never mapped.
    iVersion: 1,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// The platform's file and its method table.
unsafe fn real(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    let real = (*file.cast::<WalFile>()).real;
    (real, &*(*real).pMethods)
}

/// Hand the pending bytes to the kernel. They are dropped either way: a
/// failed write is reported to SQLite, which fails the statement or the
/// commit that needed them, as it would for a failed direct write.
unsafe fn write_out(
    pending: &mut Pending,
    real: *mut ffi::sqlite3_file,
    methods: &ffi::sqlite3_io_methods,
) -> c_int {
    if pending.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let Some(write) = methods.xWrite else {
        pending.bytes.clear();
        return ffi::SQLITE_IOERR_WRITE;
    };
    let mut rc = ffi::SQLITE_OK;
    let mut offset = pending.offset;
    for chunk in pending.bytes.chunks(MAX_WRITE) {
        STATS.kernel_writes.fetch_add(1, Ordering::Relaxed);
        // `chunk.len()` <= MAX_WRITE, which fits a c_int.
        rc = write(real, chunk.as_ptr().cast(), chunk.len() as c_int, offset);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += chunk.len() as i64;
    }
    pending.bytes.clear();
    if pending.bytes.capacity() > 2 * FLUSH_AT {
        pending.bytes.shrink_to(FLUSH_AT);
    }
    rc
}

unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    let (real, methods) = real(file);
    write_out(&mut *(*file.cast::<WalFile>()).pending, real, methods)
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    let rc = flush(file);
    let (real, methods) = real(file);
    let closed = methods.xClose.map_or(ffi::SQLITE_OK, |close| close(real));
    let wal = file.cast::<WalFile>();
    drop(Box::from_raw((*wal).pending));
    (*wal).pending = ptr::null_mut();
    if rc != ffi::SQLITE_OK {
        rc
    } else {
        closed
    }
}

unsafe extern "C" fn wal_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    STATS.sqlite_writes.fetch_add(1, Ordering::Relaxed);
    let (real, methods) = real(file);
    let pending = &mut *(*file.cast::<WalFile>()).pending;
    let end = pending.offset + pending.bytes.len() as i64;
    if !pending.bytes.is_empty() && offset != end {
        // Not an append to the run: write the run first, so that writes
        // reach the file in the order SQLite made them.
        let rc = write_out(pending, real, methods);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    if pending.bytes.is_empty() {
        pending.offset = offset;
    }
    pending
        .bytes
        .extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), len));
    if pending.bytes.len() >= FLUSH_AT {
        return write_out(pending, real, methods);
    }
    ffi::SQLITE_OK
}

/// A method that needs the file as written so far: flush, then forward.
macro_rules! flushed {
    ($file:expr, $call:expr) => {{
        let rc = flush($file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        $call
    }};
}

unsafe extern "C" fn wal_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    flushed!(file, {
        let (real, m) = real(file);
        m.xRead
            .map_or(ffi::SQLITE_IOERR_READ, |f| f(real, data, amount, offset))
    })
}

unsafe extern "C" fn wal_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    flushed!(file, {
        let (real, m) = real(file);
        m.xTruncate
            .map_or(ffi::SQLITE_IOERR_TRUNCATE, |f| f(real, size))
    })
}

unsafe extern "C" fn wal_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    flushed!(file, {
        let (real, m) = real(file);
        m.xSync.map_or(ffi::SQLITE_IOERR_FSYNC, |f| f(real, flags))
    })
}

unsafe extern "C" fn wal_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    flushed!(file, {
        let (real, m) = real(file);
        m.xFileSize
            .map_or(ffi::SQLITE_IOERR_FSTAT, |f| f(real, size))
    })
}

unsafe extern "C" fn wal_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    flushed!(file, {
        let (real, m) = real(file);
        m.xFileControl
            .map_or(ffi::SQLITE_NOTFOUND, |f| f(real, op, arg))
    })
}

unsafe extern "C" fn wal_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let (real, m) = real(file);
    m.xLock.map_or(ffi::SQLITE_OK, |f| f(real, level))
}

unsafe extern "C" fn wal_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let (real, m) = real(file);
    m.xUnlock.map_or(ffi::SQLITE_OK, |f| f(real, level))
}

unsafe extern "C" fn wal_check_reserved_lock(
    file: *mut ffi::sqlite3_file,
    out: *mut c_int,
) -> c_int {
    let (real, m) = real(file);
    m.xCheckReservedLock
        .map_or(ffi::SQLITE_OK, |f| f(real, out))
}

unsafe extern "C" fn wal_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    let (real, m) = real(file);
    m.xSectorSize.map_or(4096, |f| f(real))
}

unsafe extern "C" fn wal_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    let (real, m) = real(file);
    m.xDeviceCharacteristics.map_or(0, |f| f(real))
}

// The VFS's own methods go to the platform's VFS, with its pointer.

unsafe extern "C" fn delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    let base = base_vfs(vfs);
    (*base)
        .xDelete
        .map_or(ffi::SQLITE_IOERR_DELETE, |f| f(base, name, sync_dir))
}

unsafe extern "C" fn access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let base = base_vfs(vfs);
    (*base)
        .xAccess
        .map_or(ffi::SQLITE_IOERR_ACCESS, |f| f(base, name, flags, out))
}

unsafe extern "C" fn full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n_out: c_int,
    out: *mut c_char,
) -> c_int {
    let base = base_vfs(vfs);
    (*base)
        .xFullPathname
        .map_or(ffi::SQLITE_CANTOPEN, |f| f(base, name, n_out, out))
}

unsafe extern "C" fn dl_open(vfs: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    let base = base_vfs(vfs);
    (*base).xDlOpen.map_or(ptr::null_mut(), |f| f(base, name))
}

unsafe extern "C" fn dl_error(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    let base = base_vfs(vfs);
    if let Some(f) = (*base).xDlError {
        f(base, n, out);
    }
}

type DlSym = unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char);

unsafe extern "C" fn dl_sym(
    vfs: *mut ffi::sqlite3_vfs,
    handle: *mut c_void,
    symbol: *const c_char,
) -> Option<DlSym> {
    let base = base_vfs(vfs);
    (*base).xDlSym.and_then(|f| f(base, handle, symbol))
}

unsafe extern "C" fn dl_close(vfs: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    let base = base_vfs(vfs);
    if let Some(f) = (*base).xDlClose {
        f(base, handle);
    }
}

unsafe extern "C" fn randomness(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let base = base_vfs(vfs);
    (*base).xRandomness.map_or(0, |f| f(base, n, out))
}

unsafe extern "C" fn sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    let base = base_vfs(vfs);
    (*base).xSleep.map_or(0, |f| f(base, micros))
}

unsafe extern "C" fn current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let base = base_vfs(vfs);
    (*base)
        .xCurrentTime
        .map_or(ffi::SQLITE_ERROR, |f| f(base, out))
}

unsafe extern "C" fn get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let base = base_vfs(vfs);
    (*base).xGetLastError.map_or(0, |f| f(base, n, out))
}

unsafe extern "C" fn current_time_int64(vfs: *mut ffi::sqlite3_vfs, out: *mut i64) -> c_int {
    let base = base_vfs(vfs);
    (*base)
        .xCurrentTimeInt64
        .map_or(ffi::SQLITE_ERROR, |f| f(base, out))
}
