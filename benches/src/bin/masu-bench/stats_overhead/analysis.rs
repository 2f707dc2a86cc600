//! From the runs to the figures: pairs, their ratios, quantiles and the
//! bootstrap interval of the median, and the table row of each workload
//! and build.

use super::instructions::Count;
use super::{Variant, BOOTSTRAP, GOAL_PCT, MIN_PAIRS_FOR_INTERVAL};
use crate::Run;
use masu_bench::Rng;

/// The sorted sample's `q` quantile, interpolating linearly between order
/// statistics (R's type 7).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let (i, f) = (h.floor() as usize, h - h.floor());
    if i + 1 < sorted.len() {
        sorted[i] + f * (sorted[i + 1] - sorted[i])
    } else {
        sorted[i]
    }
}

pub fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// A 95 % percentile-bootstrap interval of the median of `v` (fixed seed:
/// the same data give the same interval).
pub fn bootstrap_median(v: &[f64], resamples: usize) -> (f64, f64) {
    if v.len() < 2 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = Rng::with_seed(0x5747_5f6f_7665_7268);
    let mut medians = Vec::with_capacity(resamples);
    let mut sample = vec![0.0; v.len()];
    for _ in 0..resamples {
        for x in sample.iter_mut() {
            *x = v[rng.u64(..v.len() as u64) as usize];
        }
        sample.sort_by(f64::total_cmp);
        medians.push(quantile(&sample, 0.5));
    }
    medians.sort_by(f64::total_cmp);
    (quantile(&medians, 0.025), quantile(&medians, 0.975))
}

/// One pair of runs.
pub struct Pair {
    pub index: usize,
    pub with_first: bool,
    pub with: f64,
    pub without: f64,
}

/// Everything measured for one workload and build.
pub struct Row {
    pub workload: String,
    pub variant: &'static str,
    pub pairs: Vec<Pair>,
    /// Pairs planned.
    pub planned: usize,
    pub secs_with: f64,
    pub secs_without: f64,
    pub ops_with: f64,
    pub ops_without: f64,
    pub ratio_of_medians: f64,
    pub median_ratio: f64,
    pub q1: f64,
    pub q3: f64,
    pub boot: (f64, f64),
    pub slower: usize,
    pub count: Option<Result<Count, String>>,
}

pub fn pct(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:+.2} %", (ratio - 1.0) * 100.0)
    } else {
        "-".into()
    }
}

pub fn pct_range(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() {
        format!("{:+.2} to {:+.2} %", (a - 1.0) * 100.0, (b - 1.0) * 100.0)
    } else {
        "-".into()
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

impl Row {
    pub fn verdict(&self) -> String {
        let m = (self.median_ratio - 1.0) * 100.0;
        let hi = (self.boot.1 - 1.0) * 100.0;
        if !m.is_finite() {
            "no result".into()
        } else if m >= GOAL_PCT {
            "**missed**".into()
        } else if hi < GOAL_PCT {
            "**met** (the 95 % interval too)".into()
        } else if hi.is_finite() {
            format!("**met** by the median; the 95 % interval reaches {hi:+.2} %")
        } else {
            "**met** by the median (too few pairs for an interval)".into()
        }
    }

    pub fn cells(&self) -> Vec<String> {
        let f = |v: f64| {
            if v.is_finite() {
                format!("{v:.3}")
            } else {
                "-".into()
            }
        };
        vec![
            self.workload.clone(),
            self.variant.to_string(),
            format!("{}/{}", self.pairs.len(), self.planned),
            f(self.secs_with),
            f(self.secs_without),
            pct(self.ratio_of_medians),
            pct(self.median_ratio),
            pct_range(self.q1, self.q3),
            pct_range(self.boot.0, self.boot.1),
            format!("{}/{}", self.slower, self.pairs.len()),
        ]
    }
}

pub const HEAD: [&str; 10] = [
    "workload",
    "build",
    "pairs",
    "with stats s",
    "without s",
    "ratio of medians",
    "median pair ratio",
    "IQR of pair ratios",
    "95 % interval (bootstrap)",
    "slower with stats",
];

pub fn analyse(workload: &str, v: &Variant, runs: &[Run], firsts: &[bool], reps: usize) -> Row {
    let mut pairs = Vec::new();
    for p in 0..reps {
        let find = |name: &str| {
            runs.iter()
                .zip(firsts)
                .find(|(r, _)| r.workload == workload && r.alloc == name && r.rep == p)
        };
        if let (Some((w, wf)), Some((wo, _))) = (find(v.on.name), find(v.off.name)) {
            if w.ok && wo.ok {
                pairs.push(Pair {
                    index: p,
                    with_first: *wf,
                    with: w.secs,
                    without: wo.secs,
                });
            }
        }
    }
    let ops_of = |name: &str| -> f64 {
        crate::median(
            runs.iter()
                .filter(|r| r.workload == workload && r.alloc == name && r.ok)
                .map(|r| r.ops_per_s)
                .collect(),
        )
    };
    let with: Vec<f64> = pairs.iter().map(|p| p.with).collect();
    let without: Vec<f64> = pairs.iter().map(|p| p.without).collect();
    let ratios: Vec<f64> = pairs.iter().map(|p| p.with / p.without).collect();
    let rs = sorted(&ratios);
    let (secs_with, secs_without) = (crate::median(with), crate::median(without));
    Row {
        workload: workload.to_string(),
        variant: v.name,
        planned: reps,
        secs_with,
        secs_without,
        ops_with: ops_of(v.on.name),
        ops_without: ops_of(v.off.name),
        ratio_of_medians: secs_with / secs_without,
        median_ratio: quantile(&rs, 0.5),
        q1: quantile(&rs, 0.25),
        q3: quantile(&rs, 0.75),
        boot: if ratios.len() >= MIN_PAIRS_FOR_INTERVAL {
            bootstrap_median(&ratios, BOOTSTRAP)
        } else {
            (f64::NAN, f64::NAN)
        },
        slower: ratios.iter().filter(|r| **r > 1.0).count(),
        pairs,
        count: None,
    }
}

/// A row per workload and build, in that order.
pub fn analyse_all(
    workloads: &[String],
    variants: &[Variant],
    runs: &[Run],
    firsts: &[bool],
    reps: usize,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for w in workloads {
        for v in variants {
            rows.push(analyse(w, v, runs, firsts, reps));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.25), 1.75);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert_eq!(quantile(&[7.0], 0.75), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn the_bootstrap_interval_holds_the_median_and_is_reproducible() {
        let v: Vec<f64> = (0..21).map(|i| 1.0 + (i as f64 - 10.0) * 0.001).collect();
        let (lo, hi) = bootstrap_median(&v, 2000);
        assert!(lo < 1.0 && 1.0 < hi, "{lo} {hi}");
        assert!(lo >= 0.99 && hi <= 1.01, "{lo} {hi}");
        assert_eq!(bootstrap_median(&v, 2000), (lo, hi));
        // All equal: a zero-width interval.
        assert_eq!(bootstrap_median(&[1.5; 5], 100), (1.5, 1.5));
        assert!(bootstrap_median(&[1.0], 100).0.is_nan());
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn percentages_of_ratios() {
        assert_eq!(pct(1.0123), "+1.23 %");
        assert_eq!(pct(0.99), "-1.00 %");
        assert_eq!(pct(f64::NAN), "-");
        assert_eq!(pct_range(0.995, 1.01), "-0.50 to +1.00 %");
    }
}
