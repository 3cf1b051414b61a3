//! Method + path → handler. Paths are matched after the `/vX.Y` prefix is stripped.
//! Image names may contain '/', so image routes match on their suffix.

use super::http::{self, HandlerResult, Req, Resp};
use crate::containers;
use crate::daemon::Daemon;
use berth_api::filters::Filters;
use berth_api::ApiError;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use std::sync::Arc;

pub async fn route(daemon: Arc<Daemon>, req: Request<Incoming>) -> Resp {
    let mut req = Req::new(req);
    if !berth_api::version::supported(&req.version) {
        let msg = if berth_api::version::parse(&req.version)
            > berth_api::version::parse(berth_api::API_VERSION)
        {
            format!(
                "client version {} is too new. Maximum supported API version is {}",
                req.version,
                berth_api::API_VERSION
            )
        } else {
            format!(
                "client version {} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
                req.version,
                berth_api::MIN_API_VERSION
            )
        };
        return http::error_response(&ApiError::invalid(msg));
    }
    match dispatch(&daemon, &mut req).await {
        Ok(r) => r,
        Err(e) => http::error_response(&e.to_api()),
    }
}

fn filters(req: &Req) -> Result<Filters, ApiError> {
    Filters::parse(req.q("filters").unwrap_or(""))
}

async fn dispatch(daemon: &Arc<Daemon>, req: &mut Req) -> HandlerResult {
    let path = req.path.clone();
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            urlencoding::decode(s)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| s.to_string())
        })
        .collect();
    let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.clone();
    use Method as M;
    match (&m, seg.as_slice()) {
        (_, ["networks", ..]) => network_route(daemon, req, &m, &seg[1..]).await,
        (_, ["volumes", ..]) => crate::volumes::handlers::route(daemon, req, &m, &seg[1..]).await,
        (&M::GET | &M::HEAD, ["_ping"]) => Ok(crate::system::ping(m == M::HEAD)),
        (&M::GET, ["version"]) => Ok(http::json(StatusCode::OK, &crate::system::version())),
        (&M::GET, ["info"]) => Ok(http::json(StatusCode::OK, &crate::system::info(daemon))),
        (&M::GET, ["events"]) => crate::system::events(daemon, req).await,
        (&M::GET, ["system", "df"]) => crate::system::df(daemon, req).await,
        // No build cache yet (the classic builder is on the roadmap): nothing to prune, but
        // `docker system prune` and `docker builder prune` call this and must succeed.
        (&M::POST, ["build", "prune"]) => Ok(http::json(
            StatusCode::OK,
            &serde_json::json!({"CachesDeleted": [], "SpaceReclaimed": 0}),
        )),

        (&M::POST, ["containers", "create"]) => {
            let body: berth_api::container::CreateRequest = req.json().await?;
            let name = req.q("name").map(str::to_string);
            let (id, warnings) =
                containers::create::create(daemon, name.as_deref(), body, &req.version).await?;
            Ok(http::json(
                StatusCode::CREATED,
                &berth_api::container::CreateResponse { id, warnings },
            ))
        }
        (&M::GET, ["containers", "json"]) => {
            let f = filters(req)?;
            let list = containers::list::list(
                daemon,
                req.qbool("all"),
                req.qint("limit")?,
                req.qbool("latest"),
                &f,
            )?;
            let list = if req.qbool("size") {
                let d = daemon.clone();
                tokio::task::spawn_blocking(move || {
                    let mut list = list;
                    for s in list.iter_mut() {
                        containers::list::fill_sizes(&d, s);
                    }
                    list
                })
                .await
                .map_err(|e| crate::DaemonError::Other(e.to_string()))?
            } else {
                list
            };
            Ok(http::json(StatusCode::OK, &list))
        }
        (&M::POST, ["containers", "prune"]) => {
            let f = filters(req)?;
            Ok(http::json(
                StatusCode::OK,
                &containers::prune::prune(daemon, &f).await?,
            ))
        }
        (_, ["containers", id, rest @ ..]) => container_route(daemon, req, &m, id, rest).await,
        (&M::POST, ["commit"]) => {
            let c = daemon.containers.find(req.q("container").unwrap_or(""))?;
            let config: serde_json::Value = req.json().await?;
            let q = |k: &str| req.q(k).unwrap_or("").to_string();
            let o = containers::commit::CommitOptions {
                repo: q("repo"),
                tag: q("tag"),
                comment: q("comment"),
                author: q("author"),
                pause: req.q("pause").is_none_or(|p| p.is_empty()) || req.qbool("pause"),
                changes: req.q_all("changes"),
                config,
            };
            let id = containers::commit::commit(daemon, &c, o).await?;
            Ok(http::json(
                StatusCode::CREATED,
                &serde_json::json!({ "Id": id }),
            ))
        }

        (&M::POST, ["exec", id, "start"]) => {
            let inst = containers::exec::find(daemon, id)?;
            containers::exec::start(daemon, &inst, req).await
        }
        (&M::POST, ["exec", id, "resize"]) => {
            let inst = containers::exec::find(daemon, id)?;
            let (h, w) = (req.qint("h")?.unwrap_or(0), req.qint("w")?.unwrap_or(0));
            inst.resize(h.clamp(0, 65535) as u16, w.clamp(0, 65535) as u16)
                .await;
            Ok(http::response(StatusCode::OK, None, http::empty()))
        }
        (&M::GET, ["exec", id, "json"]) => {
            let inst = containers::exec::find(daemon, id)?;
            Ok(http::json(
                StatusCode::OK,
                &containers::exec::inspect(&inst),
            ))
        }

        (&M::GET, ["distribution", ..]) if path.ends_with("/json") => {
            let decoded = urlencoding::decode(&path)
                .map(|c| c.into_owned())
                .unwrap_or(path.clone());
            let name = decoded
                .trim_start_matches("/distribution/")
                .trim_end_matches("/json")
                .to_string();
            crate::images::pull::distribution(daemon, req, &name).await
        }
        (&M::POST, ["auth"]) => {
            let creds: berth_registry::Credentials = req.json().await?;
            crate::images::pull::login(daemon, creds).await
        }
        (_, ["images", ..]) => {
            let decoded = urlencoding::decode(&path)
                .map(|c| c.into_owned())
                .unwrap_or(path.clone());
            crate::images::handlers::route(daemon, req, &m, &decoded).await
        }

        _ => Err(ApiError::not_found("page not found").into()),
    }
}

