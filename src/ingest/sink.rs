//! The Parquet sink: a batch's rows, grouped by event type and UTC date, each group one file
//! `<raw_dir>/<event>/date=YYYY-MM-DD/part-<first id>_<last id>.parquet`, written atomically
//! (temp file, fsync, rename, fsync of the directory), row groups of `row_group_size` rows. The
//! stream, the first and last entry id and the pseudonym key's fingerprint go into the file's
//! key-value metadata, which is how a replayed batch is recognised (see [`Sink::write`]).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;

use super::anonymize::Row;
use super::columns::{self, Buffer, Columns};
use super::event::EventKind;
use super::stream_id::StreamId;

/// Metadata keys.
pub const META_STREAM: &str = "powerbirth.stream";
pub const META_FIRST_ID: &str = "powerbirth.first_id";
pub const META_LAST_ID: &str = "powerbirth.last_id";
pub const META_KEY_ID: &str = "powerbirth.pseudonym_key_id";

/// Why a batch could not be written (nothing is acknowledged then).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parquet { path: PathBuf, message: String },
}

/// What one batch's write did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Rows written.
    pub rows: usize,
    /// Rows already in a file (a replayed batch), not written again.
    pub duplicates: usize,
    /// Per event type: rows written and duplicates left out.
    pub per_event: BTreeMap<EventKind, (usize, usize)>,
}

/// Writes batches under `raw_dir`.
#[derive(Debug, Clone)]
pub struct Sink {
    raw_dir: PathBuf,
    stream: String,
    row_group_size: usize,
    key_id: String,
}

impl Sink {
    pub fn new(raw_dir: PathBuf, stream: String, row_group_size: usize, key_id: String) -> Sink {
        Sink {
            raw_dir,
            stream,
            row_group_size: row_group_size.max(1),
            key_id,
        }
    }

    /// The directory of one partition.
    pub fn partition_dir(&self, kind: EventKind, date: &str) -> PathBuf {
        self.raw_dir
            .join(kind.as_str())
            .join(format!("date={date}"))
    }

    /// Writes `rows` durably. When `redelivered` (entries read before, by this consumer before a
    /// restart or by a dead one), rows whose entry id is already in a file of their partition
    /// are left out: the partition's files whose id range (metadata) covers them are opened and
    /// their `stream_id` column read. New entries (`>`) were never delivered, so they skip the
    /// check.
    pub fn write(&self, rows: Vec<Row>, redelivered: bool) -> Result<Written, SinkError> {
        let mut groups: BTreeMap<(EventKind, String), Vec<Row>> = BTreeMap::new();
        for row in rows {
            groups
                .entry((row.payload.kind(), row.date()))
                .or_default()
                .push(row);
        }
        let mut written = Written::default();
        for ((kind, date), mut rows) in groups {
            let dir = self.partition_dir(kind, &date);
            create_dir(&dir)?;
            let before = rows.len();
            if redelivered {
                let seen = self.ids_in_partition(&dir, &rows)?;
                rows.retain(|r| !seen.contains(&r.stream_id));
            }
            let counts = written.per_event.entry(kind).or_default();
            counts.0 += rows.len();
            counts.1 += before - rows.len();
            written.duplicates += before - rows.len();
            if rows.is_empty() {
                continue;
            }
            rows.sort_by_key(|r| StreamId::parse(&r.stream_id).unwrap_or_default());
            let path = self.write_file(kind, &dir, &rows)?;
            written.rows += rows.len();
            written.files.push(path);
        }
        Ok(written)
    }

    /// The entry ids of `rows` that files of `dir` already hold.
    fn ids_in_partition(&self, dir: &Path, rows: &[Row]) -> Result<HashSet<String>, SinkError> {
        let ids: Vec<StreamId> = rows
            .iter()
            .filter_map(|r| StreamId::parse(&r.stream_id))
            .collect();
        let (Some(lo), Some(hi)) = (ids.iter().min(), ids.iter().max()) else {
            return Ok(HashSet::new());
        };
        let mut seen = HashSet::new();
        for path in parquet_files(dir)? {
            let meta = read_meta(&path)?;
            let covers = meta.stream.as_deref() == Some(&self.stream)
                && meta.first.is_some_and(|f| f <= *hi)
                && meta.last.is_some_and(|l| l >= *lo);
            if covers {
                seen.extend(read_stream_ids(&path)?);
            }
        }
        Ok(seen)
    }

    fn write_file(&self, kind: EventKind, dir: &Path, rows: &[Row]) -> Result<PathBuf, SinkError> {
        let first = &rows[0].stream_id;
        let last = &rows[rows.len() - 1].stream_id;
        let name = format!("part-{first}_{last}.parquet");
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut cols = Columns::new(kind, rows.len());
        for r in rows {
            cols.push(r);
        }
        let meta = vec![
            KeyValue::new(META_STREAM.into(), self.stream.clone()),
            KeyValue::new(META_FIRST_ID.into(), first.clone()),
            KeyValue::new(META_LAST_ID.into(), last.clone()),
            KeyValue::new(META_KEY_ID.into(), self.key_id.clone()),
        ];
        let file = File::create(&tmp).map_err(|source| SinkError::Io {
            path: tmp.clone(),
            source,
        })?;
        let file = write_parquet(kind, file, &cols, self.row_group_size, meta).map_err(|e| {
            SinkError::Parquet {
                path: tmp.clone(),
                message: e.to_string(),
            }
        })?;
        let io = |source| SinkError::Io {
            path: path.clone(),
            source,
        };
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(path)
    }
}

