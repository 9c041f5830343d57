//! The `tchvision` command line: a thin shell over the library.
fn main() {
    eprintln!("tchvision: no subcommands yet");
    std::process::exit(2);
}
