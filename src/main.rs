//! The `kamlog` command-line program. All the work is in the library; see `kamlog::cli`.

fn main() {
    std::process::exit(kamlog::cli::main());
}
