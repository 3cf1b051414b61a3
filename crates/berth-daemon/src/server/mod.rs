//! The Engine API over HTTP/1.1 on unix sockets.
//!
//! `http` holds the request/response plumbing (bodies, streams, hijack), `router` maps
//! method + path to the handlers that live with each object.

pub mod http;
pub mod router;

use crate::daemon::Daemon;
use futures_util::FutureExt;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::UnixListener;

/// Accepts connections forever on one listener.
pub async fn serve(listener: UnixListener, daemon: Arc<Daemon>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let daemon = daemon.clone();
                async move {
                    daemon
                        .requests
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let method = req.method().clone();
                    let uri = req.uri().clone();
                    let began = std::time::Instant::now();
                    let resp = std::panic::AssertUnwindSafe(router::route(daemon, req))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| {
                            tracing::error!("handler panicked on {method} {uri}");
                            http::error_response(&berth_api::ApiError::system(
                                "internal error: handler panicked",
                            ))
                        });
                    tracing::debug!(
                        "{method} {uri} -> {} ({} µs to the answer's head)",
                        resp.status().as_u16(),
                        began.elapsed().as_micros()
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!("connection: {e}");
            }
        });
    }
}