async fn container_route(
    daemon: &Arc<Daemon>,
    req: &mut Req,
    m: &Method,
    id: &str,
    rest: &[&str],
) -> HandlerResult {
    use Method as M;
    let c = daemon.containers.find(id)?;
    match (m, rest) {
        (&M::GET, ["json"]) => {
            let mut body = containers::inspect::inspect(daemon, &c);
            if req.qbool("size") {
                let (d, id, image) = (daemon.clone(), c.id.clone(), body.image.clone());
                let rw = tokio::task::spawn_blocking(move || {
                    containers::prune::dir_size(&d.container_paths(&id).upper()) as i64
                })
                .await
                .map_err(|e| crate::DaemonError::Other(e.to_string()))?;
                body.size_rw = Some(rw);
                body.size_root_fs = Some(rw + daemon.images.image_size(&image));
            }
            Ok(http::json(StatusCode::OK, &body))
        }
        (&M::POST, ["start"]) => {
            containers::start::start(daemon, &c).await?;
            Ok(http::no_content())
        }
        (&M::POST, ["stop"]) => {
            let t = req.qint("t")?.or(req.qint("timeout")?);
            let sig = req
                .q("signal")
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            containers::stop::stop(daemon, &c, sig.as_deref(), t).await?;
            Ok(http::no_content())
        }
        (&M::POST, ["restart"]) => {
            let t = req.qint("t")?.or(req.qint("timeout")?);
            let sig = req
                .q("signal")
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            containers::stop::restart(daemon, &c, sig.as_deref(), t).await?;
            Ok(http::no_content())
        }
        (&M::POST, ["kill"]) => {
            let sig = req.q("signal").unwrap_or("SIGKILL").to_string();
            containers::kill::kill(daemon, &c, &sig).await?;
            Ok(http::no_content())
        }
        (&M::POST, ["wait"]) => {
            let cond = containers::wait::Condition::parse(req.q("condition"))?;
            Ok(containers::wait::respond(c, cond))
        }
        (&M::POST, ["attach"]) => containers::attach::attach(daemon, &c, req).await,
        (&M::GET, ["logs"]) => containers::logs::logs(daemon, &c, req).await,
        (&M::DELETE, []) => {
            containers::remove::remove(daemon, &c, req.qbool("force"), false).await?;
            if req.qbool("v") {
                crate::volumes::remove_anonymous(daemon, &c.snapshot().mounts);
            }
            Ok(http::no_content())
        }
        (&M::POST, ["pause"]) => {
            containers::pause::pause(daemon, &c).await?;
            Ok(http::no_content())
        }
        (&M::POST, ["unpause"]) => {
            containers::pause::unpause(daemon, &c).await?;
            Ok(http::no_content())
        }
        (&M::POST, ["rename"]) => {
            let name = req.q("name").unwrap_or("").to_string();
            containers::rename::rename(daemon, &c, &name).await?;
            Ok(http::no_content())
        }
        (&M::POST, ["update"]) => {
            let body: berth_api::container::UpdateRequest = req.json().await?;
            Ok(http::json(
                StatusCode::OK,
                &containers::update::update(daemon, &c, body).await?,
            ))
        }
        (&M::GET, ["top"]) => {
            let args = req.q("ps_args").unwrap_or("").to_string();
            Ok(http::json(
                StatusCode::OK,
                &containers::top::top(daemon, &c, &args).await?,
            ))
        }
        (&M::GET, ["stats"]) => containers::stats::stats(daemon, &c, req).await,
        (&M::POST, ["resize"]) => {
            let (h, w) = (req.qint("h")?.unwrap_or(0), req.qint("w")?.unwrap_or(0));
            if !c.is_running() {
                return Err(
                    ApiError::conflict(format!("Container {} is not running", c.id)).into(),
                );
            }
            let mut p = Vec::new();
            p.extend_from_slice(&(h.clamp(0, 65535) as u16).to_be_bytes());
            p.extend_from_slice(&(w.clamp(0, 65535) as u16).to_be_bytes());
            if let Some(mw) = c.monitor.lock().await.as_mut() {
                let _ = mw
                    .send(berth_runtime::protocol::FrameKind::Resize, &p)
                    .await;
            }
            Ok(http::response(StatusCode::OK, None, http::empty()))
        }
        (&M::HEAD, ["archive"]) => containers::archive::head(daemon, &c, id, req).await,
        (&M::GET, ["archive"]) => containers::archive::get(daemon, &c, id, req).await,
        (&M::PUT, ["archive"]) => containers::archive::put(daemon, &c, id, req).await,
        (&M::GET, ["export"]) => containers::archive::export(daemon, &c).await,
        (&M::GET, ["changes"]) => Ok(http::json(
            StatusCode::OK,
            &containers::changes::changes(daemon, &c).await?,
        )),
        (&M::POST, ["exec"]) => {
            let body: berth_api::exec::ExecConfig = req.json().await?;
            let id = containers::exec::create(daemon, &c, body)?;
            Ok(http::json(
                StatusCode::CREATED,
                &berth_api::exec::IdResponse { id },
            ))
        }
        _ => Err(ApiError::not_found("page not found").into()),
    }
}

