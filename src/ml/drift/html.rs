//! The drift report as one self-contained HTML page: the verdict table, then a histogram pair
//! (reference and current shares side by side) per column, as inline SVG drawn with plotters.
//! A person looks at drift rather than reading it. Labels pt-BR first, English second.

use plotters::prelude::*;

use super::{Cleaned, DriftReport, Kind, Prepared};
use crate::stats::evidently::{histogram, sturges_edges};

const SIZE: (u32, u32) = (520, 280);
const REFERENCE: RGBColor = RGBColor(70, 110, 180);
const CURRENT: RGBColor = RGBColor(230, 120, 40);
/// Categorical charts show at most this many categories (the most frequent overall).
const MAX_CATEGORIES: usize = 20;

/// Renders the page for `report`, whose columns are `prepared` (same order).
pub fn render(
    report: &DriftReport,
    prepared: &[Prepared],
    reference_name: &str,
    current_name: &str,
) -> String {
    let mut rows = String::new();
    for c in &report.columns {
        let verdict = if c.drift {
            "<b class=\"drift\">sim / yes</b>"
        } else {
            "não / no"
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{verdict}</td></tr>\n",
            escape(&c.column),
            c.method,
            format_score(c.score),
            c.threshold
        ));
    }
    let mut charts = String::new();
    for (c, p) in report.columns.iter().zip(prepared) {
        charts.push_str(&format!(
            "<figure><figcaption>{} — {} {} {}</figcaption>{}</figure>\n",
            escape(&c.column),
            c.method,
            format_score(c.score),
            if c.drift { "· deriva / drift" } else { "" },
            pair_svg(p)
        ));
    }
    let verdict = if report.dataset_drift {
        "<p class=\"verdict drift\">Deriva no conjunto de dados / Dataset drift</p>"
    } else {
        "<p class=\"verdict\">Sem deriva no conjunto de dados / No dataset drift</p>"
    };
    format!(
        r#"<!doctype html>
<html lang="pt-BR"><head><meta charset="utf-8">
<title>Deriva de dados / Data drift</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 12px 0 24px; }}
td, th {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
.drift {{ color: #b00020; }}
.verdict {{ font-size: 1.2em; font-weight: bold; }}
.legend span {{ display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; border: 1px solid #ddd; padding: 6px; }}
figcaption {{ font-weight: bold; margin-bottom: 4px; }}
</style></head><body>
<h1>Deriva de dados / Data drift</h1>
<p>Referência / reference: <code>{}</code> · atual / current: <code>{}</code></p>
{verdict}
<p>Colunas com deriva / drifted columns: {} de / of {} ({:.1}%; limite / threshold 50%)</p>
<table><tr><th>Coluna / Column</th><th>Método / Method</th><th>Pontuação / Score</th><th>Limiar / Threshold</th><th>Deriva / Drift</th></tr>
{rows}</table>
<p class="legend">Proporção por faixa / share per bin:<span style="background:#466eb4"></span>referência / reference<span style="background:#e67828"></span>atual / current</p>
<div class="charts">
{charts}</div>
</body></html>
"#,
        escape(reference_name),
        escape(current_name),
        report.columns.iter().filter(|c| c.drift).count(),
        report.columns.len(),
        report.share_drifted * 100.0,
    )
}

fn format_score(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.2e}")
    } else {
        format!("{x:.4}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Bin labels and the reference and current shares per bin.
fn shares(p: &Prepared) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    match (&p.reference, &p.current, p.kind) {
        (Cleaned::Numbers(r), Cleaned::Numbers(c), Kind::Numerical) => {
            let all: Vec<f64> = r.iter().chain(c).copied().collect();
            let edges = sturges_edges(&all, p.integer);
            let share = |v: &[f64]| -> Vec<f64> {
                histogram(v, &edges)
                    .into_iter()
                    .map(|k| k as f64 / v.len() as f64)
                    .collect()
            };
            let labels = edges[..edges.len() - 1].iter().map(|e| short(*e)).collect();
            (labels, share(r), share(c))
        }
        _ => {
            let labels_of = |x: &Cleaned| -> Vec<String> {
                match x {
                    Cleaned::Labels(v) => v.clone(),
                    Cleaned::Numbers(v) => v.iter().map(|n| format!("{n:?}")).collect(),
                }
            };
            let (r, c) = (labels_of(&p.reference), labels_of(&p.current));
            let mut counts: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
            for s in &r {
                counts.entry(s).or_default().0 += 1;
            }
            for s in &c {
                counts.entry(s).or_default().1 += 1;
            }
            let mut cats: Vec<(&str, (usize, usize))> = counts.into_iter().collect();
            cats.sort_by(|a, b| (b.1.0 + b.1.1).cmp(&(a.1.0 + a.1.1)).then(a.0.cmp(b.0)));
            cats.truncate(MAX_CATEGORIES);
            let labels = cats.iter().map(|(k, _)| k.to_string()).collect();
            let rs = cats
                .iter()
                .map(|(_, (a, _))| *a as f64 / r.len() as f64)
                .collect();
            let cs = cats
                .iter()
                .map(|(_, (_, b))| *b as f64 / c.len() as f64)
                .collect();
            (labels, rs, cs)
        }
    }
}

/// One column's histogram pair as an SVG element.
fn pair_svg(p: &Prepared) -> String {
    let (labels, r, c) = shares(p);
    let top = r.iter().chain(&c).copied().fold(0.0f64, f64::max).max(1e-9) * 1.1;
    let n = labels.len().max(1);
    // Numerical: tick i is bin i's left edge. Categorical: tick i is under category i's pair.
    let shift = if p.kind == Kind::Categorical {
        -0.5
    } else {
        0.0
    };
    let mut svg = String::new();
    let outcome = {
        let area = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error>> {
            area.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&area)
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(44)
                .build_cartesian_2d(shift..n as f64 + shift, 0f64..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(RGBColor(240, 240, 240))
                .x_labels(n.min(10))
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() > 1e-6 || i < 0.0 {
                        return String::new();
                    }
                    labels.get(i as usize).cloned().unwrap_or_default()
                })
                .y_desc("proporção / share")
                .draw()?;
            let bars = |v: &[f64], offset: f64, color: RGBColor| -> Vec<Rectangle<(f64, f64)>> {
                v.iter()
                    .enumerate()
                    .map(|(i, &y)| {
                        let x0 = i as f64 + shift + offset;
                        Rectangle::new([(x0, 0.0), (x0 + 0.42, y)], color.filled())
                    })
                    .collect()
            };
            chart.draw_series(bars(&r, 0.06, REFERENCE))?;
            chart.draw_series(bars(&c, 0.52, CURRENT))?;
            area.present()?;
            Ok(())
        };
        draw().map_err(|e| e.to_string())
    };
    match outcome {
        Ok(()) => svg,
        Err(e) => format!("<p>gráfico falhou / plot failed: {}</p>", escape(&e)),
    }
}

/// A bin edge for an axis label: at most three decimals, trailing zeros dropped.
fn short(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
