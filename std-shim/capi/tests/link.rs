//! `libmasu.so` as a C library linked at build time (not preloaded): a C
//! program includes `include/masu.h`, links with `-lmasu`, finds the library
//! at run time by its soname `libmasu.so.0`, allocates through masu and
//! calls masu's own functions.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn a_c_program_links_with_lmasu_and_masu_h() {
    let lib = common::libmasu();
    // A directory laid out as `scripts/install-libmasu` lays out PREFIX/lib.
    let dir = lib.parent().unwrap().join("link-test");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["libmasu.so", "libmasu.so.0"] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&lib, &link).unwrap();
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = dir.join("link.c");
    std::fs::write(
        &src,
        "#include <masu.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\
         int main(void) {\n  char *p = malloc(1000);\n  memset(p, 7, 1000);\n  free(p);\n\
         masu_collect(1);\n  masu_stats_print();\n  puts(\"linked ok\");\n  return 0;\n}\n",
    )
    .unwrap();
    let exe = dir.join("link");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(&src)
        .arg("-L")
        .arg(&dir)
        .arg("-lmasu")
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("run the C compiler");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The executable names the soname, not the file it was linked with.
    let dynamic = Command::new("readelf").arg("-d").arg(&exe).output();
    if let Ok(d) = dynamic {
        let text = String::from_utf8_lossy(&d.stdout);
        assert!(text.contains("[libmasu.so.0]"), "{text}");
    }
    let run = Command::new(&exe)
        .env("LD_LIBRARY_PATH", &dir)
        .env_remove("LD_PRELOAD")
        .output()
        .expect("run the linked program");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("linked ok"), "{stdout}");
    // The report comes from masu: the program's malloc reached it.
    assert!(stderr.contains("masu statistics"), "{stderr}");
    assert!(stderr.contains("blocks allocated"), "{stderr}");
}
