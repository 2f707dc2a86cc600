//! The charts, drawn with `plotters` into SVG text: resident set over time
//! (a line per allocator), ratio bars (log scale around 1) and percentage
//! bars with whiskers.

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width and height of every chart, pixels.
const SIZE: (u32, u32) = (900, 480);

/// A fixed colour per allocator, so charts agree with each other.
pub fn colour(name: &str) -> RGBColor {
    match name {
        "glibc" => RGBColor(0x7f, 0x7f, 0x7f),
        "mimalloc" => RGBColor(0x1f, 0x77, 0xb4),
        "jemalloc" => RGBColor(0x2c, 0xa0, 0x2c),
        "tcmalloc" => RGBColor(0xff, 0x7f, 0x0e),
        "masu" => RGBColor(0xd6, 0x27, 0x28),
        "masu-rs" => RGBColor(0x8c, 0x1c, 0x13),
        "mimalloc-rs" => RGBColor(0x6b, 0xae, 0xd6),
        "jemalloc-rs" => RGBColor(0x98, 0xdf, 0x8a),
        "masu-nostats" => RGBColor(0x94, 0x67, 0xbd),
        "masu-rs-nostats" => RGBColor(0xc5, 0xb0, 0xd5),
        _ => RGBColor(0x17, 0xbe, 0xcf),
    }
}

/// Rust global allocators and builds without stats are drawn dashed.
fn dashed(name: &str) -> bool {
    name.ends_with("-rs") || name.ends_with("-nostats")
}

/// Turns a plotting error into ours.
fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("chart: {e:?}")
}

/// Draws with `draw` on a white SVG canvas and returns the SVG text.
fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out + "\n")
}

/// One line of a line chart.
pub struct Series {
    /// Legend name (also picks the colour).
    pub name: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// A line chart with vertical `marks` (label, x) and a legend on the right.
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    marks: &[(String, f64)],
) -> Result<String, String> {
    let max = |f: fn(&(f64, f64)) -> f64| {
        series
            .iter()
            .flat_map(|s| s.points.iter().map(f))
            .fold(1e-3, f64::max)
    };
    let (x_max, y_max) = (max(|p| p.0), max(|p| p.1) * 1.05);
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 19))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(err)?;
        let grey = RGBColor(0x99, 0x99, 0x99);
        for (i, (label, x)) in marks.iter().enumerate() {
            chart
                .draw_series(DashedLineSeries::new(
                    [(*x, 0.0), (*x, y_max)],
                    2,
                    3,
                    grey.into(),
                ))
                .map_err(err)?;
            let y = y_max * (0.97 - 0.04 * i as f64);
            chart
                .draw_series([Text::new(
                    label.clone(),
                    (*x, y),
                    ("sans-serif", 13).into_font().color(&grey),
                )])
                .map_err(err)?;
        }
        for s in series {
            let style = colour(&s.name).stroke_width(2);
            let pts = s.points.iter().copied();
            let legend = if dashed(&s.name) {
                chart.draw_series(DashedLineSeries::new(pts, 6, 3, style))
            } else {
                chart.draw_series(LineSeries::new(pts, style))
            };
            legend
                .map_err(err)?
                .label(&s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        legend(&mut chart)
    })
}

/// One bar of a bar chart.
pub struct Bar {
    /// Legend entry (bars of the same name share a colour).
    pub name: String,
    /// Fill colour.
    pub colour: RGBColor,
    /// The value.
    pub value: f64,
    /// An interval around it (drawn as a whisker).
    pub interval: Option<(f64, f64)>,
}

/// What a bar chart's value axis shows.
struct Axis<'a> {
    /// Its label.
    label: &'a str,
    /// Where bars start (1 for ratios, 0 for percentages).
    base: f64,
    /// Log scale (ratios).
    log: bool,
    /// Dashed reference lines: (value, label).
    lines: Vec<(f64, String)>,
    /// A line of text under the chart.
    note: &'a str,
}

