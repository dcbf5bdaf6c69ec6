//! From Parquet partitions to feature rows: `risk_features` (per patient, the latest value of
//! each measurement, merged over what the store already holds) and `engagement_features` (views
//! and completions per topic over the 7 and 30 days ending with the partition's day). Reading is
//! the `parquet` crate's row API, one partition (`<event>/date=…`) at a time; the aggregations are
//! per patient, the shape DataFusion would run as one `GROUP BY patient_id` query each
//! (docs/ml.md, "Ingestion").

use std::collections::BTreeMap;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::core::calendar::{DAY_MS, parse_instant};
use crate::features::{EngagementFeatures, RiskFeatures};

use super::event::EventKind;
use super::sink::{SinkError, parquet_files};

/// The measurement columns, in `RiskFeatures` order.
pub const MEASUREMENTS: [&str; 7] = [
    "age_years",
    "systolic_bp_mmhg",
    "diastolic_bp_mmhg",
    "blood_glucose_mmol_l",
    "body_temperature_c",
    "heart_rate_bpm",
    "gestational_week",
];

/// One measurement row as materialisation reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementRow {
    pub patient_id: String,
    pub occurred_at_ms: i64,
    pub values: [Option<f64>; 7],
}

/// One content view as materialisation reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewRow {
    pub patient_id: String,
    pub occurred_at_ms: i64,
    pub content_id: String,
    pub completed: bool,
}

/// The partition directory of `kind` on `date`.
pub fn partition(raw_dir: &Path, kind: EventKind, date: &str) -> std::path::PathBuf {
    raw_dir.join(kind.as_str()).join(format!("date={date}"))
}

/// Every row of every file of a partition, as field name → value maps.
fn rows(dir: &Path) -> Result<Vec<BTreeMap<String, Field>>, SinkError> {
    let mut out = Vec::new();
    for path in parquet_files(dir)? {
        let err = |e: parquet::errors::ParquetError| SinkError::Parquet {
            path: path.clone(),
            message: e.to_string(),
        };
        let file = std::fs::File::open(&path).map_err(|source| SinkError::Io {
            path: path.clone(),
            source,
        })?;
        let reader = SerializedFileReader::new(file).map_err(err)?;
        for row in reader.get_row_iter(None).map_err(err)? {
            let row = row.map_err(err)?;
            out.push(
                row.get_column_iter()
                    .map(|(n, f)| (n.clone(), f.clone()))
                    .collect(),
            );
        }
    }
    Ok(out)
}

