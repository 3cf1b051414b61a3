//! `POST /containers/{id}/wait`: headers at once, the body when the condition is met.

use super::Container;
use crate::server::http::{self, Resp};
use berth_api::container::WaitResponse;
use berth_api::ApiError;
use bytes::Bytes;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    NotRunning,
    NextExit,
    Removed,
}

impl Condition {
    pub fn parse(s: Option<&str>) -> Result<Condition, ApiError> {
        match s.unwrap_or("") {
            "" | "not-running" => Ok(Condition::NotRunning),
            "next-exit" => Ok(Condition::NextExit),
            "removed" => Ok(Condition::Removed),
            other => Err(ApiError::invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

/// Waits for the condition and returns the exit code.
pub async fn wait_for(c: &Arc<Container>, cond: Condition) -> i64 {
    let mut rx = c.lifecycle.subscribe();
    let start = *rx.borrow_and_update();
    loop {
        let now = *rx.borrow_and_update();
        let done = match cond {
            Condition::NotRunning => !now.running,
            Condition::NextExit => now.exits > start.exits,
            Condition::Removed => now.removed,
        };
        if done {
            return now.exit_code;
        }
        if rx.changed().await.is_err() {
            return rx.borrow().exit_code;
        }
    }
}

/// The streaming response: Docker's CLI sends `start` only after it has these headers.
pub fn respond(c: Arc<Container>, cond: Condition) -> Resp {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    tokio::spawn(async move {
        let code = wait_for(&c, cond).await;
        let mut body = serde_json::to_vec(&WaitResponse {
            status_code: code,
            error: None,
        })
        .unwrap_or_default();
        body.push(b'\n');
        let _ = tx.send(Bytes::from(body)).await;
    });
    http::streaming("application/json", rx)
}
