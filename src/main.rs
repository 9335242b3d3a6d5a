//! The `sharehook` binary: everything is in the library; see `cli`.

fn main() -> std::process::ExitCode {
    sharehook::cli::main()
}
