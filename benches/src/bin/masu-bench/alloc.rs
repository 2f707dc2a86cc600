//! The allocators under comparison and how a workload process gets each one:
//! `LD_PRELOAD` of a shared library in front of `masu-work` (which uses
//! `malloc`), or a workload binary built with a `#[global_allocator]`.

use std::path::{Path, PathBuf};

/// How a child process gets its allocator.
#[derive(Clone, Debug)]
pub enum How {
    /// `masu-work` with this library in `LD_PRELOAD` (none: glibc).
    Preload(Option<PathBuf>),
    /// A workload binary with a `#[global_allocator]`.
    Binary(PathBuf),
}

/// One allocator, ready to run.
#[derive(Clone, Debug)]
pub struct Allocator {
    /// Short name used in tables, files and `--allocators`.
    pub name: &'static str,
    /// What it is (package and version, or crate).
    pub what: String,
    /// How a child gets it.
    pub how: How,
}

impl Allocator {
    /// The program to run and the `LD_PRELOAD` value, if any.
    pub fn program(&self, bin_dir: &Path) -> (PathBuf, Option<PathBuf>) {
        match &self.how {
            How::Preload(lib) => (bin_dir.join("masu-work"), lib.clone()),
            How::Binary(p) => (p.clone(), None),
        }
    }
}

/// An allocator that cannot run here, with what to do about it.
#[derive(Clone, Debug)]
pub struct Missing {
    /// Its name.
    pub name: &'static str,
    /// Why it is skipped and how to get it.
    pub why: String,
}

/// Every allocator the comparison knows, in table order.
pub const ALL: &[&str] = &[
    "glibc",
    "mimalloc",
    "jemalloc",
    "tcmalloc",
    "masu",
    "masu-rs",
    "mimalloc-rs",
    "jemalloc-rs",
];

/// The allocators of the short comparison (no crate that builds a C
/// allocator from source).
pub const QUICK: &[&str] = &[
    "glibc", "mimalloc", "jemalloc", "tcmalloc", "masu", "masu-rs",
];

/// The allocators masu's goals name: "within 1.10x of the best of these".
pub const PEERS: &[&str] = &["mimalloc", "jemalloc", "tcmalloc"];

/// The crate build that stands in for a Debian allocator that is not
/// installed, and the masu-bench feature that builds it.
pub fn stand_in(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "mimalloc" => Some(("mimalloc-rs", "rust-mimalloc")),
        "jemalloc" => Some(("jemalloc-rs", "rust-jemalloc")),
        _ => None,
    }
}

/// The allocators of the short comparison: [`QUICK`], with the crate build
/// of mimalloc or jemalloc (a C compiler is all it needs) in place of the
/// Debian package where `installed` says it is missing, so that a fresh
/// machine still compares masu with both.
pub fn quick_defaults(installed: impl Fn(&str) -> bool) -> Vec<String> {
    QUICK
        .iter()
        .map(|&n| match stand_in(n) {
            Some((rs, _)) if !installed(n) => rs.to_string(),
            _ => n.to_string(),
        })
        .collect()
}

/// Whether the Debian library of `name` is there (or given by its
/// `MASU_BENCH_*` variable; the value `none` means absent).
pub fn installed(name: &str) -> bool {
    debian_lib(name).is_some()
}

/// The reference every ratio is taken against: mimalloc, or its crate
/// build standing in for it.
pub fn reference(allocators: &[String]) -> &'static str {
    if allocators.iter().any(|a| a == "mimalloc") || !allocators.iter().any(|a| a == "mimalloc-rs")
    {
        "mimalloc"
    } else {
        "mimalloc-rs"
    }
}

/// The goals' peers present in `allocators`: [`PEERS`], each replaced by its
/// crate build when only that ran.
pub fn peers(allocators: &[String]) -> Vec<&'static str> {
    let has = |n: &str| allocators.iter().any(|a| a == n);
    PEERS
        .iter()
        .map(|&p| match stand_in(p) {
            Some((rs, _)) if !has(p) && has(rs) => rs,
            _ => p,
        })
        .collect()
}

/// The masu-bench features the allocators `names` need built.
pub fn features(names: &[String]) -> Vec<&'static str> {
    ["mimalloc", "jemalloc"]
        .iter()
        .filter_map(|n| stand_in(n))
        .filter(|(rs, _)| names.iter().any(|a| a == rs))
        .map(|(_, f)| f)
        .collect()
}

/// One sentence about each, for the tables' legends.
pub fn describe(name: &str) -> &'static str {
    match name {
        "glibc" => "glibc malloc (the system allocator, no LD_PRELOAD)",
        "mimalloc" => "Debian libmimalloc2.0, LD_PRELOAD",
        "jemalloc" => "Debian libjemalloc2, LD_PRELOAD",
        "tcmalloc" => "Debian libtcmalloc-minimal4, LD_PRELOAD",
        "masu" => "masu's libmasu.so (this tree, release), LD_PRELOAD",
        "masu-rs" => "masu::Masu as #[global_allocator] (this tree, release)",
        "mimalloc-rs" => {
            "the mimalloc crate (bundled mimalloc, built from source) as #[global_allocator]"
        }
        "jemalloc-rs" => {
            "the tikv-jemallocator crate (jemalloc built from source) as #[global_allocator]"
        }
        "masu-nostats" => "libmasu.so built without the `stats` feature, LD_PRELOAD",
        "masu-rs-nostats" => "masu::Masu built without the `stats` feature, #[global_allocator]",
        _ => "",
    }
}

