//! One child process run of a workload, and the medians over runs.

use crate::alloc::Allocator;
use crate::{child, median, Ctx, Run, Summary};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub fn run_one(ctx: &Ctx, a: &Allocator, workload: &str, rep: usize, extra_args: &[String]) -> Run {
    run_one_with(ctx, a, workload, rep, extra_args, &[])
}

/// [`run_one`] through a `wrapper` command that execs the workload (for
/// instance `taskset -c 1`); none if empty.
pub fn run_one_with(
    ctx: &Ctx,
    a: &Allocator,
    workload: &str,
    rep: usize,
    extra_args: &[String],
    wrapper: &[String],
) -> Run {
    let (program, preload) = a.program(&ctx.bin_dir);
    let mut args = vec![workload.to_string(), ctx.scale.clone()];
    args.extend_from_slice(extra_args);
    let timeout = Duration::from_secs(if ctx.scale == "full" { 600 } else { 120 });
    let out = match wrapper.split_first() {
        None => child::run(&program, &args, preload.as_deref(), &[], timeout),
        Some((first, rest)) => {
            let mut all: Vec<String> = rest.to_vec();
            all.push(program.to_string_lossy().into_owned());
            all.extend(args);
            child::run(Path::new(first), &all, preload.as_deref(), &[], timeout)
        }
    };
    let (rss_mean, rss_p95, rss_max_sampled) = child::rss_stats(&out.samples);
    let num = |k: &str| out.result.get(k).and_then(|v| v.parse::<f64>().ok());
    let secs = num("secs").unwrap_or(f64::NAN);
    let ops = num("ops").unwrap_or(0.0) as u64;
    let mut status = out.status.clone();
    let mut ok = out.ok;
    if ok && out.result.get("corrupt").is_some_and(|c| c != "0") {
        ok = false;
        status = "corrupt contents".into();
    }
    if !ok && !out.stderr_tail.is_empty() {
        let last = out.stderr_tail.lines().last().unwrap_or("");
        status = format!("{status}: {last}");
    }
    Run {
        workload: workload.to_string(),
        alloc: a.name.to_string(),
        rep,
        checksum: out.result.get("checksum").cloned().unwrap_or_default(),
        ok,
        status,
        secs,
        ops,
        ops_per_s: if secs > 0.0 {
            ops as f64 / secs
        } else {
            f64::NAN
        },
        rss_mean,
        rss_p95,
        rss_max_sampled,
        out,
    }
}

/// Marks runs whose checksum differs from the one most runs of their
/// workload agree on: an allocator that lost or corrupted a block.
pub fn check_checksums(runs: &mut [Run]) {
    let mut by_workload: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.ok) {
        *by_workload
            .entry(r.workload.clone())
            .or_default()
            .entry(r.checksum.clone())
            .or_default() += 1;
    }
    for r in runs.iter_mut().filter(|r| r.ok) {
        let common = by_workload[&r.workload]
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(c, _)| c.clone());
        if common.as_ref() != Some(&r.checksum) {
            r.ok = false;
            r.status = format!(
                "checksum {} differs from the other allocators' {}",
                r.checksum,
                common.unwrap_or_default()
            );
        }
    }
}

pub fn summarize(ctx: &Ctx, runs: &[Run]) -> Vec<Summary> {
    let mut sums = Vec::new();
    for w in &ctx.workloads {
        for a in &ctx.allocators {
            let all: Vec<&Run> = runs
                .iter()
                .filter(|r| &r.workload == w && &r.alloc == a)
                .collect();
            if all.is_empty() {
                continue;
            }
            let ok: Vec<&Run> = all.iter().copied().filter(|r| r.ok).collect();
            let m = |f: &dyn Fn(&Run) -> f64| median(ok.iter().map(|r| f(r)).collect());
            let mut extra = BTreeMap::new();
            if let Some(first) = ok.first() {
                for k in first.out.result.keys() {
                    if ["workload", "ops", "secs", "checksum", "corrupt"].contains(&k.as_str()) {
                        continue;
                    }
                    let vals: Vec<f64> = ok
                        .iter()
                        .filter_map(|r| r.out.result.get(k))
                        .filter_map(|v| {
                            if v == "never" {
                                Some(f64::INFINITY)
                            } else {
                                v.parse().ok()
                            }
                        })
                        .collect();
                    if vals.len() == ok.len() {
                        extra.insert(k.clone(), median(vals));
                    }
                }
            }
            sums.push(Summary {
                workload: w.clone(),
                alloc: a.clone(),
                runs: all.len(),
                ok: ok.len(),
                failure: all
                    .iter()
                    .find(|r| !r.ok)
                    .map(|r| r.status.clone())
                    .unwrap_or_default(),
                secs: m(&|r| r.secs),
                ops_per_s: m(&|r| r.ops_per_s),
                rss_mean: m(&|r| r.rss_mean),
                rss_p95: m(&|r| r.rss_p95 as f64),
                rss_max: m(&|r| r.out.hwm_kb as f64),
                extra,
            });
        }
    }
    sums
}

/// The run of `w`/`a` whose time is the median (for the charts).
pub fn median_run<'a>(runs: &'a [Run], w: &str, a: &str) -> Option<&'a Run> {
    let mut ok: Vec<&Run> = runs
        .iter()
        .filter(|r| r.workload == w && r.alloc == a && r.ok)
        .collect();
    ok.sort_by(|x, y| x.secs.total_cmp(&y.secs));
    ok.get(ok.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(w: &str, a: &str, checksum: &str) -> Run {
        Run {
            workload: w.into(),
            alloc: a.into(),
            rep: 0,
            out: child::Output::default(),
            ok: true,
            status: "ok".into(),
            secs: 1.0,
            ops: 1,
            ops_per_s: 1.0,
            rss_mean: 0.0,
            rss_p95: 0,
            rss_max_sampled: 0,
            checksum: checksum.into(),
        }
    }

    #[test]
    fn a_differing_checksum_fails_its_run() {
        let mut runs = vec![
            run("dist", "glibc", "0x1"),
            run("dist", "mimalloc", "0x1"),
            run("dist", "broken", "0x2"),
            run("server", "broken", "0x3"),
        ];
        check_checksums(&mut runs);
        assert!(runs[0].ok && runs[1].ok && runs[3].ok);
        assert!(!runs[2].ok);
        assert!(runs[2].status.contains("differs"), "{}", runs[2].status);
    }
}
