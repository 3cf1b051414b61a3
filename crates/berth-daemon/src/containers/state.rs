//! A container's place in its life as a type. The persisted and inspected
//! `ContainerState` is Docker's wire struct (a status string and five flags that must
//! agree); it is written only by [`Transition::apply`], from the typed [`Status`], and the
//! handlers ask `Status::can_*` before they act, with Docker's refusals.

use berth_api::container::ContainerState;
use berth_api::ApiError;

/// Where a container is, as Docker names it (`State.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Made, never started (or its first start failed).
    Created,
    /// Its process runs.
    Running,
    /// Its processes are frozen.
    Paused,
    /// Waiting out the restart policy's delay.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process ended.
    Exited,
    /// Could not be removed (Docker's "dead"; records of older daemons may say so).
    Dead,
}

impl Status {
    /// The status a wire state says (an empty status is a container never started).
    pub fn of(state: &ContainerState) -> Status {
        match state.status.as_str() {
            "running" if state.paused => Status::Paused,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "removing" => Status::Removing,
            "exited" => Status::Exited,
            "dead" => Status::Dead,
            _ if state.dead => Status::Dead,
            _ if state.running => Status::Running,
            _ => Status::Created,
        }
    }

    /// Docker's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether its process exists (running or frozen).
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }

    /// `start`: not while it runs (304), is paused, or is going away.
    pub fn can_start(self, id: &str) -> Result<(), ApiError> {
        match self {
            Status::Paused => Err(ApiError::conflict(
                "cannot start a paused container, try unpause instead",
            )),
            Status::Running => Err(ApiError::not_modified()),
            Status::Removing | Status::Dead => Err(ApiError::conflict(format!(
                "container {id} is marked for removal and cannot be started"
            ))),
            Status::Created | Status::Exited | Status::Restarting => Ok(()),
        }
    }

    /// `pause`: only a running, unfrozen container.
    pub fn can_pause(self, id: &str) -> Result<(), ApiError> {
        match self {
            Status::Running => Ok(()),
            Status::Paused => Err(ApiError::conflict(format!(
                "Container {id} is already paused"
            ))),
            _ => Err(ApiError::conflict(format!("container {id} is not running"))),
        }
    }

    /// `unpause`: only a frozen one.
    pub fn can_unpause(self, id: &str) -> Result<(), ApiError> {
        match self {
            Status::Paused => Ok(()),
            _ => Err(ApiError::conflict(format!("Container {id} is not paused"))),
        }
    }

    /// `exec`: a running, unfrozen container.
    pub fn can_exec(self, id: &str) -> Result<(), ApiError> {
        match self {
            Status::Running => Ok(()),
            Status::Paused => Err(ApiError::conflict(format!(
                "Container {id} is paused, unpause the container before exec"
            ))),
            _ => Err(ApiError::conflict(format!("container {id} is not running"))),
        }
    }

    /// `rm`: a running one only with force; one removal at a time.
    pub fn can_remove(self, id: &str, name: &str, force: bool) -> Result<(), ApiError> {
        match self {
            Status::Removing => Err(ApiError::conflict(format!(
                "removal of container {id} is already in progress"
            ))),
            Status::Running | Status::Paused if !force => Err(ApiError::conflict(format!(
                "cannot remove container \"/{name}\": container is {}: stop the container before removing or force remove",
                self.as_str()
            ))),
            _ => Ok(()),
        }
    }
}

/// A change of state. [`apply`](Transition::apply) is the one writer of the wire fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Its process runs now.
    Started { pid: i64, started_at: String },
    /// A start failed: the reason and Docker's code for it are kept; a container waiting
    /// to restart is exited now, others stay as they were (Docker's "created").
    StartFailed { exit_code: i64, error: String },
    /// Frozen.
    Paused,
    /// Thawed.
    Unpaused,
    /// Its process ended.
    Exited {
        exit_code: i64,
        oom_killed: bool,
        finished_at: String,
        error: String,
    },
    /// The restart policy will start it again after a delay.
    RestartPending,
    /// A pending restart was called off (stop, rm, or the start failed).
    RestartCancelled,
    /// Removal began.
    Removing,
}

