//! `GET /images/search`: `docker search`, answered by the index the term names.

use super::pull::{registry_credentials, to_api};
use crate::daemon::Daemon;
use crate::error::Result;
use crate::server::http::{self, HandlerResult, Req};
use berth_api::ApiError;
use std::sync::Arc;

/// `GET /images/search?term=&limit=&filters=`: the index's search, filtered as dockerd
/// filters it (`is-official`, `stars`, and the deprecated `is-automated`, which nothing
/// matches any more when true).
pub async fn search(daemon: &Arc<Daemon>, req: &mut Req) -> HandlerResult {
    let limit = match req.q("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<u32>()
            .map_err(|e| ApiError::invalid(format!("invalid limit specified: {e}")))?,
        None => 0,
    };
    let filters = berth_api::filters::Filters::parse(req.q("filters").unwrap_or(""))?;
    filters.validate(&["is-automated", "is-official", "stars"])?;
    let flag = |key: &str| -> Result<Option<bool>> {
        match filters.get(key).last() {
            None => Ok(None),
            Some(v) => v
                .parse::<bool>()
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("invalid filter '{key}={v}'")).into()),
        }
    };
    let (official, automated) = (flag("is-official")?, flag("is-automated")?);
    let min_stars = match filters.get("stars").last() {
        None => 0,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| ApiError::invalid(format!("invalid filter 'stars={v}'")))?,
    };
    // As dockerd, a search is not refused for credentials it cannot read.
    let credentials = registry_credentials(req);
    let term = req.q("term").unwrap_or("").to_string();
    let found = berth_registry::search(&daemon.config.registry, &term, limit, &credentials)
        .await
        .map_err(|e| to_api(&e))?;
    let kept: Vec<_> = found
        .into_iter()
        .filter(|r| official.is_none_or(|o| r.is_official == o))
        .filter(|r| automated != Some(true) && r.star_count >= min_stars)
        .collect();
    Ok(http::json(hyper::StatusCode::OK, &kept))
}