/// Grouped bars of ratios on a log scale around 1 (bars go up when worse
/// than the reference, down when better). `groups`: (label, [(allocator,
/// ratio)]).
pub fn ratio_bars(title: &str, groups: &[(String, Vec<(String, f64)>)]) -> Result<String, String> {
    let groups: Vec<(String, Vec<Bar>)> = groups
        .iter()
        .map(|(g, bars)| {
            let bars = bars
                .iter()
                .map(|(n, v)| Bar {
                    name: n.clone(),
                    colour: colour(n),
                    value: *v,
                    interval: None,
                })
                .collect();
            (g.clone(), bars)
        })
        .collect();
    let axis = Axis {
        label: "ratio to the reference",
        base: 1.0,
        log: true,
        lines: vec![(0.9, "-10 %".into()), (1.1, "+10 %".into())],
        note: "log scale; below the 1× line is better than the reference; dashed lines: ±10 %",
    };
    bars(title, &groups, &axis)
}

/// Grouped bars of percentages on a linear scale around 0, whiskers for
/// intervals, and a dashed line at `goal` (value, label). `groups`:
/// (label, bars).
pub fn percent_bars(
    title: &str,
    y_label: &str,
    groups: &[(String, Vec<Bar>)],
    goal: Option<(f64, &str)>,
    note: &str,
) -> Result<String, String> {
    let axis = Axis {
        label: y_label,
        base: 0.0,
        log: false,
        lines: goal.map(|(v, l)| (v, l.to_string())).into_iter().collect(),
        note,
    };
    bars(title, groups, &axis)
}

/// The value range a bar chart must show: every bar, whisker and line, and
/// the base, with a margin.
fn value_range(groups: &[(String, Vec<Bar>)], axis: &Axis) -> (f64, f64) {
    let mut vals = vec![axis.base];
    vals.extend(axis.lines.iter().map(|l| l.0));
    for b in groups.iter().flat_map(|g| &g.1) {
        vals.push(b.value);
        if let Some((lo, hi)) = b.interval {
            vals.extend([lo, hi]);
        }
    }
    let vals: Vec<f64> = vals
        .into_iter()
        .filter(|v| v.is_finite() && (!axis.log || *v > 0.0))
        .collect();
    let (lo, hi) = vals
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    if axis.log {
        (lo / 1.15, hi * 1.15)
    } else {
        let pad = (hi - lo).max(1e-3) * 0.1;
        (lo - pad, hi + pad)
    }
}

/// Grouped bars: group `g` spans `[g, g + 1)` on the x axis, its bars side
/// by side; each bar labelled with its value.
fn bars(title: &str, groups: &[(String, Vec<Bar>)], axis: &Axis) -> Result<String, String> {
    let (lo, hi) = value_range(groups, axis);
    let n = groups.len().max(1) as f64;
    svg(|root| {
        let (area, footer) = root.split_vertically(SIZE.1 - 24);
        footer
            .draw(&Text::new(
                axis.note.to_string(),
                (SIZE.0 as i32 / 2, 4),
                ("sans-serif", 15)
                    .into_font()
                    .color(&RGBColor(0x55, 0x55, 0x55))
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(err)?;
        let mut builder = ChartBuilder::on(&area);
        builder
            .caption(title, ("sans-serif", 19))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60);
        if axis.log {
            let chart = builder
                .build_cartesian_2d(0f64..n, (lo..hi).log_scale())
                .map_err(err)?;
            draw_bars(chart, groups, axis)
        } else {
            let chart = builder.build_cartesian_2d(0f64..n, lo..hi).map_err(err)?;
            draw_bars(chart, groups, axis)
        }
    })
}

/// The mesh, the reference lines, the bars, their labels and whiskers, the
/// group names and the legend of a bar chart.
fn draw_bars<'a, Y>(
    mut chart: ChartContext<
        'a,
        SVGBackend<'a>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    groups: &[(String, Vec<Bar>)],
    axis: &Axis,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(axis.label)
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()
        .map_err(err)?;
    let n = groups.len() as f64;
    chart
        .draw_series(LineSeries::new([(0.0, axis.base), (n, axis.base)], BLACK))
        .map_err(err)?;
    for (v, label) in &axis.lines {
        let grey = RGBColor(0x88, 0x88, 0x88);
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, *v), (n, *v)],
                4,
                3,
                grey.into(),
            ))
            .map_err(err)?;
        chart
            .draw_series([Text::new(
                label.clone(),
                (n, *v),
                ("sans-serif", 13)
                    .into_font()
                    .color(&grey)
                    .pos(Pos::new(HPos::Right, VPos::Bottom)),
            )])
            .map_err(err)?;
    }
    let mut named = Vec::new();
    for (g, (label, bars)) in groups.iter().enumerate() {
        draw_group(&mut chart, g, bars, axis, &mut named)?;
        let font = ("sans-serif", 15)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        let at = (g as f64 + 0.5, axis.base);
        let pixel = chart.backend_coord(&at);
        chart
            .plotting_area()
            .strip_coord_spec()
            .draw(&Text::new(
                label.clone(),
                (
                    pixel.0 - chart.plotting_area().get_base_pixel().0,
                    chart.plotting_area().dim_in_pixel().1 as i32 + 6,
                ),
                font,
            ))
            .map_err(err)?;
    }
    legend(&mut chart)
}

