//! The lookup of published weights in torch's hub cache, with `TORCH_HOME` (and
//! `XDG_CACHE_HOME`, `HOME`) pointing at temporary folders: the folder is the one torch itself
//! uses (`torch.hub.get_dir()`), a file there is found and verified, and the CLI finds it (or
//! says where it looked) through the same variables.
//!
//! One test in its own binary: it changes the process environment, which no other test may see.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use tchvision::models::weights::{find_weights, sha256_prefix, torch_hub_checkpoints, PublishedWeights};
use tchvision::registry::lookup_weights as lookup;

const VARS: [&str; 3] = ["TORCH_HOME", "XDG_CACHE_HOME", "HOME"];

/// Sets (Some) or removes (None) the three variables in this process.
fn set_env(values: [Option<&Path>; 3]) {
    for (k, v) in VARS.iter().zip(values) {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
}

/// torch's `torch.hub.get_dir()` + "/checkpoints" under the same three variables.
fn torch_hub_dir(values: [Option<&Path>; 3]) -> PathBuf {
    let mut cmd = Command::new(common::python());
    cmd.args(["-c", "import os, torch.hub; print(os.path.join(torch.hub.get_dir(), 'checkpoints'))"]);
    for (k, v) in VARS.iter().zip(values) {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "python: {}", String::from_utf8_lossy(&o.stderr));
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

#[test]
fn hub_cache_lookup_follows_torch_home() {
    let saved: Vec<Option<std::ffi::OsString>> = VARS.iter().map(std::env::var_os).collect();
    let home = tempfile::tempdir().unwrap();
    let torch_home = tempfile::tempdir().unwrap();
    let xdg = tempfile::tempdir().unwrap();
    let (h, t, x) = (Some(home.path()), Some(torch_home.path()), Some(xdg.path()));

    // The folder is torch's, whichever variables are set.
    for values in [[t, x, h], [None, x, h], [None, None, h]] {
        set_env(values);
        assert_eq!(
            torch_hub_checkpoints().unwrap(),
            torch_hub_dir(values),
            "TORCH_HOME, XDG_CACHE_HOME, HOME = {values:?}"
        );
    }
    // `~` in TORCH_HOME is the home folder, as torch expands it.
    let tilde = PathBuf::from("~/th");
    set_env([Some(&tilde), None, h]);
    assert_eq!(torch_hub_checkpoints().unwrap(), torch_hub_dir([Some(&tilde), None, h]));
    assert_eq!(torch_hub_checkpoints().unwrap(), home.path().join("th/hub/checkpoints"));

    // A file in $TORCH_HOME/hub/checkpoints is found with no other folder given, and verified.
    set_env([t, x, h]);
    let hub = torch_home.path().join("hub/checkpoints");
    std::fs::create_dir_all(&hub).unwrap();
    let src = common::fixture("cli/resnet18.pth");
    let prefix = sha256_prefix(&src, 8).unwrap();
    let name: &'static str = Box::leak(format!("resnet18-{prefix}.pth").into_boxed_str());
    std::fs::copy(&src, hub.join(name)).unwrap();
    let w = PublishedWeights { file: name, ..*lookup("resnet18", "imagenet1k_v1").unwrap() };
    assert_eq!(find_weights(&w, &[]).unwrap(), hub.join(name));
    // A folder given explicitly is searched first.
    let first = tempfile::tempdir().unwrap();
    std::fs::copy(&src, first.path().join(name)).unwrap();
    assert_eq!(find_weights(&w, &[first.path().to_path_buf()]).unwrap(), first.path().join(name));
    // The real name of torchvision's file, with other content: refused, naming both hashes.
    let real = lookup("resnet18", "imagenet1k_v1").unwrap();
    std::fs::copy(&src, hub.join(real.file)).unwrap();
    let err = find_weights(real, &[]).unwrap_err().to_string();
    assert!(err.contains(real.hash_prefix()) && err.contains(&prefix), "{err}");
    // Not there: the error names the hub folder it searched.
    let missing = lookup("resnet34", "default").unwrap();
    let err = find_weights(missing, &[]).unwrap_err().to_string();
    assert!(err.contains(&hub.display().to_string()) && err.contains(missing.file), "{err}");

    // The binary, with only its own environment changed.
    let cli = |torch_home: &Path| {
        Command::new(env!("CARGO_BIN_EXE_tchvision"))
            .args(["predict", "resnet18", "--weights", "imagenet1k_v1", "--device", "cpu"])
            .arg(common::root().join("examples/images/chelsea.png"))
            .env("TORCH_HOME", torch_home)
            .output()
            .unwrap()
    };
    let o = cli(torch_home.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(real.hash_prefix()) && err.contains(&prefix), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let o = cli(empty.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "no weights anywhere");
    assert!(err.contains(&empty.path().join("hub/checkpoints").display().to_string()), "{err}");

    for (k, v) in VARS.iter().zip(saved) {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
}
