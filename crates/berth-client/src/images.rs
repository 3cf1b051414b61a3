//! Image endpoints.

use crate::{empty, query, seg, Body, BodyStream, Client, Result};
use berth_api::filters::Filters;
use berth_api::image::*;
use hyper::Method;

/// The `X-Registry-Auth` header, when the caller has credentials for the registry.
fn auth_header(registry_auth: Option<&str>) -> Vec<(&'static str, &str)> {
    registry_auth
        .map(|a| ("X-Registry-Auth", a))
        .into_iter()
        .collect()
}

/// `GET /images/json` parameters.
#[derive(Debug, Clone, Default)]
pub struct ListImagesOptions {
    pub all: bool,
    pub digests: bool,
    pub filters: Filters,
}

impl Client {
    pub async fn list_images(&self, o: &ListImagesOptions) -> Result<Vec<ImageSummary>> {
        let q = query(&[
            ("all", o.all.then(|| "1".to_string())),
            ("digests", o.digests.then(|| "1".to_string())),
            (
                "filters",
                (!o.filters.is_empty()).then(|| o.filters.to_json()),
            ),
        ]);
        self.get_json(&format!("/images/json{q}")).await
    }

    pub async fn inspect_image(&self, name: &str) -> Result<ImageInspect> {
        self.get_json(&format!("/images/{}/json", seg(name))).await
    }

    /// Inspect as raw JSON, keeping every field the daemon sent.
    pub async fn inspect_image_value(&self, name: &str) -> Result<serde_json::Value> {
        self.get_value(&format!("/images/{}/json", seg(name))).await
    }

    pub async fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        self.get_json(&format!("/images/{}/history", seg(name)))
            .await
    }

    pub async fn remove_image(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<DeleteItem>> {
        let q = query(&[
            ("force", force.then(|| "1".to_string())),
            ("noprune", noprune.then(|| "1".to_string())),
        ]);
        let v: Option<Vec<DeleteItem>> = self
            .delete_json(&format!("/images/{}{q}", seg(name)))
            .await?;
        Ok(v.unwrap_or_default())
    }

    pub async fn tag_image(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let q = query(&[
            ("repo", Some(repo.to_string())),
            ("tag", tag.map(str::to_string)),
        ]);
        self.post_empty(&format!("/images/{}/tag{q}", seg(name)))
            .await?;
        Ok(())
    }

    pub async fn prune_images(&self, filters: &Filters) -> Result<ImagePruneResponse> {
        let q = query(&[("filters", (!filters.is_empty()).then(|| filters.to_json()))]);
        self.post_json(&format!("/images/prune{q}"), &serde_json::Value::Null)
            .await
    }

    /// `GET /images/get?names=...`: a docker-archive tar of the images.
    pub async fn save_images(&self, names: &[String]) -> Result<BodyStream> {
        let q: Vec<String> = names
            .iter()
            .map(|n| format!("names={}", urlencoding::encode(n)))
            .collect();
        self.stream(
            Method::GET,
            &format!("/images/get?{}", q.join("&")),
            empty(),
            &[],
        )
        .await
    }

    /// `POST /images/load`: uploads a docker-archive; the answer is a progress stream.
    pub async fn load_images(&self, archive: Body, quiet: bool) -> Result<BodyStream> {
        let q = if quiet { "?quiet=1" } else { "" };
        self.stream(
            Method::POST,
            &format!("/images/load{q}"),
            archive,
            &[("Content-Type", "application/x-tar")],
        )
        .await
    }

    /// `POST /images/create?fromSrc=-`: imports a rootfs tarball (the body) as an image.
    /// The answer is a progress stream whose last status is the new image ID.
    pub async fn import_image(
        &self,
        archive: Body,
        repo: Option<&str>,
        tag: Option<&str>,
        message: Option<&str>,
        changes: &[String],
        platform: Option<&str>,
    ) -> Result<BodyStream> {
        let mut q = query(&[
            ("fromSrc", Some("-".to_string())),
            ("repo", repo.map(str::to_string)),
            ("tag", tag.map(str::to_string)),
            ("message", message.map(str::to_string)),
            ("platform", platform.map(str::to_string)),
        ]);
        for c in changes {
            q.push_str(&format!("&changes={}", urlencoding::encode(c)));
        }
        self.stream(
            Method::POST,
            &format!("/images/create{q}"),
            archive,
            &[("Content-Type", "application/x-tar")],
        )
        .await
    }
}

impl Client {
    /// `POST /images/create?fromImage=...&tag=...`: pulls through the daemon; the answer
    /// is a progress stream (errors may arrive mid-stream as `errorDetail`).
    /// `registry_auth`: the `X-Registry-Auth` value (base64url JSON of the credentials).
    pub async fn pull_image(
        &self,
        image: &str,
        tag: Option<&str>,
        platform: Option<&str>,
        registry_auth: Option<&str>,
    ) -> Result<BodyStream> {
        let q = query(&[
            ("fromImage", Some(image.to_string())),
            ("tag", tag.map(str::to_string)),
            (
                "platform",
                platform.filter(|p| !p.is_empty()).map(str::to_string),
            ),
        ]);
        let headers = auth_header(registry_auth);
        self.stream(
            Method::POST,
            &format!("/images/create{q}"),
            empty(),
            &headers,
        )
        .await
    }

    /// `POST /images/{name}/push?tag=`; `registry_auth` as for [`Client::pull_image`].
    pub async fn push_image(
        &self,
        name: &str,
        tag: Option<&str>,
        registry_auth: Option<&str>,
    ) -> Result<BodyStream> {
        let q = query(&[("tag", tag.map(str::to_string))]);
        let headers = auth_header(registry_auth);
        self.stream(
            Method::POST,
            &format!("/images/{}/push{q}", seg(name)),
            empty(),
            &headers,
        )
        .await
    }

    /// `POST /auth`: checks credentials against a registry; returns the identity token the
    /// registry issued, if any.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        server: &str,
    ) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct AuthResponse {
            #[serde(rename = "IdentityToken", default)]
            identity_token: String,
        }
        let body = serde_json::json!({
            "username": username,
            "password": password,
            "serveraddress": server,
        });
        let r: AuthResponse = self.post_json("/auth", &body).await?;
        Ok(Some(r.identity_token).filter(|t| !t.is_empty()))
    }

    /// `GET /images/search?term=&limit=&filters=`: the index's hits as JSON values (the
    /// Engine API's `star_count`, `is_official`, `name`, `description`, …).
    pub async fn search_images(
        &self,
        term: &str,
        limit: Option<u32>,
        filters: &Filters,
        registry_auth: Option<&str>,
    ) -> Result<Vec<serde_json::Value>> {
        let q = query(&[
            ("term", Some(term.to_string())),
            ("limit", limit.filter(|l| *l > 0).map(|l| l.to_string())),
            ("filters", (!filters.is_empty()).then(|| filters.to_json())),
        ]);
        let headers = auth_header(registry_auth);
        let resp = self
            .request(
                Method::GET,
                &format!("/images/search{q}"),
                empty(),
                &headers,
            )
            .await?;
        crate::decode(resp).await
    }
}
