//! Article embeddings: MiniLM ([`crate::embed::Embedder`]) over each article's title and body,
//! computed once per article and cached on disk as `<cache_dir>/<content hash>.f32` (384
//! little-endian floats). An unchanged article is never embedded again; the model itself is
//! loaded only when some article has no cached vector, so a start-up with a warm cache costs
//! a few file reads.

use std::path::Path;

use super::catalogue::Catalogue;
use crate::embed::Embedder;

/// Why the article vectors could not be built.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
    #[error("embedding cache {path}: {reason}")]
    Cache { path: String, reason: String },
}

/// A cache key: the model folder's name is part of it, so another model never reads these.
fn cache_file(cache_dir: &Path, hash: &str) -> std::path::PathBuf {
    cache_dir.join(format!("minilm-l6-v2-{hash}.f32"))
}

fn read_cached(path: &Path) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.is_empty() || bytes.len() % 4 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

fn write_cached(path: &Path, vector: &[f32]) -> Result<(), VectorError> {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    // Write then rename: a reader (another replica, a concurrent test) never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let fail = |e: std::io::Error| VectorError::Cache {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// One unit vector per article, in catalogue order. Reads the cache; embeds (loading the model
/// from `model_dir`) only the articles missing from it, then caches them. CPU-bound: call it
/// from a blocking thread.
pub fn article_vectors(
    catalogue: &Catalogue,
    cache_dir: &Path,
    model_dir: &Path,
) -> Result<Vec<Vec<f32>>, VectorError> {
    // One embedding pass at a time in a process: several apps started at once (tests) on a cold
    // cache would each run the model; the second finds the first's vectors in the cache.
    static EMBEDDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = EMBEDDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut vectors: Vec<Option<Vec<f32>>> = catalogue
        .articles()
        .iter()
        .map(|a| read_cached(&cache_file(cache_dir, &a.content_hash)))
        .collect();
    let missing: Vec<usize> = (0..vectors.len())
        .filter(|&i| vectors[i].is_none())
        .collect();
    if !missing.is_empty() {
        tracing::info!(
            articles = missing.len(),
            model = %model_dir.display(),
            "embedding articles missing from the cache"
        );
        let embedder = Embedder::load(model_dir)?;
        std::fs::create_dir_all(cache_dir).map_err(|e| VectorError::Cache {
            path: cache_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let texts: Vec<String> = missing
            .iter()
            .map(|&i| catalogue.articles()[i].embedding_text())
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (&i, vector) in missing.iter().zip(embedder.embed(&refs)?) {
            let hash = &catalogue.articles()[i].content_hash;
            write_cached(&cache_file(cache_dir, hash), &vector)?;
            vectors[i] = Some(vector);
        }
    }
    Ok(vectors.into_iter().map(Option::unwrap_or_default).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_vector_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_file(dir.path(), "abc");
        write_cached(&path, &[0.5, -1.25, 3.0]).unwrap();
        assert_eq!(read_cached(&path), Some(vec![0.5, -1.25, 3.0]));
    }

    #[test]
    fn an_empty_catalogue_needs_no_model() {
        let dir = tempfile::tempdir().unwrap();
        let v = article_vectors(&Catalogue::default(), dir.path(), Path::new("/nonexistent"));
        assert!(v.unwrap().is_empty());
    }
}
