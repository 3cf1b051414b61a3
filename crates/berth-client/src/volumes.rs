//! Volume endpoints (`/volumes/...`) and the container archive calls `volume
//! export/import` are built on (`GET|PUT /containers/{id}/archive`).

use crate::{query, seg, Body, BodyStream, Bytes, Client, Result};
use berth_api::filters::Filters;
use berth_api::volume::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use hyper::Method;

fn filters_query(filters: &Filters) -> String {
    query(&[("filters", (!filters.is_empty()).then(|| filters.to_json()))])
}

impl Client {
    pub async fn create_volume(&self, req: &VolumeCreateRequest) -> Result<Volume> {
        self.post_json("/volumes/create", req).await
    }

    pub async fn list_volumes(&self, filters: &Filters) -> Result<VolumeListResponse> {
        let v: Option<VolumeListResponse> = self
            .get_json(&format!("/volumes{}", filters_query(filters)))
            .await?;
        Ok(v.unwrap_or_default())
    }

    pub async fn inspect_volume(&self, name: &str) -> Result<Volume> {
        self.get_json(&format!("/volumes/{}", seg(name))).await
    }

    /// Inspect as the daemon's raw JSON (key order kept for printing).
    pub async fn inspect_volume_raw(&self, name: &str) -> Result<Bytes> {
        self.get_raw(&format!("/volumes/{}", seg(name))).await
    }

    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let q = query(&[("force", force.then(|| "1".to_string()))]);
        self.delete(&format!("/volumes/{}{q}", seg(name))).await
    }

    pub async fn prune_volumes(&self, filters: &Filters) -> Result<VolumePruneResponse> {
        let v: Option<VolumePruneResponse> = self
            .post_json(
                &format!("/volumes/prune{}", filters_query(filters)),
                &serde_json::Value::Null,
            )
            .await?;
        Ok(v.unwrap_or_default())
    }

    /// `GET /containers/{id}/archive?path=...&sparse=1`: a tar of a path in the container,
    /// files with holes as sparse entries (berth's extension; Docker ignores it).
    pub async fn volume_export_archive(&self, id: &str, path: &str) -> Result<BodyStream> {
        let q = query(&[
            ("path", Some(path.to_string())),
            ("sparse", Some("1".to_string())),
        ]);
        self.stream(
            Method::GET,
            &format!("/containers/{}/archive{q}", seg(id)),
            crate::empty(),
            &[],
        )
        .await
    }

    /// `PUT /containers/{id}/archive?path=...`: extracts a tar into a directory.
    pub async fn volume_import_archive(&self, id: &str, path: &str, tar: Body) -> Result<()> {
        let q = query(&[("path", Some(path.to_string()))]);
        self.request(
            Method::PUT,
            &format!("/containers/{}/archive{q}", seg(id)),
            tar,
            &[("Content-Type", "application/x-tar")],
        )
        .await?;
        Ok(())
    }
}
