//! The memory allocator of every kamlog program (the `kamlog` command, `kamlog-bench`, the
//! tests): jemalloc, with its options set here, so that a benchmark measures what the
//! command runs.

/// jemalloc, not glibc's allocator: the import's reader, writer and flusher threads allocate
/// and free each other's batches, which fragments glibc's per-thread arenas (a 1M-event
/// import held 2.9 GiB with it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: freed pages go back to the system after 250 ms
/// rather than jemalloc's default 10 s, and at once rather than after a second "muzzy" wait.
/// A 1M-event import frees hundreds of MiB of batches a second; with the defaults they stay
/// resident (a 712 MiB peak against 475 MiB, for the same wall time; BENCHMARKS.md). The
/// environment variable `_RJEM_MALLOC_CONF` still overrides them.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: Option<&'static std::ffi::c_char> = Some(
    // SAFETY: the first character of a static C string, which jemalloc reads up to its NUL.
    unsafe { &*c"dirty_decay_ms:250,muzzy_decay_ms:0".as_ptr() },
);
