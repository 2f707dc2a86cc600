//! Charts as SVG text: RSS over time (one line per allocator) and ratio bar
//! charts. Written by hand: a few hundred lines of SVG do not justify a
//! plotting dependency (and its build time) in every build of the crate.

use std::fmt::Write;

/// A fixed colour per allocator, so charts agree with each other.
pub fn colour(name: &str) -> &'static str {
    match name {
        "glibc" => "#7f7f7f",
        "mimalloc" => "#1f77b4",
        "jemalloc" => "#2ca02c",
        "tcmalloc" => "#ff7f0e",
        "masu" => "#d62728",
        "masu-rs" => "#8c1c13",
        "mimalloc-rs" => "#6baed6",
        "jemalloc-rs" => "#98df8a",
        "masu-nostats" => "#9467bd",
        "masu-rs-nostats" => "#c5b0d5",
        _ => "#17becf",
    }
}

fn dashed(name: &str) -> bool {
    name.ends_with("-rs") || name.ends_with("-nostats")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A "nice" tick step for a range of `span` with about `n` ticks.
fn step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn fmt_tick(v: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{v:.0}")
    } else if step >= 0.1 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

const W: f64 = 900.0;
const H: f64 = 480.0;
const L: f64 = 70.0;
const R: f64 = 190.0;
const T: f64 = 40.0;
const B: f64 = 50.0;

/// One line of a line chart.
pub struct Series {
    /// Legend name (also picks the colour).
    pub name: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// A line chart with vertical `marks` (label, x).
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    marks: &[(String, f64)],
) -> String {
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let pw = W - L - R;
    let ph = H - T - B;
    let sx = |x: f64| L + x / x_max * pw;
    let sy = |y: f64| T + ph - y / y_max * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>
"#,
        L + pw / 2.0,
        esc(title)
    );
    let xs = step(x_max, 8.0);
    let mut x = 0.0;
    while x <= x_max + 1e-9 {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#eee"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"##,
            sx(x),
            T,
            T + ph,
            T + ph + 16.0,
            fmt_tick(x, xs)
        );
        x += xs;
    }
    let ys = step(y_max, 6.0);
    let mut y = 0.0;
    while y <= y_max + 1e-9 {
        let _ = writeln!(
            s,
            r##"<line x1="{1}" y1="{0:.1}" x2="{2}" y2="{0:.1}" stroke="#eee"/><text x="{3}" y="{4:.1}" text-anchor="end">{5}</text>"##,
            sy(y),
            L,
            L + pw,
            L - 6.0,
            sy(y) + 4.0,
            fmt_tick(y, ys)
        );
        y += ys;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
        L + pw / 2.0,
        H - 12.0,
        esc(x_label),
        T + ph / 2.0,
        esc(y_label)
    );
    for (i, (label, x)) in marks.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#999" stroke-dasharray="2,3"/><text x="{3:.1}" y="{4}" fill="#666" font-size="10">{5}</text>"##,
            sx(*x),
            T,
            T + ph,
            sx(*x) + 3.0,
            T + 12.0 + 12.0 * i as f64,
            esc(label)
        );
    }
    for (i, ser) in series.iter().enumerate() {
        let mut pts = String::new();
        for (x, y) in &ser.points {
            let _ = write!(pts, "{:.1},{:.1} ", sx(*x), sy(*y));
        }
        let dash = if dashed(&ser.name) {
            r#" stroke-dasharray="6,3""#
        } else {
            ""
        };
        let c = colour(&ser.name);
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="1.6"{dash} points="{pts}"/>"#
        );
        let ly = T + 10.0 + i as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{c}" stroke-width="3"{dash}/><text x="{3}" y="{4}">{5}</text>"#,
            L + pw + 12.0,
            ly,
            L + pw + 36.0,
            L + pw + 42.0,
            ly + 4.0,
            esc(&ser.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Grouped bars of ratios on a log2 scale around 1 (bars go up when worse
/// than the reference, down when better). `groups`: (label, [(allocator,
/// ratio)]).
pub fn ratio_bars(title: &str, groups: &[(String, Vec<(String, f64)>)]) -> String {
    let vals: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.1.iter().map(|b| b.1))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let lmax = vals.iter().map(|v| v.log2()).fold(0.25f64, f64::max);
    let lmin = vals.iter().map(|v| v.log2()).fold(-0.25f64, f64::min);
    let (lmax, lmin) = (lmax.ceil().max(0.5), lmin.floor().min(-0.5));
    let names: Vec<String> = {
        let mut n: Vec<String> = Vec::new();
        for g in groups {
            for (a, _) in &g.1 {
                if !n.contains(a) {
                    n.push(a.clone());
                }
            }
        }
        n
    };
    let pw = W - L - R;
    let ph = H - T - B - 20.0;
    let sy = |l: f64| T + (lmax - l) / (lmax - lmin) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>
"#,
        L + pw / 2.0,
        esc(title)
    );
    let mut l = lmin;
    while l <= lmax + 1e-9 {
        let v = 2f64.powf(l);
        let label = if v >= 1.0 {
            format!("{v:.0}×")
        } else {
            format!("1/{:.0}×", 1.0 / v)
        };
        let _ = writeln!(
            s,
            r##"<line x1="{1}" y1="{0:.1}" x2="{2}" y2="{0:.1}" stroke="{3}"/><text x="{4}" y="{5:.1}" text-anchor="end">{6}</text>"##,
            sy(l),
            L,
            L + pw,
            if l == 0.0 { "#333" } else { "#eee" },
            L - 6.0,
            sy(l) + 4.0,
            label
        );
        l += 1.0;
    }
    for pct in [0.9f64, 1.1] {
        let _ = writeln!(
            s,
            r##"<line x1="{1}" y1="{0:.1}" x2="{2}" y2="{0:.1}" stroke="#bbb" stroke-dasharray="3,3"/>"##,
            sy(pct.log2()),
            L,
            L + pw
        );
    }
    let gw = pw / groups.len().max(1) as f64;
    let bw = (gw * 0.8 / names.len().max(1) as f64).min(28.0);
    for (gi, (label, bars)) in groups.iter().enumerate() {
        let gx = L + gi as f64 * gw + (gw - bw * names.len() as f64) / 2.0;
        for (a, v) in bars {
            if !(v.is_finite() && *v > 0.0) {
                continue;
            }
            let bi = names.iter().position(|n| n == a).unwrap_or(0);
            let (y0, y1) = (sy(0.0), sy(v.log2()));
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {:.3}</title></rect>"#,
                gx + bi as f64 * bw,
                y0.min(y1),
                bw - 1.0,
                (y1 - y0).abs().max(0.5),
                colour(a),
                esc(label),
                esc(a),
                v
            );
        }
        // Labels alternate between two lines so long names do not overlap.
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            L + gi as f64 * gw + gw / 2.0,
            T + ph + 18.0 + 14.0 * (gi % 2) as f64,
            esc(label)
        );
    }
    for (i, n) in names.iter().enumerate() {
        let ly = T + 10.0 + i as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="14" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            L + pw + 12.0,
            ly - 6.0,
            colour(n),
            L + pw + 32.0,
            ly + 4.0,
            esc(n)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">log scale; below the 1× line is better than the reference; dashed lines: ±10 %</text>"##,
        L + pw / 2.0,
        H - 10.0
    );
    s.push_str("</svg>\n");
    s
}

