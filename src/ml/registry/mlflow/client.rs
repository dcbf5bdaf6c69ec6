//! A small typed client for the MLflow REST API (<https://mlflow.org/docs/latest/api_reference/rest-api.html>):
//! only the endpoints the registry uses. No maintained Rust client exists. Errors keep MLflow's
//! `error_code` and `message`, so "RESOURCE_DOES_NOT_EXIST" can be told from a broken server.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::types::{
    Experiment, FileInfo, Metric, ModelVersionRecord, Param, RegisteredModel, Run, RunInfo, Tag,
};

/// An MLflow call that failed.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// MLflow answered with an error body (`error_code`, `message`).
    #[error("MLflow {endpoint}: HTTP {status} {code}: {message}")]
    Api {
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("MLflow {endpoint}: {source}")]
    Http {
        endpoint: String,
        source: reqwest::Error,
    },
    /// A success whose body is not what the API documents.
    #[error("MLflow {endpoint}: unexpected answer: {message}")]
    Decode { endpoint: String, message: String },
    /// The tracking URI is not an http(s) URL.
    #[error("MLFLOW_TRACKING_URI {0:?} is not an http:// or https:// URL")]
    BadUri(String),
    /// The run's artifacts are not proxied by the server (`mlflow server --serve-artifacts`).
    #[error(
        "run artifact URI {0:?} is not mlflow-artifacts:/…: start the server with --serve-artifacts"
    )]
    NotProxied(String),
}

impl MlflowError {
    /// Whether MLflow said the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { code, .. } if code == "RESOURCE_DOES_NOT_EXIST")
    }
}

/// MLflow's error body.
#[derive(Deserialize)]
struct ErrorBody {
    error_code: Option<String>,
    message: Option<String>,
}

/// A client for one tracking server.
#[derive(Clone)]
pub struct MlflowClient {
    base: String,
    http: reqwest::Client,
}

impl MlflowClient {
    /// A client for `tracking_uri` (`http://host:port`, with or without a trailing slash).
    pub fn new(tracking_uri: &str) -> Result<Self, MlflowError> {
        let base = tracking_uri.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(MlflowError::BadUri(tracking_uri.to_string()));
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|source| MlflowError::Http {
                endpoint: "client".into(),
                source,
            })?;
        Ok(Self { base, http })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, MlflowError> {
        let http = |source| MlflowError::Http {
            endpoint: endpoint.into(),
            source,
        };
        let response = request.send().await.map_err(http)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(http)?;
        if !status.is_success() {
            let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
            let text = || String::from_utf8_lossy(&bytes).chars().take(300).collect();
            return Err(MlflowError::Api {
                endpoint: endpoint.into(),
                status: status.as_u16(),
                code: body
                    .as_ref()
                    .and_then(|b| b.error_code.clone())
                    .unwrap_or_else(|| "UNKNOWN".into()),
                message: body.and_then(|b| b.message).unwrap_or_else(text),
            });
        }
        // Some calls answer with an empty body; `{}` reads as any all-default type.
        let bytes = if bytes.is_empty() { &b"{}"[..] } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| MlflowError::Decode {
            endpoint: endpoint.into(),
            message: e.to_string(),
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
    ) -> Result<T, MlflowError> {
        let query = serde_urlencoded::to_string(query).map_err(|e| MlflowError::Decode {
            endpoint: endpoint.into(),
            message: e.to_string(),
        })?;
        let url = format!("{}/api/2.0/mlflow/{endpoint}?{query}", self.base);
        self.send(endpoint, self.http.get(url)).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &impl Serialize,
    ) -> Result<T, MlflowError> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        self.send(endpoint, self.http.post(url).json(body)).await
    }