/// A transition the current status does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} container cannot take {what}")]
pub struct InvalidTransition {
    /// The status it was in.
    pub from: &'static str,
    /// The transition refused.
    pub what: String,
}

impl Transition {
    /// Writes the transition into `state`, all fields together; refuses one the status
    /// does not allow (and leaves `state` as it was).
    pub fn apply(self, state: &mut ContainerState) -> Result<Status, InvalidTransition> {
        let from = Status::of(state);
        let refuse = |t: &Transition| InvalidTransition {
            from: from.as_str(),
            what: format!("{t:?}"),
        };
        let to = match &self {
            Transition::Started { .. } => match from {
                Status::Created | Status::Exited | Status::Restarting => Status::Running,
                _ => return Err(refuse(&self)),
            },
            Transition::StartFailed { .. } => match from {
                Status::Restarting => Status::Exited,
                Status::Created | Status::Exited => from,
                _ => return Err(refuse(&self)),
            },
            Transition::Paused => match from {
                Status::Running => Status::Paused,
                _ => return Err(refuse(&self)),
            },
            Transition::Unpaused => match from {
                Status::Paused => Status::Running,
                _ => return Err(refuse(&self)),
            },
            // An exit is a fact: it is recorded whatever the record said (a monitor found
            // gone at start-up ends a "running" record; a removal keeps its status).
            Transition::Exited { .. } => match from {
                Status::Removing => Status::Removing,
                _ => Status::Exited,
            },
            Transition::RestartPending => match from {
                Status::Exited => Status::Restarting,
                _ => return Err(refuse(&self)),
            },
            Transition::RestartCancelled => match from {
                Status::Restarting => Status::Exited,
                other => other,
            },
            Transition::Removing => Status::Removing,
        };
        match self {
            Transition::Started { pid, started_at } => {
                state.pid = pid;
                state.started_at = started_at;
                state.exit_code = 0;
                state.error.clear();
                state.oom_killed = false;
            }
            Transition::StartFailed { exit_code, error } => {
                state.exit_code = exit_code;
                state.error = error;
            }
            Transition::Exited {
                exit_code,
                oom_killed,
                finished_at,
                error,
            } => {
                state.pid = 0;
                state.exit_code = exit_code;
                state.oom_killed = oom_killed;
                state.finished_at = finished_at;
                state.error = error;
            }
            Transition::Paused
            | Transition::Unpaused
            | Transition::RestartPending
            | Transition::RestartCancelled
            | Transition::Removing => {}
        }
        set_status(state, to);
        Ok(to)
    }
}

