//! The `tchvision` command line: a thin shell over the library.
//!
//! Each subcommand lives in its own file with an `Args` struct (clap derive, including its own
//! `--json`) and a `run(args) -> anyhow::Result<()>` that calls the library. Errors print as one
//! line on stderr, `tchvision: error: <context>: <cause>: …`, with a non-zero exit status; a
//! panic (a bug) prints one line too, never a backtrace.
//!
//! Checkpoints are read lazily (`ReadOptions::mmap`: the file mapped copy-on-write, as
//! `torch.load(mmap=True)`), so `inspect` touches only the pickle and a load copies each value
//! once, from the page cache into the model.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod common;
mod convert;
mod detect;
mod export;
mod fast;
mod features;
mod inspect;
mod list;
mod load;
mod predict;
mod run;
mod summary;

/// PyTorch-style vision networks on libtorch: models, checkpoints and images.
#[derive(Debug, Parser)]
#[command(name = "tchvision", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand; each delegates to `<sub>::run(args)`.
#[derive(Debug, Subcommand)]
enum Command {
    /// List a checkpoint's tensors (key, dtype, shape, bytes) and other entries.
    Inspect(inspect::Args),
    /// Convert a checkpoint's state dict between .pth and .safetensors (by extension).
    Convert(convert::Args),
    /// List the models of the registry (name, parameter count, default input size).
    List(list::Args),
    /// A model's named parameters and buffers, and each module's output shape.
    Summary(summary::Args),
    /// Load a checkpoint (partially) into a model and report what loaded.
    Load(load::Args),
    /// Run a model in eval mode on a tensor file; write the output and chosen nodes.
    Run(run::Args),
    /// Classify images with ImageNet weights (top-k with category names).
    Predict(predict::Args),
    /// Write PNG grids of feature maps of chosen nodes for an image.
    Features(features::Args),
    /// Detect objects with a YOLO-v1 model: boxes drawn as PNG, detections as JSON.
    Detect(detect::Args),
    /// Time forward passes on random input: latency (median, min, max) and images/s.
    Bench(bench::Args),
    /// Save a model as TorchScript (traced) for torch.jit.load, Triton and TorchServe.
    Export(export::Args),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info.location().map(|l| format!(" (at {}:{})", l.file(), l.line())).unwrap_or_default();
        // Never `eprintln!`: it panics itself when stderr is gone.
        let _ = writeln!(
            std::io::stderr(),
            "tchvision: internal error: {}{at}; please report this",
            tchvision::error::printable(first_line(&msg))
        );
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Convert(args) => convert::run(args),
        Command::List(args) => list::run(args),
        Command::Summary(args) => summary::run(args),
        Command::Load(args) => load::run(args),
        Command::Run(args) => run::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Features(args) => features::run(args),
        Command::Detect(args) => detect::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Export(args) => export::run(args),
    };
    // What is still buffered must reach stdout too: a full disk is an error here as anywhere.
    let result = result
        .and_then(|()| std::io::stdout().flush().map_err(|e| anyhow::Error::new(e).context("writing the output")));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `tchvision inspect big.pth | head` closes our stdout early: not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // A bare I/O error without context comes from printing to stdout.
            let e = if e.chain().count() == 1 && e.downcast_ref::<std::io::Error>().is_some() {
                e.context("writing the output")
            } else {
                e
            };
            let _ = writeln!(std::io::stderr(), "tchvision: error: {}", one_line(&e));
            if e.chain().any(|c| c.downcast_ref::<common::Usage>().is_some()) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// The first line of a message (libtorch appends C++ backtraces on further lines).
fn first_line(s: &str) -> &str {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

/// Whether a cause carries libtorch's text (whose further lines are a C++ backtrace).
fn is_libtorch(cause: &(dyn std::error::Error + 'static)) -> bool {
    use tchvision::error::Error;
    cause.downcast_ref::<tch::TchError>().is_some()
        || matches!(cause.downcast_ref::<Error>(), Some(Error::Torch { .. } | Error::Forward { .. }))
}

/// Where to see the whole of a list an error cut short.
fn whole_list_hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use tchvision::error::Error;
    match cause.downcast_ref::<Error>()? {
        Error::Unknown { what: "model", hint, .. } if hint.contains(" more ") => {
            Some("`tchvision list --json` lists every model")
        }
        Error::Unknown { what: "node", hint, .. } if hint.contains(" more ") => {
            Some("`tchvision summary ARCH --json` lists every module (node)")
        }
        Error::StrictLoad(s) if s.contains(" more") => Some("`tchvision load … --json` prints the whole report"),
        _ => None,
    }
}

/// The error chain on one line: causes joined by ": " (libtorch's cut to their first line,
/// causes the previous message already quotes left out), the OS's "(os error N)" suffixes
/// dropped, a pointer to the whole list where one was cut, and control characters escaped
/// (keys and file names come from files and must not break the line or drive the terminal).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut hint = None;
    for cause in e.chain() {
        let msg = cause.to_string();
        let msg = if is_libtorch(cause) { first_line(&msg).to_string() } else { msg.trim().to_string() };
        let msg = strip_os_error(&msg);
        hint = hint.or_else(|| whole_list_hint(cause));
        if msg.is_empty() || out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    if let Some(h) = hint {
        out.push_str("; ");
        out.push_str(h);
    }
    tchvision::error::printable(&out).into_owned()
}

/// `msg` without the " (os error N)" the standard library appends to system errors.
fn strip_os_error(msg: &str) -> String {
    match msg.rfind(" (os error ") {
        Some(i) if msg.ends_with(')') && msg[i + 11..msg.len() - 1].chars().all(|c| c.is_ascii_digit()) => {
            msg[..i].to_string()
        }
        _ => msg.to_string(),
    }
}
