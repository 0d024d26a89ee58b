//! `m365mon`: the command line of m365-monitor. Everything lives in the library.

/// mimalloc instead of the system allocator: reading a sign-in allocates dozens of small strings
/// that live for microseconds, which glibc's allocator serves markedly slower (measured in
/// docs/rules.md, "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    m365mon_cli::main()
}