/// Writes `cols` as one Parquet file of row groups of `row_group_size` rows; returns the file.
pub fn write_parquet(
    kind: EventKind,
    file: File,
    cols: &Columns,
    row_group_size: usize,
    meta: Vec<KeyValue>,
) -> parquet::errors::Result<File> {
    let schema = Arc::new(parquet::schema::parser::parse_message_type(
        &columns::message_type(kind),
    )?);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("powerbirth {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(meta))
        .build();
    let mut writer = SerializedFileWriter::new(file, schema, Arc::new(props))?;
    let specs = columns::specs(kind);
    // Per column, how many values (present cells) precede each row group.
    let mut offsets = vec![0usize; specs.len()];
    let mut start = 0;
    while start < cols.rows {
        let end = (start + row_group_size).min(cols.rows);
        let mut group = writer.next_row_group()?;
        let mut i = 0;
        while let Some(mut column) = group.next_column()? {
            let defs = &cols.defs[i][start..end];
            let n = defs.iter().filter(|d| **d == 1).count();
            let (a, b) = (offsets[i], offsets[i] + n);
            let levels = (!specs[i].required).then_some(defs);
            match &cols.buffers[i] {
                Buffer::Str(v) => {
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&v[a..b], levels, None)?
                }
                Buffer::F64(v) => {
                    column
                        .typed::<DoubleType>()
                        .write_batch(&v[a..b], levels, None)?
                }
                Buffer::I32(v) => {
                    column
                        .typed::<Int32Type>()
                        .write_batch(&v[a..b], levels, None)?
                }
                Buffer::I64(v) => {
                    column
                        .typed::<Int64Type>()
                        .write_batch(&v[a..b], levels, None)?
                }
                Buffer::Bool(v) => {
                    column
                        .typed::<BoolType>()
                        .write_batch(&v[a..b], levels, None)?
                }
            };
            column.close()?;
            offsets[i] = b;
            i += 1;
        }
        group.close()?;
        start = end;
    }
    writer.into_inner()
}

/// A file's ingestion metadata.
#[derive(Debug, Default)]
pub struct FileMeta {
    pub stream: Option<String>,
    pub first: Option<StreamId>,
    pub last: Option<StreamId>,
    pub key_id: Option<String>,
}

/// Reads the ingestion metadata of one Parquet file (its footer only).
pub fn read_meta(path: &Path) -> Result<FileMeta, SinkError> {
    let reader = open(path)?;
    let mut meta = FileMeta::default();
    for kv in reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
    {
        let value = kv.value.clone();
        match kv.key.as_str() {
            META_STREAM => meta.stream = value,
            META_FIRST_ID => meta.first = value.as_deref().and_then(StreamId::parse),
            META_LAST_ID => meta.last = value.as_deref().and_then(StreamId::parse),
            META_KEY_ID => meta.key_id = value,
            _ => {}
        }
    }
    Ok(meta)
}

/// The `stream_id` column of one file.
fn read_stream_ids(path: &Path) -> Result<Vec<String>, SinkError> {
    let reader = open(path)?;
    let parquet_err = |e: parquet::errors::ParquetError| SinkError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // The file's own `stream_id` field under its own root: a projection must match both.
    let root = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema();
    let field = root
        .get_fields()
        .iter()
        .find(|f| f.name() == "stream_id")
        .cloned()
        .ok_or_else(|| SinkError::Parquet {
            path: path.to_path_buf(),
            message: "no stream_id column".into(),
        })?;
    let projection = parquet::schema::types::Type::group_type_builder(root.name())
        .with_fields(vec![field])
        .build()
        .map_err(parquet_err)?;
    let mut out = Vec::new();
    for row in reader.get_row_iter(Some(projection)).map_err(parquet_err)? {
        let row = row.map_err(parquet_err)?;
        if let Some((_, parquet::record::Field::Str(id))) = row.get_column_iter().next() {
            out.push(id.clone());
        }
    }
    Ok(out)
}

fn open(path: &Path) -> Result<SerializedFileReader<File>, SinkError> {
    let file = File::open(path).map_err(|source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    SerializedFileReader::new(file).map_err(|e| SinkError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The finished Parquet files of a partition directory (temp files excluded), sorted.
pub fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, SinkError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SinkError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part-") && n.ends_with(".parquet"))
        })
        .collect();
    out.sort();
    Ok(out)
}

fn create_dir(dir: &Path) -> Result<(), SinkError> {
    std::fs::create_dir_all(dir).map_err(|source| SinkError::Io {
        path: dir.to_path_buf(),
        source,
    })
}