/// The legend of every chart: its series' names, upper right, on white.
fn legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

/// Group `g`'s bars side by side in `[g, g + 1)`, each labelled with its
/// value, with its whisker; a bar name first seen goes into the legend.
fn draw_group<'a, Y>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'a>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    g: usize,
    bars: &[Bar],
    axis: &Axis,
    named: &mut Vec<String>,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let w = 0.8 / bars.len().max(1) as f64;
    for (i, b) in bars.iter().filter(|b| b.value.is_finite()).enumerate() {
        let x0 = g as f64 + 0.1 + i as f64 * w;
        let bar = Rectangle::new(
            [(x0, axis.base), (x0 + w * 0.9, b.value)],
            b.colour.filled(),
        );
        let series = chart.draw_series([bar]).map_err(err)?;
        if !named.contains(&b.name) {
            named.push(b.name.clone());
            let c = b.colour;
            series
                .label(&b.name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        let text = if axis.log {
            format!("{:.2}", b.value)
        } else {
            format!("{:+.2}", b.value)
        };
        let mid = x0 + w * 0.45;
        let font = ("sans-serif", 12)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series([Text::new(text, (mid, b.value), font)])
            .map_err(err)?;
        if let Some((lo, hi)) = b.interval {
            chart
                .draw_series(LineSeries::new([(mid, lo), (mid, hi)], BLACK))
                .map_err(err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_chart_names_its_series_and_marks() {
        let series = [
            Series {
                name: "masu".into(),
                points: vec![(0.0, 1.0), (1.0, 3.0)],
            },
            Series {
                name: "masu-rs".into(),
                points: vec![(0.0, 2.0), (2.0, 1.0)],
            },
        ];
        let svg = lines("RSS", "s", "MiB", &series, &[("burst".into(), 0.5)]).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        for text in ["RSS", "masu", "masu-rs", "burst", "MiB"] {
            assert!(svg.contains(text), "{text} missing");
        }
    }

    #[test]
    fn bar_charts_label_groups_values_and_lines() {
        let groups = vec![("dist".to_string(), vec![("masu".to_string(), 0.8)])];
        let svg = ratio_bars("time", &groups).unwrap();
        for text in ["time", "dist", "0.80", "masu", "+10 %"] {
            assert!(svg.contains(text), "{text} missing");
        }
        let bars = vec![(
            "server".to_string(),
            vec![Bar {
                name: "time".into(),
                colour: colour("masu"),
                value: 0.4,
                interval: Some((-0.2, 0.9)),
            }],
        )];
        let svg = percent_bars("cost", "%", &bars, Some((1.0, "goal")), "note").unwrap();
        for text in ["cost", "server", "+0.40", "goal", "note"] {
            assert!(svg.contains(text), "{text} missing");
        }
    }
}
