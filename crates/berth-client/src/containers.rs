//! Container endpoints.

use crate::{empty, query, seg, BodyStream, Client, Hijacked, Result};
use berth_api::container::*;
use berth_api::exec::{ExecConfig, ExecInspect, ExecStartConfig, IdResponse};
use berth_api::filters::Filters;
use hyper::Method;

/// `GET /containers/json` parameters.
#[derive(Debug, Clone, Default)]
pub struct ListContainersOptions {
    pub all: bool,
    pub limit: Option<i64>,
    pub size: bool,
    pub filters: Filters,
}

/// `GET /containers/{id}/logs` parameters.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<String>,
    pub until: Option<String>,
    pub timestamps: bool,
    /// "all" or a number of lines.
    pub tail: Option<String>,
}

/// `POST /containers/{id}/attach` parameters.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub logs: bool,
    pub detach_keys: Option<String>,
}

fn flag(b: bool) -> Option<String> {
    b.then(|| "1".to_string())
}

impl Client {
    pub async fn list_containers(
        &self,
        o: &ListContainersOptions,
    ) -> Result<Vec<ContainerSummary>> {
        let q = query(&[
            ("all", flag(o.all)),
            ("limit", o.limit.map(|l| l.to_string())),
            ("size", flag(o.size)),
            (
                "filters",
                (!o.filters.is_empty()).then(|| o.filters.to_json()),
            ),
        ]);
        self.get_json(&format!("/containers/json{q}")).await
    }

    pub async fn create_container(
        &self,
        name: Option<&str>,
        platform: Option<&str>,
        body: &CreateRequest,
    ) -> Result<CreateResponse> {
        let q = query(&[
            ("name", name.map(str::to_string)),
            (
                "platform",
                platform.filter(|p| !p.is_empty()).map(str::to_string),
            ),
        ]);
        self.post_json(&format!("/containers/create{q}"), body)
            .await
    }

    pub async fn inspect_container(&self, id: &str) -> Result<ContainerInspect> {
        self.get_json(&format!("/containers/{}/json", seg(id)))
            .await
    }

    /// Inspect as raw JSON, keeping every field the daemon sent (for `inspect` output).
    pub async fn inspect_container_value(&self, id: &str, size: bool) -> Result<serde_json::Value> {
        let q = query(&[("size", flag(size))]);
        self.get_value(&format!("/containers/{}/json{q}", seg(id)))
            .await
    }

    pub async fn start_container(&self, id: &str, detach_keys: Option<&str>) -> Result<()> {
        let q = query(&[("detachKeys", detach_keys.map(str::to_string))]);
        self.post_empty(&format!("/containers/{}/start{q}", seg(id)))
            .await?;
        Ok(())
    }

    pub async fn stop_container(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let q = query(&[
            ("t", timeout.map(|t| t.to_string())),
            ("signal", signal.map(str::to_string)),
        ]);
        self.post_empty(&format!("/containers/{}/stop{q}", seg(id)))
            .await?;
        Ok(())
    }

    pub async fn restart_container(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let q = query(&[
            ("t", timeout.map(|t| t.to_string())),
            ("signal", signal.map(str::to_string)),
        ]);
        self.post_empty(&format!("/containers/{}/restart{q}", seg(id)))
            .await?;
        Ok(())
    }

    pub async fn kill_container(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let q = query(&[("signal", signal.map(str::to_string))]);
        self.post_empty(&format!("/containers/{}/kill{q}", seg(id)))
            .await?;
        Ok(())
    }

    pub async fn remove_container(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
        link: bool,
    ) -> Result<()> {
        let q = query(&[
            ("force", flag(force)),
            ("v", flag(volumes)),
            ("link", flag(link)),
        ]);
        self.delete(&format!("/containers/{}{q}", seg(id))).await
    }

    pub async fn pause_container(&self, id: &str) -> Result<()> {
        self.post_empty(&format!("/containers/{}/pause", seg(id)))
            .await?;
        Ok(())
    }

    pub async fn unpause_container(&self, id: &str) -> Result<()> {
        self.post_empty(&format!("/containers/{}/unpause", seg(id)))
            .await?;
        Ok(())
    }