    /// `experiments/get-by-name`; `None` when there is none.
    pub async fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, MlflowError> {
        #[derive(Deserialize)]
        struct Out {
            experiment: Experiment,
        }
        match self
            .get::<Out>("experiments/get-by-name", &[("experiment_name", name)])
            .await
        {
            Ok(o) => Ok(Some(o.experiment)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `experiments/create`: the new experiment's id.
    pub async fn create_experiment(&self, name: &str) -> Result<String, MlflowError> {
        #[derive(Deserialize)]
        struct Out {
            experiment_id: String,
        }
        let out: Out = self
            .post("experiments/create", &json!({ "name": name }))
            .await?;
        Ok(out.experiment_id)
    }

    /// `runs/create`.
    pub async fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        start_ms: i64,
        tags: &[Tag],
    ) -> Result<RunInfo, MlflowError> {
        let body = json!({ "experiment_id": experiment_id, "run_name": run_name,
                           "start_time": start_ms, "tags": tags });
        let out: Run = self.post("runs/create", &body).await.map(run_of)?;
        Ok(out.info)
    }

    /// `runs/update`: the run's final status (`FINISHED`, `FAILED`) and end time.
    pub async fn finish_run(
        &self,
        run_id: &str,
        status: &str,
        end_ms: i64,
    ) -> Result<(), MlflowError> {
        let body = json!({ "run_id": run_id, "status": status, "end_time": end_ms });
        self.post::<serde_json::Value>("runs/update", &body).await?;
        Ok(())
    }

    /// `runs/log-batch`. MLflow takes at most 1000 metrics, 100 params and 100 tags per call;
    /// callers split larger sets ([`super::LOG_BATCH_PARAMS`]).
    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<(), MlflowError> {
        let body = json!({ "run_id": run_id, "metrics": metrics, "params": params, "tags": tags });
        self.post::<serde_json::Value>("runs/log-batch", &body)
            .await?;
        Ok(())
    }

    /// `runs/get`.
    pub async fn get_run(&self, run_id: &str) -> Result<Run, MlflowError> {
        self.get::<RunOut>("runs/get", &[("run_id", run_id)])
            .await
            .map(run_of)
    }

    /// `artifacts/list` of a run (its top level when `path` is empty).
    pub async fn list_artifacts(
        &self,
        run_id: &str,
        path: &str,
    ) -> Result<Vec<FileInfo>, MlflowError> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(default)]
            files: Vec<FileInfo>,
        }
        let out: Out = self
            .get("artifacts/list", &[("run_id", run_id), ("path", path)])
            .await?;
        Ok(out.files)
    }

    /// Uploads one file under a run's `mlflow-artifacts:/…` root through the server's proxy
    /// (`PUT /api/2.0/mlflow-artifacts/artifacts/<path>`).
    pub async fn upload_artifact(
        &self,
        artifact_uri: &str,
        relative: &str,
        bytes: Vec<u8>,
    ) -> Result<(), MlflowError> {
        let root = artifact_uri
            .strip_prefix("mlflow-artifacts:")
            .ok_or_else(|| MlflowError::NotProxied(artifact_uri.into()))?;
        // `mlflow-artifacts:/1/abc/artifacts` or `mlflow-artifacts://host/1/abc/artifacts`.
        let root = match root.strip_prefix("//") {
            Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
            None => root.trim_start_matches('/'),
        };
        let path = format!("{root}/{relative}");
        let url = format!("{}/api/2.0/mlflow-artifacts/artifacts/{path}", self.base);
        let endpoint = format!("mlflow-artifacts/artifacts/{path}");
        self.send::<serde_json::Value>(&endpoint, self.http.put(url).body(bytes))
            .await?;
        Ok(())
    }

    /// Downloads one file under a run's `mlflow-artifacts:/…` root through the server's proxy
    /// (`GET /api/2.0/mlflow-artifacts/artifacts/<path>`).
    pub async fn download_artifact(
        &self,
        artifact_uri: &str,
        relative: &str,
    ) -> Result<Vec<u8>, MlflowError> {
        let root = artifact_uri
            .strip_prefix("mlflow-artifacts:")
            .ok_or_else(|| MlflowError::NotProxied(artifact_uri.into()))?;
        let root = match root.strip_prefix("//") {
            Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
            None => root.trim_start_matches('/'),
        };
        let path = format!("{root}/{relative}");
        let endpoint = format!("mlflow-artifacts/artifacts/{path}");
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let http = |source| MlflowError::Http {
            endpoint: endpoint.clone(),
            source,
        };
        let response = self.http.get(url).send().await.map_err(http)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(http)?;
        if !status.is_success() {
            return Err(MlflowError::Api {
                endpoint,
                status: status.as_u16(),
                code: "UNKNOWN".into(),
                message: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            });
        }
        Ok(bytes.to_vec())
    }

    /// `registered-models/get`; `None` when there is none.
    pub async fn registered_model(
        &self,
        name: &str,
    ) -> Result<Option<RegisteredModel>, MlflowError> {
        #[derive(Deserialize)]
        struct Out {
            registered_model: RegisteredModel,
        }
        match self
            .get::<Out>("registered-models/get", &[("name", name)])
            .await
        {
            Ok(o) => Ok(Some(o.registered_model)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `registered-models/create`.
    pub async fn create_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<(), MlflowError> {
        let body = json!({ "name": name, "description": description });
        self.post::<serde_json::Value>("registered-models/create", &body)
            .await?;
        Ok(())
    }

    /// `registered-models/set-tag`.
    pub async fn set_registered_model_tag(
        &self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        let body = json!({ "name": name, "key": key, "value": value });
        self.post::<serde_json::Value>("registered-models/set-tag", &body)
            .await?;
        Ok(())
    }

    /// `model-versions/create` with the run as source.
    pub async fn create_model_version(
        &self,
        name: &str,
        source: &str,
        run_id: &str,
        tags: &[Tag],
    ) -> Result<ModelVersionRecord, MlflowError> {
        let body = json!({ "name": name, "source": source, "run_id": run_id, "tags": tags });
        self.post::<VersionOut>("model-versions/create", &body)
            .await
            .map(|o| o.model_version)
    }

    /// `model-versions/search` for every version of `name` (all pages).
    pub async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersionRecord>, MlflowError> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(default)]
            model_versions: Vec<ModelVersionRecord>,
            next_page_token: Option<String>,
        }
        let filter = format!("name='{}'", name.replace('\'', "\\'"));
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("filter", filter.as_str()), ("max_results", "200")];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let page: Out = self.get("model-versions/search", &query).await?;
            out.extend(page.model_versions);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = t,
                None => return Ok(out),
            }
        }
    }

    /// `model-versions/set-tag`.
    pub async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        let body = json!({ "name": name, "version": version, "key": key, "value": value });
        self.post::<serde_json::Value>("model-versions/set-tag", &body)
            .await?;
        Ok(())
    }

    /// `registered-models/alias` (POST): points `alias` at `version`.
    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<(), MlflowError> {
        let body = json!({ "name": name, "alias": alias, "version": version });
        self.post::<serde_json::Value>("registered-models/alias", &body)
            .await?;
        Ok(())
    }

    /// `registered-models/alias` (GET): the version `alias` points at, if any.
    pub async fn version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<Option<ModelVersionRecord>, MlflowError> {
        match self
            .get::<VersionOut>(
                "registered-models/alias",
                &[("name", name), ("alias", alias)],
            )
            .await
        {
            Ok(o) => Ok(Some(o.model_version)),
            // MLflow 3 answers a missing alias with INVALID_PARAMETER_VALUE "… not found".
            Err(MlflowError::Api { code, message, .. })
                if code == "INVALID_PARAMETER_VALUE" && message.contains("not found") =>
            {
                Ok(None)
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[derive(Deserialize)]
struct RunOut {
    run: Run,
}

fn run_of(out: RunOut) -> Run {
    out.run
}

#[derive(Deserialize)]
struct VersionOut {
    model_version: ModelVersionRecord,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracking_uri_must_be_http() {
        assert!(matches!(
            MlflowClient::new("file:///tmp/mlruns"),
            Err(MlflowError::BadUri(_))
        ));
        let c = MlflowClient::new("http://127.0.0.1:5000/").unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:5000");
    }

    #[tokio::test]
    async fn artifacts_not_proxied_by_the_server_are_refused_before_any_call() {
        // Port 9 (discard) is never called: the URI is checked first.
        let c = MlflowClient::new("http://127.0.0.1:9").unwrap();
        let err = c
            .upload_artifact("file:///srv/mlruns/1/abc/artifacts", "model.json", vec![])
            .await
            .unwrap_err();
        assert!(matches!(err, MlflowError::NotProxied(_)), "{err}");
        assert!(err.to_string().contains("--serve-artifacts"));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_http_error_naming_the_endpoint() {
        let c = MlflowClient::new("http://127.0.0.1:9").unwrap();
        let err = c.registered_model("risk").await.unwrap_err();
        assert!(matches!(err, MlflowError::Http { .. }), "{err}");
        assert!(
            err.to_string().starts_with("MLflow registered-models/get:"),
            "{err}"
        );
    }
}
