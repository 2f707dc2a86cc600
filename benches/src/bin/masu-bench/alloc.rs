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

/// The reference every ratio is taken against.
pub const REFERENCE: &str = "mimalloc";

/// The allocators masu's goals name: "within 1.10x of the best of these".
pub const PEERS: &[&str] = &["mimalloc", "jemalloc", "tcmalloc"];

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
                let lib = std::env::var_os(&env)
                    .map(PathBuf::from)
                    .or_else(|| find_lib(file));
                match lib {
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
                "cargo build --release -p masu-bench --features rust-allocators",
            ),
            "jemalloc-rs" => binary(
                "masu-work-jemalloc",
                "cargo build --release -p masu-bench --features rust-allocators",
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