    pub async fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        let q = query(&[("name", Some(new_name.to_string()))]);
        self.post_empty(&format!("/containers/{}/rename{q}", seg(id)))
            .await?;
        Ok(())
    }

    pub async fn resize_container(&self, id: &str, h: u16, w: u16) -> Result<()> {
        self.post_empty(&format!("/containers/{}/resize?h={h}&w={w}", seg(id)))
            .await?;
        Ok(())
    }

    /// `POST /containers/{id}/wait`. The daemon sends headers at once and the body when
    /// the condition is met, so callers usually spawn this before starting the container.
    pub async fn wait_container(&self, id: &str, condition: Option<&str>) -> Result<WaitResponse> {
        let q = query(&[("condition", condition.map(str::to_string))]);
        self.post_json(
            &format!("/containers/{}/wait{q}", seg(id)),
            &serde_json::Value::Null,
        )
        .await
    }

    pub async fn top_container(&self, id: &str, ps_args: Option<&str>) -> Result<TopResponse> {
        let q = query(&[("ps_args", ps_args.map(str::to_string))]);
        self.get_json(&format!("/containers/{}/top{q}", seg(id)))
            .await
    }

    pub async fn update_container(
        &self,
        id: &str,
        body: &serde_json::Value,
    ) -> Result<UpdateResponse> {
        self.post_json(&format!("/containers/{}/update", seg(id)), body)
            .await
    }

    pub async fn prune_containers(&self, filters: &Filters) -> Result<ContainerPruneResponse> {
        let q = query(&[("filters", (!filters.is_empty()).then(|| filters.to_json()))]);
        self.post_json(&format!("/containers/prune{q}"), &serde_json::Value::Null)
            .await
    }

    pub async fn logs(&self, id: &str, o: &LogsOptions) -> Result<BodyStream> {
        let q = query(&[
            ("follow", flag(o.follow)),
            ("stdout", flag(o.stdout)),
            ("stderr", flag(o.stderr)),
            ("since", o.since.clone()),
            ("until", o.until.clone()),
            ("timestamps", flag(o.timestamps)),
            ("tail", o.tail.clone()),
        ]);
        self.stream(
            Method::GET,
            &format!("/containers/{}/logs{q}", seg(id)),
            empty(),
            &[],
        )
        .await
    }

    /// `GET /containers/{id}/stats`: one JSON object per second, or one with `stream=false`.
    pub async fn stats(&self, id: &str, stream: bool) -> Result<BodyStream> {
        let q = if stream { "?stream=1" } else { "?stream=0" };
        self.stream(
            Method::GET,
            &format!("/containers/{}/stats{q}", seg(id)),
            empty(),
            &[],
        )
        .await
    }

    /// `POST /containers/{id}/attach?stream=1...`, hijacked.
    pub async fn attach(&self, id: &str, o: &AttachOptions) -> Result<Hijacked> {
        let q = query(&[
            ("stream", Some("1".into())),
            ("stdin", flag(o.stdin)),
            ("stdout", flag(o.stdout)),
            ("stderr", flag(o.stderr)),
            ("logs", flag(o.logs)),
            ("detachKeys", o.detach_keys.clone()),
        ]);
        self.hijack(&format!("/containers/{}/attach{q}", seg(id)), None)
            .await
    }

    pub async fn create_exec(&self, id: &str, cfg: &ExecConfig) -> Result<IdResponse> {
        self.post_json(&format!("/containers/{}/exec", seg(id)), cfg)
            .await
    }

    /// `POST /exec/{id}/start`: hijacked unless `detach`.
    pub async fn start_exec(
        &self,
        exec_id: &str,
        cfg: &ExecStartConfig,
    ) -> Result<Option<Hijacked>> {
        let path = format!("/exec/{}/start", seg(exec_id));
        if cfg.detach {
            self.post_json_empty(&path, cfg).await?;
            return Ok(None);
        }
        let body = serde_json::to_vec(cfg).unwrap_or_default();
        Ok(Some(self.hijack(&path, Some(body)).await?))
    }

    pub async fn resize_exec(&self, exec_id: &str, h: u16, w: u16) -> Result<()> {
        self.post_empty(&format!("/exec/{}/resize?h={h}&w={w}", seg(exec_id)))
            .await?;
        Ok(())
    }

    pub async fn inspect_exec(&self, exec_id: &str) -> Result<ExecInspect> {
        self.get_json(&format!("/exec/{}/json", seg(exec_id))).await
    }

    /// `GET /containers/{id}/export`: the container's filesystem as a tar stream.
    pub async fn export_container(&self, id: &str) -> Result<BodyStream> {
        self.stream(
            Method::GET,
            &format!("/containers/{}/export", seg(id)),
            empty(),
            &[],
        )
        .await
    }
}

/// A `/wait` request whose headers have arrived (so the daemon is watching); the
/// result comes with the body. docker's run flow needs this split: wait must be
/// registered before start, or a fast exit would be missed.
pub struct PendingWait {
    resp: hyper::Response<hyper::body::Incoming>,
}

impl PendingWait {
    /// Waits for the condition and decodes the answer.
    pub async fn finish(self) -> Result<WaitResponse> {
        crate::decode(self.resp).await
    }
}

impl Client {
    /// Sends `POST /containers/{id}/wait` and returns once the daemon answered headers.
    pub async fn wait_begin(&self, id: &str, condition: Option<&str>) -> Result<PendingWait> {
        let q = query(&[("condition", condition.map(str::to_string))]);
        let resp = self
            .request(
                Method::POST,
                &format!("/containers/{}/wait{q}", seg(id)),
                empty(),
                &[],
            )
            .await?;
        Ok(PendingWait { resp })
    }
}