/// The Debian package and library file of each `LD_PRELOAD` allocator.
fn debian(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "mimalloc" => Some(("libmimalloc2.0", "libmimalloc.so.2")),
        "jemalloc" => Some(("libjemalloc2", "libjemalloc.so.2")),
        "tcmalloc" => Some(("libtcmalloc-minimal4", "libtcmalloc_minimal.so.4")),
        _ => None,
    }
}

/// The Debian library of `name`: its `MASU_BENCH_*` variable if set (`none`:
/// absent), else where the usual directories have it.
fn debian_lib(name: &str) -> Option<PathBuf> {
    let (_, file) = debian(name)?;
    match std::env::var_os(format!("MASU_BENCH_{}", name.to_uppercase())) {
        Some(v) if v == "none" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => find_lib(file),
    }
}

/// Finds a shared library in the usual directories.
fn find_lib(file: &str) -> Option<PathBuf> {
    let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
    let dirs = [
        format!("/usr/lib/{multiarch}"),
        format!("/lib/{multiarch}"),
        "/usr/lib".to_string(),
        "/usr/local/lib".to_string(),
        "/usr/lib64".to_string(),
    ];
    dirs.iter()
        .map(|d| Path::new(d).join(file))
        .find(|p| p.exists())
}

/// The installed version of a Debian package, if `dpkg-query` knows it.
fn package_version(pkg: &str) -> Option<String> {
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", pkg])
        .output()
        .ok()?;
    let v = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// Resolves `names` against what is built and installed. `bin_dir` is the
/// cargo output directory (`target/release`).
pub fn resolve(names: &[String], bin_dir: &Path) -> (Vec<Allocator>, Vec<Missing>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for n in names {
        let Some(name) = ALL.iter().find(|a| **a == n.as_str()).copied() else {
            missing.push(Missing {
                name: "?",
                why: format!("unknown allocator {n:?} (known: {})", ALL.join(", ")),
            });
            continue;
        };
        let binary = |file: &str, how_to: &str| -> Result<Allocator, Missing> {
            let p = bin_dir.join(file);
            if p.exists() {
                Ok(Allocator {
                    name,
                    what: describe(name).to_string(),
                    how: How::Binary(p),
                })
            } else {
                Err(Missing {
                    name,
                    why: format!("{} not built ({how_to})", p.display()),
                })
            }
        };
        let r = match name {
            "glibc" => Ok(Allocator {
                name,
                what: format!(
                    "glibc {}",
                    package_version("libc6").unwrap_or_else(|| "(version unknown)".into())
                ),
                how: How::Preload(None),
            }),
            "mimalloc" | "jemalloc" | "tcmalloc" => {
                let (pkg, file) = debian(name).unwrap();
                let env = format!("MASU_BENCH_{}", name.to_uppercase());
                match debian_lib(name) {
                    Some(lib) => Ok(Allocator {
                        name,
                        what: format!(
                            "{pkg} {}, LD_PRELOAD",
                            package_version(pkg).unwrap_or_else(|| lib.display().to_string())
                        ),
                        how: How::Preload(Some(lib)),
                    }),
                    None => Err(Missing {
                        name,
                        why: format!(
                            "{file} not found: install it with `sudo apt-get install {pkg}` \
                             (or set {env}=/path/to/{file})"
                        ),
                    }),
                }
            }
            "masu" => {
                let lib = bin_dir.join("libmasu.so");
                if lib.exists() {
                    Ok(Allocator {
                        name,
                        what: describe(name).to_string(),
                        how: How::Preload(Some(lib)),
                    })
                } else {
                    Err(Missing {
                        name,
                        why: format!(
                            "{} not built (cargo build --release -p masu-capi)",
                            lib.display()
                        ),
                    })
                }
            }
            "masu-rs" => binary("masu-work-masu", "cargo build --release -p masu-bench"),
            "mimalloc-rs" => binary(
                "masu-work-mimalloc",
                "cargo build --release -p masu-bench --features rust-mimalloc",
            ),
            "jemalloc-rs" => binary(
                "masu-work-jemalloc",
                "cargo build --release -p masu-bench --features rust-jemalloc",
            ),
            _ => unreachable!(),
        };
        match r {
            Ok(a) => found.push(a),
            Err(m) => missing.push(m),
        }
    }
    (found, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_stand_in_for_missing_packages() {
        let all = quick_defaults(|_| true);
        assert_eq!(all, QUICK);
        assert_eq!(features(&all), Vec::<&str>::new());
        let fresh = quick_defaults(|n| n == "tcmalloc");
        assert_eq!(
            fresh,
            [
                "glibc",
                "mimalloc-rs",
                "jemalloc-rs",
                "tcmalloc",
                "masu",
                "masu-rs"
            ]
        );
        assert_eq!(features(&fresh), ["rust-mimalloc", "rust-jemalloc"]);
        assert_eq!(reference(&fresh), "mimalloc-rs");
        assert_eq!(peers(&fresh), ["mimalloc-rs", "jemalloc-rs", "tcmalloc"]);
        assert_eq!(reference(&all), "mimalloc");
        assert_eq!(peers(&all), PEERS);
    }
}
