//! The end-of-run picture: loss and accuracy per epoch as an SVG file.

use crate::history::{io_err, EpochMetrics};
use ember_core::Result;
use plotters::prelude::*;
use std::path::Path;

type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

/// Write `history` as two side-by-side line charts (loss; accuracy in %) to `path`.
///
/// ```
/// use ember_train::{plot::plot_history, EpochMetrics};
/// let h: Vec<EpochMetrics> = (1..=3)
///     .map(|e| EpochMetrics { epoch: e, train_loss: 1.0 / e as f64, test_accuracy: Some(0.9), ..Default::default() })
///     .collect();
/// let path = std::env::temp_dir().join("ember-doc-plot.svg");
/// plot_history(&h, &path).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
/// ```
pub fn plot_history(history: &[EpochMetrics], path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let err = |e: &dyn std::fmt::Display| io_err(path, format!("cannot draw the plot: {e}"));
    let pts = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|m| f(m).filter(|v| v.is_finite()).map(|v| (m.epoch as f64, v)))
            .collect()
    };
    let loss: Vec<Series> = vec![
        ("train loss", BLUE, pts(&|m| Some(m.train_loss))),
        ("test loss", RED, pts(&|m| m.test_loss)),
    ];
    let acc: Vec<Series> = vec![
        ("train accuracy %", BLUE, pts(&|m| m.train_accuracy.map(|a| 100.0 * a))),
        ("test accuracy %", RED, pts(&|m| m.test_accuracy.map(|a| 100.0 * a))),
    ];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (left, right) = root.split_horizontally(500);
        draw_panel(&left, "loss", &loss).map_err(|e| err(&e))?;
        draw_panel(&right, "accuracy (%)", &acc).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    ember_core::io::write_atomic(path, svg.as_bytes())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    series: &[Series],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.2.iter().copied()).collect();
    let x_max = all.iter().map(|p| p.0).fold(1.0, f64::max);
    let (mut y_min, mut y_max) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.5..x_max + 0.5, (y_min - pad)..(y_max + pad))?;
    chart.configure_mesh().x_desc("epoch").draw()?;
    for (name, color, pts) in series.iter().filter(|s| !s.2.is_empty()) {
        let color = *color;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