async fn network_route(
    daemon: &Arc<Daemon>,
    req: &mut Req,
    m: &Method,
    rest: &[&str],
) -> HandlerResult {
    use crate::networks::handlers as h;
    use Method as M;
    match (m, rest) {
        (&M::GET, []) => {
            let f = filters(req)?;
            Ok(http::json(StatusCode::OK, &h::list(daemon, &f)?))
        }
        (&M::POST, ["create"]) => {
            let body: berth_api::network::NetworkCreateRequest = req.json().await?;
            Ok(http::json(
                StatusCode::CREATED,
                &h::create(daemon, body).await?,
            ))
        }
        (&M::POST, ["prune"]) => {
            let f = filters(req)?;
            Ok(http::json(StatusCode::OK, &h::prune(daemon, &f).await?))
        }
        (&M::GET, [id]) => Ok(http::json(StatusCode::OK, &h::inspect(daemon, id)?)),
        (&M::DELETE, [id]) => {
            h::remove(daemon, id).await?;
            Ok(http::no_content())
        }
        (&M::POST, [id, "connect"]) => {
            let body: berth_api::network::NetworkConnectRequest = req.json().await?;
            h::connect(daemon, id, body).await?;
            Ok(http::response(StatusCode::OK, None, http::empty()))
        }
        (&M::POST, [id, "disconnect"]) => {
            let body: berth_api::network::NetworkDisconnectRequest = req.json().await?;
            h::disconnect(daemon, id, body).await?;
            Ok(http::response(StatusCode::OK, None, http::empty()))
        }
        _ => Err(ApiError::not_found("page not found").into()),
    }
}
