//! `m365mon`: the command line of m365-monitor. Everything lives in the library.

fn main() -> std::process::ExitCode {
    m365mon_cli::main()
}