/// One bar of a [`percent_bars`] chart.
pub struct Bar {
    /// Legend entry (bars of the same name share a colour and a slot).
    pub name: String,
    /// Fill colour.
    pub colour: &'static str,
    /// The value, in percent.
    pub value: f64,
    /// An interval around it (drawn as a whisker), in percent.
    pub interval: Option<(f64, f64)>,
}

/// Grouped bars of percentages on a linear scale around 0, each labelled
/// with its value, whiskers for intervals, and a dashed line at `goal`
/// (value, label). `groups`: (label, bars).
pub fn percent_bars(
    title: &str,
    y_label: &str,
    groups: &[(String, Vec<Bar>)],
    goal: Option<(f64, &str)>,
    note: &str,
) -> String {
    let mut vals: Vec<f64> = vec![0.0];
    for (_, bars) in groups {
        for b in bars {
            vals.push(b.value);
            if let Some((lo, hi)) = b.interval {
                vals.extend([lo, hi]);
            }
        }
    }
    if let Some((g, _)) = goal {
        vals.push(g);
    }
    vals.retain(|v| v.is_finite());
    let (mut lo, mut hi) = vals
        .iter()
        .fold((0.0f64, 0.0f64), |(a, b), v| (a.min(*v), b.max(*v)));
    // At least 2 percentage points tall, with some room around the bars.
    let pad = ((hi - lo) * 0.1).max(0.25);
    lo -= pad;
    hi += pad;
    if hi - lo < 2.0 {
        let c = (hi - lo - 2.0) / 2.0;
        hi -= c;
        lo += c;
    }
    let ys = step(hi - lo, 8.0);
    let (lo, hi) = ((lo / ys).floor() * ys, (hi / ys).ceil() * ys);
    let names: Vec<(String, &'static str)> = {
        let mut n: Vec<(String, &'static str)> = Vec::new();
        for (_, bars) in groups {
            for b in bars {
                if !n.iter().any(|x| x.0 == b.name) {
                    n.push((b.name.clone(), b.colour));
                }
            }
        }
        n
    };
    let pw = W - L - R;
    let ph = H - T - B - 20.0;
    let sy = |v: f64| T + (hi - v) / (hi - lo) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>
<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>
"#,
        L + pw / 2.0,
        esc(title),
        T + ph / 2.0,
        esc(y_label)
    );
    let mut v = lo;
    while v <= hi + 1e-9 {
        let zero = v.abs() < ys * 1e-6;
        let _ = writeln!(
            s,
            r##"<line x1="{1}" y1="{0:.1}" x2="{2}" y2="{0:.1}" stroke="{3}"/><text x="{4}" y="{5:.1}" text-anchor="end">{6} %</text>"##,
            sy(v),
            L,
            L + pw,
            if zero { "#333" } else { "#eee" },
            L - 6.0,
            sy(v) + 4.0,
            if zero {
                "0".to_string()
            } else if v > 0.0 {
                format!("+{}", fmt_tick(v, ys))
            } else {
                fmt_tick(v, ys)
            }
        );
        v += ys;
    }
    if let Some((g, label)) = goal {
        let ly = T + 10.0 + names.len() as f64 * 18.0;
        let _ = writeln!(
            s,
            r##"<line x1="{1}" y1="{0:.1}" x2="{2}" y2="{0:.1}" stroke="#d62728" stroke-dasharray="6,4"/><line x1="{8}" y1="{3}" x2="{4}" y2="{3}" stroke="#d62728" stroke-dasharray="6,4"/><text x="{5}" y="{6}">{7}</text>"##,
            sy(g),
            L,
            L + pw,
            ly,
            L + pw + 26.0,
            L + pw + 32.0,
            ly + 4.0,
            esc(label),
            L + pw + 12.0,
        );
    }
    let gw = pw / groups.len().max(1) as f64;
    let bw = (gw * 0.7 / names.len().max(1) as f64).min(60.0);
    for (gi, (label, bars)) in groups.iter().enumerate() {
        let gx = L + gi as f64 * gw + (gw - bw * names.len() as f64) / 2.0;
        for b in bars {
            if !b.value.is_finite() {
                continue;
            }
            let bi = names.iter().position(|n| n.0 == b.name).unwrap_or(0);
            let x = gx + bi as f64 * bw;
            let (y0, y1) = (sy(0.0), sy(b.value));
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {:+.2} %</title></rect>"#,
                x + 2.0,
                y0.min(y1),
                bw - 4.0,
                (y1 - y0).abs().max(0.5),
                b.colour,
                esc(label),
                esc(&b.name),
                b.value
            );
            let cx = x + bw / 2.0;
            let mut label_y = if b.value >= 0.0 { y1 - 5.0 } else { y1 + 14.0 };
            if let Some((lo, hi)) = b.interval {
                let (ylo, yhi) = (sy(lo), sy(hi));
                let _ = writeln!(
                    s,
                    r##"<line x1="{cx:.1}" y1="{ylo:.1}" x2="{cx:.1}" y2="{yhi:.1}" stroke="#222" stroke-width="1.4"/><line x1="{0:.1}" y1="{ylo:.1}" x2="{1:.1}" y2="{ylo:.1}" stroke="#222"/><line x1="{0:.1}" y1="{yhi:.1}" x2="{1:.1}" y2="{yhi:.1}" stroke="#222"/>"##,
                    cx - 6.0,
                    cx + 6.0
                );
                label_y = if b.value >= 0.0 {
                    label_y.min(yhi - 5.0)
                } else {
                    label_y.max(ylo + 14.0)
                };
            }
            let _ = writeln!(
                s,
                r#"<text x="{cx:.1}" y="{label_y:.1}" text-anchor="middle" font-size="11">{:+.2} %</text>"#,
                b.value
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            L + gi as f64 * gw + gw / 2.0,
            T + ph + 18.0 + 14.0 * (gi % 2) as f64 * (groups.len() > 4) as u8 as f64,
            esc(label)
        );
    }
    for (i, (n, c)) in names.iter().enumerate() {
        let ly = T + 10.0 + i as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="14" height="12" fill="{c}"/><text x="{}" y="{}">{}</text>"#,
            L + pw + 12.0,
            ly - 6.0,
            L + pw + 32.0,
            ly + 4.0,
            esc(n)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
        L + pw / 2.0,
        H - 10.0,
        esc(note)
    );
    s.push_str("</svg>\n");
    s
}
