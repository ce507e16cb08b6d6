//! The chart: p99 latency against offered load (W1), one line per server
//! and one for the bare relay, both axes logarithmic, with the p99 limit
//! drawn across. SVG only, so no font or system library is needed.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::report::Report;
use crate::workload::w1::W1Result;

const COLORS: [RGBColor; 6] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x7f, 0x7f, 0x7f),
];

pub fn draw_p99_chart(report: &Report, path: &Path) -> anyhow::Result<()> {
    let mut series: Vec<(String, &W1Result)> = report
        .servers
        .iter()
        .filter_map(|s| s.w1.as_ref().map(|w| (s.name.clone(), w)))
        .collect();
    if let Some(relay) = &report.ceilings.relay_w1 {
        series.push(("bare WebSocket relay".into(), relay));
    }
    // One point per offered rate: the attempt that decided it (the last).
    let points = |w: &W1Result| -> Vec<(f64, f64)> {
        let mut p: Vec<(f64, f64)> = Vec::new();
        for s in w.steps.iter().filter(|s| s.tally.latency.count > 0) {
            let point = (s.offered_rate, s.tally.latency.p99_ms.max(0.01));
            match p.iter_mut().find(|q| q.0 == s.offered_rate) {
                Some(q) => *q = point,
                None => p.push(point),
            }
        }
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
        p
    };
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, w)| points(w)).collect();
    let limit = report.knobs.p99_limit_ms;
    let x_max = all.iter().map(|p| p.0).fold(100.0, f64::max) * 1.5;
    let x_min = all.iter().map(|p| p.0).fold(x_max, f64::min).max(1.0) / 1.5;
    let y_max = all.iter().map(|p| p.1).fold(limit, f64::max) * 2.0;
    let y_min = all
        .iter()
        .map(|p| p.1)
        .fold(y_max, f64::min)
        .clamp(0.01, limit)
        / 2.0;

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "W1: p99 latency vs offered load (1:1, persisted)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d((x_min..x_max).log_scale(), (y_min..y_max).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("offered load, messages/s")
        .y_desc("p99 latency, ms")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            [(x_min, limit), (x_max, limit)],
            BLACK.mix(0.4).stroke_width(1),
        ))
        .map_err(|e| err(&e))?
        .label(format!("p99 limit {limit} ms"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK.mix(0.4)));
    for (i, (name, w1)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts = points(w1);
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
