//! The `kamlog` command-line program. All the work is in the library; see `kamlog::cli`.

fn main() {
    std::process::exit(kamlog::cli::main());
}

/// jemalloc, not glibc's allocator: the import's reader, writer and flusher threads allocate
/// and free each other's batches, which fragments glibc's per-thread arenas (a 1M-event
/// import held 2.9 GiB with it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
