//! The `identity-box` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    identity_box::cli::main()
}
