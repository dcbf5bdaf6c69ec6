//! The three plots a reviewer reads instead of tables, as SVG (plotters' SVG backend, no fonts
//! loaded: text is laid out by estimate and rendered by the viewer): the ROC curve of the
//! positive class on out-of-fold predictions, its calibration curve (reliability diagram), and the
//! confusion matrix summed over folds. `docs/ml.md` says how to read them.

use plotters::prelude::*;

use super::metrics::CalibrationBin;

type PlotResult = Result<(), Box<dyn std::error::Error>>;

const SIZE: (u32, u32) = (560, 480);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// ROC curve (false positive rate → true positive rate) with the chance diagonal.
pub fn roc_svg(points: &[(f64, f64)], auc: f64, positive: &str) -> String {
    render(|area| {
        let mut chart = ChartBuilder::on(&area)
            .caption(
                format!("ROC — {positive} vs rest (AUC {auc:.3}, out-of-fold)"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            GREY.stroke_width(1),
        ))?;
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            BLUE.stroke_width(2),
        ))?;
        Ok(())
    })
}

/// Mean predicted probability against the observed rate per bin, with the perfect diagonal.
pub fn calibration_svg(bins: &[CalibrationBin], ece: f64, positive: &str) -> String {
    render(|area| {
        let mut chart = ChartBuilder::on(&area)
            .caption(
                format!("Calibration — P({positive}) (ECE {ece:.3})"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("mean predicted probability")
            .y_desc("observed share")
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            GREY.stroke_width(1),
        ))?;
        let points: Vec<(f64, f64)> = bins
            .iter()
            .map(|b| (b.mean_predicted, b.observed_rate))
            .collect();
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            BLUE.stroke_width(2),
        ))?;
        chart.draw_series(points.iter().zip(bins).map(|(&p, b)| {
            // Larger dots for fuller bins.
            let r = 3 + (b.count as f64).sqrt() as i32 / 3;
            Circle::new(p, r, BLUE.filled())
        }))?;
        Ok(())
    })
}

/// Counts per (true, predicted) class, darker for more; rows are the true class.
pub fn confusion_svg(matrix: &[Vec<usize>], classes: &[String]) -> String {
    let k = classes.len();
    let max = matrix.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    render(|area| {
        let mut chart = ChartBuilder::on(&area)
            .caption(
                "Confusion matrix (rows: true, columns: predicted)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..k as f64, k as f64..0f64)?;
        let label = |v: &f64| classes.get(v.floor() as usize).cloned().unwrap_or_default();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(k * 2 + 1)
            .y_labels(k * 2 + 1)
            .x_label_formatter(&|v| {
                if v.fract() == 0.5 {
                    label(v)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| {
                if v.fract() == 0.5 {
                    label(v)
                } else {
                    String::new()
                }
            })
            .draw()?;
        for (t, row) in matrix.iter().enumerate() {
            for (p, &count) in row.iter().enumerate() {
                let shade = 1.0 - 0.8 * count as f64 / max;
                let fill = RGBColor((255.0 * shade) as u8, (255.0 * shade) as u8, 255);
                let (x, y) = (p as f64, t as f64);
                chart.draw_series([Rectangle::new([(x, y), (x + 1.0, y + 1.0)], fill.filled())])?;
                let ink = if shade < 0.5 { WHITE } else { BLACK };
                chart.draw_series([Text::new(
                    count.to_string(),
                    (x + 0.45, y + 0.45),
                    ("sans-serif", 20).into_font().color(&ink),
                )])?;
            }
        }
        Ok(())
    })
}

/// Draws on a white SVG canvas; a drawing error yields an SVG that says so rather than a panic.
fn render(
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> PlotResult,
) -> String {
    let mut svg = String::new();
    let outcome = {
        let area = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        area.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(area.clone()).map_err(|e| e.to_string()))
            .and_then(|()| area.present().map_err(|e| e.to_string()))
    };
    match outcome {
        Ok(()) => svg,
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"560\" height=\"40\"><text x=\"8\" y=\"24\">plot failed: {}</text></svg>\n",
            e.replace('<', "&lt;")
        ),
    }
}