/// The status and the flags Docker derives from it, kept in agreement.
fn set_status(state: &mut ContainerState, to: Status) {
    state.status = to.as_str().to_string();
    state.running = to.is_running();
    state.paused = to == Status::Paused;
    state.restarting = to == Status::Restarting;
    state.dead = to == Status::Dead;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(s: Status) -> ContainerState {
        let mut st = ContainerState::default();
        set_status(&mut st, s);
        st
    }

    fn started() -> Transition {
        Transition::Started {
            pid: 42,
            started_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn exited(code: i64) -> Transition {
        Transition::Exited {
            exit_code: code,
            oom_killed: code == 137,
            finished_at: "2026-01-01T00:00:01Z".into(),
            error: String::new(),
        }
    }

    #[test]
    fn a_life_from_created_to_removing() {
        let mut st = ContainerState::default();
        assert_eq!(Status::of(&st), Status::Created);
        assert_eq!(started().apply(&mut st), Ok(Status::Running));
        assert!(st.running && !st.paused && st.pid == 42 && st.status == "running");
        assert_eq!(Transition::Paused.apply(&mut st), Ok(Status::Paused));
        assert!(st.running && st.paused && st.status == "paused");
        assert_eq!(Transition::Unpaused.apply(&mut st), Ok(Status::Running));
        assert_eq!(exited(137).apply(&mut st), Ok(Status::Exited));
        assert!(!st.running && st.oom_killed && st.pid == 0 && st.exit_code == 137);
        assert_eq!(
            Transition::RestartPending.apply(&mut st),
            Ok(Status::Restarting)
        );
        assert!(st.restarting && !st.running && st.status == "restarting");
        assert_eq!(started().apply(&mut st), Ok(Status::Running));
        assert!(!st.restarting && !st.oom_killed && st.exit_code == 0);
        assert_eq!(exited(0).apply(&mut st), Ok(Status::Exited));
        assert_eq!(Transition::Removing.apply(&mut st), Ok(Status::Removing));
        assert_eq!(Status::of(&st), Status::Removing);
    }

    #[test]
    fn refused_transitions_leave_the_state_alone() {
        for (from, t) in [
            (Status::Running, started()),
            (Status::Paused, started()),
            (Status::Created, Transition::Paused),
            (Status::Exited, Transition::Paused),
            (Status::Running, Transition::Unpaused),
            (Status::Running, Transition::RestartPending),
            (Status::Removing, started()),
        ] {
            let mut st = state(from);
            let before = st.clone();
            let e = t.clone().apply(&mut st).unwrap_err();
            assert_eq!(e.from, from.as_str(), "{t:?}");
            assert_eq!(st.status, before.status);
            assert_eq!(st.running, before.running);
        }
    }

    #[test]
    fn failed_starts_and_cancelled_restarts() {
        let mut st = state(Status::Created);
        let failed = Transition::StartFailed {
            exit_code: 127,
            error: "not found".into(),
        };
        assert_eq!(failed.clone().apply(&mut st), Ok(Status::Created));
        assert_eq!((st.exit_code, st.error.as_str()), (127, "not found"));
        let mut st = state(Status::Restarting);
        assert_eq!(failed.apply(&mut st), Ok(Status::Exited));
        assert!(!st.restarting);
        let mut st = state(Status::Restarting);
        assert_eq!(
            Transition::RestartCancelled.apply(&mut st),
            Ok(Status::Exited)
        );
        let mut st = state(Status::Running);
        assert_eq!(
            Transition::RestartCancelled.apply(&mut st),
            Ok(Status::Running)
        );
        // An exit during a removal keeps the removal.
        let mut st = state(Status::Removing);
        assert_eq!(exited(1).apply(&mut st), Ok(Status::Removing));
    }

    #[test]
    fn checks_answer_as_docker() {
        assert_eq!(
            Status::Paused.can_start("c").unwrap_err().message,
            "cannot start a paused container, try unpause instead"
        );
        assert_eq!(Status::Running.can_start("c").unwrap_err().status(), 304);
        assert!(Status::Exited.can_start("c").is_ok());
        assert_eq!(
            Status::Paused.can_exec("c").unwrap_err().message,
            "Container c is paused, unpause the container before exec"
        );
        assert_eq!(
            Status::Running.can_remove("c", "web", false).unwrap_err().message,
            "cannot remove container \"/web\": container is running: stop the container before removing or force remove"
        );
        assert!(Status::Running.can_remove("c", "web", true).is_ok());
        assert_eq!(
            Status::Exited.can_pause("c").unwrap_err().message,
            "container c is not running"
        );
        assert!(Status::Paused.can_unpause("c").is_ok());
        // Older records: flags without a status word.
        let mut st = ContainerState {
            running: true,
            ..Default::default()
        };
        assert_eq!(Status::of(&st), Status::Running);
        st.status = "running".into();
        st.paused = true;
        assert_eq!(Status::of(&st), Status::Paused);
    }
}
