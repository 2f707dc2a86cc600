//! Helpers shared by the shim's integration tests.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>` of the running test binary.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The example `name` of this crate built with `feature`: the one cargo
/// built beside the tests when they run with that feature
/// (`tests_have_it`), or else a nested `cargo build` into
/// `target/masu-<feature>` (a target directory of its own, so it does not
/// wait for the lock of the running build).
pub fn example_built_with(name: &str, feature: &str, tests_have_it: bool) -> PathBuf {
    let built = profile_dir().join("examples").join(name);
    if tests_have_it && built.exists() {
        return built;
    }
    let target = profile_dir()
        .parent()
        .unwrap()
        .join(format!("masu-{feature}"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "masu", "--features", feature])
        .args(["--example", name, "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the {name} example failed");
    target.join("debug").join("examples").join(name)
}