fn text(row: &BTreeMap<String, Field>, name: &str) -> Option<String> {
    match row.get(name) {
        Some(Field::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

fn number(row: &BTreeMap<String, Field>, name: &str) -> Option<f64> {
    match row.get(name)? {
        Field::Double(v) => Some(*v),
        Field::Float(v) => Some(f64::from(*v)),
        Field::Int(v) => Some(f64::from(*v)),
        Field::Long(v) => Some(*v as f64),
        _ => None,
    }
}

fn millis(row: &BTreeMap<String, Field>, name: &str) -> Option<i64> {
    match row.get(name)? {
        Field::TimestampMillis(v) | Field::Long(v) => Some(*v),
        Field::TimestampMicros(v) => Some(v / 1000),
        _ => None,
    }
}

/// The measurements of one day.
pub fn read_measurements(raw_dir: &Path, date: &str) -> Result<Vec<MeasurementRow>, SinkError> {
    let dir = partition(raw_dir, EventKind::Measurement, date);
    Ok(rows(&dir)?
        .iter()
        .filter_map(|r| {
            Some(MeasurementRow {
                patient_id: text(r, "patient_id")?,
                occurred_at_ms: millis(r, "occurred_at")?,
                values: MEASUREMENTS.map(|m| number(r, m)),
            })
        })
        .collect())
}

/// The content views of one day.
pub fn read_views(raw_dir: &Path, date: &str) -> Result<Vec<ViewRow>, SinkError> {
    let dir = partition(raw_dir, EventKind::ContentView, date);
    Ok(rows(&dir)?
        .iter()
        .filter_map(|r| {
            Some(ViewRow {
                patient_id: text(r, "patient_id")?,
                occurred_at_ms: millis(r, "occurred_at")?,
                content_id: text(r, "content_id")?,
                completed: matches!(r.get("completed"), Some(Field::Bool(true))),
            })
        })
        .collect())
}

/// `stored` updated with `rows` (one patient's): each measurement takes its latest non-null
/// value by `occurred_at`, unless the stored one is newer.
pub fn merge_risk(stored: Option<RiskFeatures>, rows: &[&MeasurementRow]) -> RiskFeatures {
    let mut out = stored.unwrap_or_default();
    let stored_at = out.measured_at_ms.unwrap_or(i64::MIN);
    let mut sorted: Vec<&&MeasurementRow> = rows.iter().collect();
    sorted.sort_by_key(|r| r.occurred_at_ms);
    for r in sorted {
        if r.occurred_at_ms < stored_at {
            continue;
        }
        let fields = [
            &mut out.age_years,
            &mut out.systolic_bp_mmhg,
            &mut out.diastolic_bp_mmhg,
            &mut out.blood_glucose_mmol_l,
            &mut out.body_temperature_c,
            &mut out.heart_rate_bpm,
            &mut out.gestational_week,
        ];
        for (slot, v) in fields.into_iter().zip(r.values) {
            if v.is_some() {
                *slot = v;
            }
        }
        out.measured_at_ms = Some(
            out.measured_at_ms
                .map_or(r.occurred_at_ms, |m| m.max(r.occurred_at_ms)),
        );
    }
    out
}

/// A content id's topic: its first path segment (`nutricao/ferro` → `nutricao`), else the id.
pub fn topic(content_id: &str) -> String {
    content_id
        .split('/')
        .next()
        .unwrap_or(content_id)
        .chars()
        .take(64)
        .collect()
}

/// The content catalogue's topics of each article id (`content/articles/*.md`), as `cli` reads
/// them: a view counts once for each topic of its article.
pub type Topics = std::collections::HashMap<String, Vec<String>>;

/// Engagement per patient from the views of the 30 days ending with `day` (`YYYY-MM-DD`). An
/// article's topics come from `topics` (the catalogue); an id the catalogue does not know counts
/// under [`topic`] of the id.
pub fn engagement(
    views: &[ViewRow],
    day: &str,
    topics: &Topics,
) -> BTreeMap<String, EngagementFeatures> {
    let end = parse_instant(day).unwrap_or(0) + DAY_MS;
    let mut sorted: Vec<&ViewRow> = views.iter().filter(|v| v.occurred_at_ms < end).collect();
    sorted.sort_by_key(|v| std::cmp::Reverse(v.occurred_at_ms));
    let mut out: BTreeMap<String, EngagementFeatures> = BTreeMap::new();
    for v in sorted {
        let e = out.entry(v.patient_id.clone()).or_default();
        let of_article = topics
            .get(&v.content_id)
            .cloned()
            .unwrap_or_else(|| vec![topic(&v.content_id)]);
        let age = end - v.occurred_at_ms;
        for t in of_article {
            if age <= 30 * DAY_MS {
                *e.views_30d.entry(t.clone()).or_default() += 1;
                if v.completed {
                    *e.completions_30d.entry(t.clone()).or_default() += 1;
                }
            }
            if age <= 7 * DAY_MS {
                *e.views_7d.entry(t.clone()).or_default() += 1;
                if v.completed {
                    *e.completions_7d.entry(t).or_default() += 1;
                }
            }
        }
        if e.read_content_ids.len() < 200 && !e.read_content_ids.contains(&v.content_id) {
            e.read_content_ids.push(v.content_id.clone());
        }
        e.last_active_ms = Some(
            e.last_active_ms
                .map_or(v.occurred_at_ms, |m| m.max(v.occurred_at_ms)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(at: i64, sys: Option<f64>, hr: Option<f64>) -> MeasurementRow {
        let mut values = [None; 7];
        values[1] = sys;
        values[5] = hr;
        MeasurementRow {
            patient_id: "p".into(),
            occurred_at_ms: at,
            values,
        }
    }

    #[test]
    fn the_latest_value_of_each_measurement_wins_and_stored_ones_fill_the_rest() {
        let stored = RiskFeatures {
            body_temperature_c: Some(36.5),
            measured_at_ms: Some(1_000),
            ..Default::default()
        };
        let (a, b) = (
            m(3_000, Some(150.0), None),
            m(2_000, Some(120.0), Some(80.0)),
        );
        let r = merge_risk(Some(stored), &[&a, &b]);
        assert_eq!(r.systolic_bp_mmhg, Some(150.0));
        assert_eq!(r.heart_rate_bpm, Some(80.0));
        assert_eq!(r.body_temperature_c, Some(36.5));
        assert_eq!(r.measured_at_ms, Some(3_000));
    }

    #[test]
    fn views_count_per_topic_over_seven_and_thirty_days() {
        let day = "2026-12-07";
        let noon = parse_instant("2026-12-07T12:00:00Z").unwrap();
        let v = |days: i64, id: &str, completed| ViewRow {
            patient_id: "p".into(),
            occurred_at_ms: noon - days * DAY_MS,
            content_id: id.into(),
            completed,
        };
        let views = [
            v(0, "nutricao/ferro", true),
            v(3, "nutricao/agua", false),
            v(10, "sono/posicao", true),
            v(40, "sono/velho", true),
            v(-1, "futuro/x", true),
        ];
        let e = &engagement(&views, day, &Topics::new())["p"];
        assert_eq!(e.views_7d.get("nutricao"), Some(&2));
        assert_eq!(e.completions_7d.get("nutricao"), Some(&1));
        assert_eq!(e.views_7d.get("sono"), None);
        assert_eq!(e.views_30d.get("sono"), Some(&1));
        assert_eq!(
            e.read_content_ids,
            [
                "nutricao/ferro",
                "nutricao/agua",
                "sono/posicao",
                "sono/velho"
            ]
        );
        assert_eq!(e.last_active_ms, Some(noon));
    }

    #[test]
    fn a_catalogue_article_counts_under_each_of_its_topics() {
        let noon = parse_instant("2026-12-07T12:00:00Z").unwrap();
        let views = [ViewRow {
            patient_id: "p".into(),
            occurred_at_ms: noon,
            content_id: "pt-pressao-alta-pre-eclampsia".into(),
            completed: true,
        }];
        let topics = Topics::from([(
            "pt-pressao-alta-pre-eclampsia".to_string(),
            vec!["blood-pressure".to_string(), "danger-signs".to_string()],
        )]);
        let e = &engagement(&views, "2026-12-07", &topics)["p"];
        assert_eq!(e.views_7d.get("blood-pressure"), Some(&1));
        assert_eq!(e.completions_30d.get("danger-signs"), Some(&1));
        assert_eq!(e.views_7d.len(), 2, "{:?}", e.views_7d);
    }
}
