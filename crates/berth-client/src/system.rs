//! System endpoints: ping, version, info, df, events.

use crate::{empty, query, BodyStream, Client, Result};
use berth_api::filters::Filters;
use berth_api::system::{DiskUsage, Version};
use http_body_util::BodyExt;
use hyper::Method;

impl Client {
    /// `GET /_ping` (unversioned); returns the daemon's `Api-Version` header, if any.
    pub async fn ping(&self) -> Result<Option<String>> {
        let resp = self.request_unversioned(Method::GET, "/_ping").await?;
        let v = resp
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let _ = resp.into_body().collect().await;
        Ok(v)
    }

    pub async fn version(&self) -> Result<Version> {
        self.get_json("/version").await
    }

    /// `GET /info` as raw JSON: the shape is wide and we print only parts of it.
    pub async fn info(&self) -> Result<serde_json::Value> {
        self.get_value("/info").await
    }

    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        self.get_json("/system/df").await
    }

    /// `GET /events`: a stream of newline-delimited JSON events.
    pub async fn events(
        &self,
        since: Option<String>,
        until: Option<String>,
        filters: &Filters,
    ) -> Result<BodyStream> {
        let q = query(&[
            ("since", since),
            ("until", until),
            ("filters", (!filters.is_empty()).then(|| filters.to_json())),
        ]);
        self.stream(Method::GET, &format!("/events{q}"), empty(), &[])
            .await
    }
}
