//! The event bus behind `GET /events`: a broadcast for followers and a bounded
//! history for `since`.

use berth_api::event::{Actor, Event};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

const HISTORY: usize = 1024;

/// Publishes events to subscribers and remembers the recent ones.
pub struct Events {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    pub fn new() -> Events {
        let (tx, _) = broadcast::channel(1024);
        Events {
            tx,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }

    /// Publishes one event with the legacy fields moby still fills for containers and images.
    pub fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let legacy = matches!(kind, "container" | "image");
        let from = attributes.get("image").cloned();
        let ev = Event {
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".to_string(),
            time: now.timestamp(),
            time_nano: nanos,
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: if kind == "container" { from } else { None },
        };
        {
            let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(ev.clone());
        }
        let _ = self.tx.send(ev);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Events at or after `since_nanos`.
    pub fn history_since(&self, since_nanos: i64) -> Vec<Event> {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        h.iter()
            .filter(|e| e.time_nano >= since_nanos)
            .cloned()
            .collect()
    }
}

/// Whether an event passes `/events` filters (type, event/action, container, image, label, …).
pub fn matches(ev: &Event, filters: &berth_api::filters::Filters) -> bool {
    let check = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let vals = filters.get(key);
        vals.is_empty() || vals.iter().any(|v| pred(v))
    };
    let name = ev
        .actor
        .attributes
        .get("name")
        .map(String::as_str)
        .unwrap_or("");
    let image = ev
        .actor
        .attributes
        .get("image")
        .map(String::as_str)
        .unwrap_or("");
    check("type", &|v| v == ev.kind)
        && check("event", &|v| {
            v == ev.action || ev.action.starts_with(&format!("{v}:"))
        })
        && check("container", &|v| {
            ev.kind == "container" && (v == name || ev.actor.id.starts_with(v))
        })
        && check("image", &|v| {
            (ev.kind == "image" && (ev.actor.id == v || ev.actor.id.starts_with(v)))
                || image == v
                || image.split(':').next() == Some(v)
        })
        && check("label", &|v| {
            berth_api::filters::label_matches(v, &ev.actor.attributes)
        })
        && check("scope", &|v| v == "local")
        // moby's fuzzyMatchName: the actor's ID or `name` attribute starts with the value.
        && check("network", &|v| {
            ev.kind == "network" && (ev.actor.id.starts_with(v) || name.starts_with(v))
        })
        && check("volume", &|v| {
            ev.kind == "volume" && (ev.actor.id.starts_with(v) || name.starts_with(v))
        })
        // Swarm objects and plugins never occur on this engine.
        && ["config", "node", "plugin", "secret", "service"]
            .iter()
            .all(|k| filters.get(k).is_empty())
}
