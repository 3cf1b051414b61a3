//! `POST /commit`: a new image from a container's changes — its upper dir as one more
//! layer (overlay whiteouts turned into `.wh.` entries), its config merged with the
//! request's `Config` and `changes=` (Dockerfile instructions), a history entry.

use super::Container;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use berth_api::ApiError;
use berth_image::{Digest, History, ImageConfig, Reference};
use serde_json::{Map, Value};
use std::sync::Arc;

/// sha256 of an empty tar (two zero blocks): Docker's "empty layer".
const EMPTY_LAYER: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

pub struct CommitOptions {
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    pub changes: Vec<String>,
    /// The request body: a container `Config`, or null.
    pub config: Value,
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Docker's `merge(userConf, containerConf)`: what the user set wins; maps are unioned;
/// Env is merged by key; Cmd/Entrypoint follow the Dockerfile rule.
fn merge(user: &Map<String, Value>, base: &Map<String, Value>) -> Map<String, Value> {
    let mut out = base.clone();
    for (k, v) in user {
        if empty(v) {
            continue;
        }
        match (k.as_str(), base.get(k)) {
            ("Env", Some(Value::Array(b))) => {
                let mut env: Vec<Value> = b.clone();
                for e in v.as_array().into_iter().flatten() {
                    let key = e.as_str().unwrap_or("").split('=').next().unwrap_or("");
                    env.retain(|x| x.as_str().unwrap_or("").split('=').next() != Some(key));
                    env.push(e.clone());
                }
                out.insert(k.clone(), Value::Array(env));
            }
            ("Labels" | "ExposedPorts" | "Volumes", Some(Value::Object(b))) => {
                let mut m = b.clone();
                for (kk, vv) in v.as_object().into_iter().flatten() {
                    m.insert(kk.clone(), vv.clone());
                }
                out.insert(k.clone(), Value::Object(m));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let user_ep = user.get("Entrypoint").is_some_and(|v| !empty(v));
    let user_cmd = user.get("Cmd").is_some_and(|v| !empty(v));
    if user_ep && !user_cmd {
        out.insert("Cmd".into(), Value::Null);
    }
    out
}

pub async fn commit(daemon: &Arc<Daemon>, c: &Arc<Container>, o: CommitOptions) -> Result<String> {
    let target = if o.repo.is_empty() {
        None
    } else {
        let tag = if o.tag.is_empty() { "latest" } else { &o.tag };
        Some(Reference::parse(&format!("{}:{tag}", o.repo)).map_err(DaemonError::from)?)
    };
    // The user's config with the --change instructions applied.
    let mut user: berth_image::ContainerConfig = if o.config.is_null() {
        Default::default()
    } else {
        serde_json::from_value(o.config.clone())
            .map_err(|e| ApiError::invalid(format!("invalid config: {e}")))?
    };
    for change in &o.changes {
        for line in change.split('\n').filter(|l| !l.trim().is_empty()) {
            berth_image::import::apply_change(&mut user, line)
                .map_err(|e| ApiError::invalid(e.to_string()))?;
        }
    }
    let rec = c.snapshot();
    let base_cfg = match serde_json::to_value(&rec.config) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let user_cfg = match serde_json::to_value(&user) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let merged: berth_image::ContainerConfig =
        serde_json::from_value(Value::Object(merge(&user_cfg, &base_cfg)))
            .map_err(|e| DaemonError::Other(format!("merged config: {e}")))?;

    let paused_here = o.pause && rec.state.running && !rec.state.paused;
    if paused_here {
        super::pause::pause(daemon, c).await?;
    }
    let image = Digest::parse(&rec.image_id).map_err(DaemonError::from)?;
    let store = daemon.images.store.clone();
    let upper = daemon.container_paths(&rec.id).upper();
    let (author, comment) = (o.author.clone(), o.comment.clone());
    let created_by = rec.config.cmd.clone().unwrap_or_default().join(" ");
    let built = tokio::task::spawn_blocking(move || -> Result<Digest> {
        let base = store.image_config(&image)?;
        let parent = base.chain_ids().last().cloned();
        // The layer tar goes through a temp file: the store hashes and unpacks it.
        let mut suffix = [0u8; 8];
        let _ = getrandom::getrandom(&mut suffix);
        let tmp_path = store
            .root()
            .join("tmp")
            .join(format!("commit-{}", hex::encode(suffix)));
        let mut tmp = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| DaemonError::io("create layer temp file", e))?;
        let _ = std::fs::remove_file(&tmp_path);
        if upper.is_dir() {
            berth_image::changes::write_layer_tar(
                &upper,
                std::io::BufWriter::new(&mut tmp),
                super::changes::ENGINE_FILES,
            )
            .map_err(|e| DaemonError::io("write layer", e))?;
        } else {
            let mut b = tar::Builder::new(&mut tmp);
            b.finish().map_err(|e| DaemonError::io("write layer", e))?;
        }
        use std::io::Seek;
        tmp.rewind()
            .map_err(|e| DaemonError::io("rewind layer", e))?;
        let layer = store.apply_layer(parent.as_ref(), std::io::BufReader::new(tmp), None)?;
        let empty_layer = layer.diff_id.to_string() == EMPTY_LAYER;
        let created = super::now_rfc3339();
        let mut cfg: ImageConfig = base;
        if !empty_layer {
            cfg.rootfs.diff_ids.push(layer.diff_id);
        }
        cfg.history.push(History {
            created: Some(created.clone()),
            created_by: Some(created_by),
            author: (!author.is_empty()).then(|| author.clone()),
            comment: (!comment.is_empty()).then(|| comment.clone()),
            empty_layer,
            ..Default::default()
        });
        cfg.config = Some(merged);
        cfg.created = Some(created);
        cfg.author = (!author.is_empty()).then_some(author);
        cfg.comment = (!comment.is_empty()).then_some(comment);
        cfg.container = None;
        cfg.container_config = None;
        cfg.docker_version = Some(berth_api::version::ENGINE_COMPAT_VERSION.to_string());
        Ok(store.put_image_config(&cfg.to_vec())?)
    })
    .await
    .map_err(|e| DaemonError::Other(format!("commit task: {e}")));
    if paused_here {
        let _ = super::pause::unpause(daemon, c).await;
    }
    let id = built??;
    let tags: Vec<String> = target.iter().map(|r| r.to_string()).collect();
    daemon.images.register(&*daemon.store, &id, &tags)?;
    daemon.container_event(c, "commit", &[("comment", o.comment.clone())]);
    if let Some(t) = &target {
        daemon.events.publish(
            "image",
            "tag",
            &id.to_string(),
            [("name".to_string(), t.familiar())].into(),
        );
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_like_docker() {
        let base = json!({"Cmd": ["sh"], "Env": ["A=1", "B=2"], "Labels": {"x": "1"}, "User": "u"});
        let user = json!({"Entrypoint": ["/bin/true"], "Env": ["B=3"], "Labels": {"y": "2"}});
        let m = merge(user.as_object().unwrap(), base.as_object().unwrap());
        assert_eq!(m["Env"], json!(["A=1", "B=3"]));
        assert_eq!(m["Labels"], json!({"x": "1", "y": "2"}));
        assert_eq!(m["Cmd"], Value::Null);
        assert_eq!(m["User"], json!("u"));
    }
}
