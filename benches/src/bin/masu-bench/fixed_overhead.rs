//! The `fixed-overhead` mode: the resident set of a process that makes one
//! allocation, per allocator.

use crate::cli::Opts;
use crate::env::{dirs, header, loadavg};
use crate::progress::Progress;
use crate::runs::run_one;
use crate::{allocators, ctx_for, median, report, skipped_note};

pub fn fixed_overhead(o: &Opts) -> Result<(), String> {
    let (bin_dir, _) = dirs();
    let (allocs, missing) = allocators(o, &bin_dir);
    let reps = o.reps.unwrap_or(5);
    let ctx = ctx_for(o, &allocs, vec!["tiny".into()], reps);
    std::fs::create_dir_all(&ctx.out).map_err(|e| e.to_string())?;
    let load = loadavg();
    let mut bar = Progress::new("fixed-overhead", reps * allocs.len());
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let mut csv = String::from("allocator,rep,rss_after_alloc_kb,rss_hwm_kb\n");
    for a in &allocs {
        let (mut rss, mut hwm) = (Vec::new(), Vec::new());
        for rep in 0..reps {
            let label = format!("tiny · {} · run {}/{reps}", a.name, rep + 1);
            bar.start(&label);
            let r = run_one(&ctx, a, "tiny", rep, &[]);
            let v = r
                .out
                .result
                .get("rss_kb")
                .and_then(|v| v.parse::<f64>().ok());
            if let (true, Some(v)) = (r.ok, v) {
                rss.push(v);
                hwm.push(r.out.hwm_kb as f64);
                csv.push_str(&format!("{},{rep},{v},{}\n", a.name, r.out.hwm_kb));
            }
            bar.finish(&label, &r.status);
        }
        rows.push((a.name.to_string(), median(rss), median(hwm)));
    }
    bar.close();
    let glibc = rows.iter().find(|r| r.0 == "glibc").map(|r| (r.1, r.2));
    let mut md = header(&ctx, "Fixed overhead", &format!("{load} / {}", loadavg()));
    md.push_str(&skipped_note(&missing));
    md.push_str("A process (`masu-work tiny`, a Rust program) makes one 16-byte allocation and reads its own resident set (`/proc/self/statm`); `peak` is its `VmHWM` just before exit. Medians; the difference is to glibc in the same binary (the `-rs` rows are other binaries, of about the same size). Goal: masu < 64 KiB more than glibc.\n\n| allocator | RSS after one allocation KiB | peak KiB | − glibc KiB | − glibc, peak KiB |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (n, r, h) in &rows {
        let (dr, dh) = glibc.map_or((f64::NAN, f64::NAN), |g| (r - g.0, h - g.1));
        md.push_str(&format!(
            "| {n} | {r:.0} | {h:.0} | {dr:+.0} | {dh:+.0} |\n"
        ));
    }
    for m in ["masu", "masu-rs"] {
        if let (Some(x), Some(g)) = (rows.iter().find(|r| r.0 == m), glibc) {
            md.push_str(&format!(
                "\nGoal, {m}: {:+.0} KiB after the allocation, {:+.0} KiB at the peak — {}.\n",
                x.1 - g.0,
                x.2 - g.1,
                if x.1 - g.0 < 64.0 && x.2 - g.1 < 64.0 {
                    "**met**"
                } else {
                    "**missed**"
                }
            ));
        }
    }
    println!("\n{md}");
    report::section(&ctx.out, "fixed-overhead.csv", &csv)?;
    report::section(&ctx.out, "fixed-overhead.md", &md)?;
    report::readme(&ctx.out)
}
