//! What both supervisors do with a child: start it, stop it as its spec says,
//! and count restarts against the intensity limit.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::spec::{ChildSpec, Shutdown, Started};
use super::{ChildCount, ChildInfo, ChildKind};
use crate::StartError;
use crate::pid::ProcessHandle;
use crate::process::{self, AnyProcess};
use crate::{ExitReason, Pid};

/// One child of a supervisor: its spec, and its process while it runs.
#[derive(Clone)]
pub(crate) struct Child {
    pub(crate) spec: ChildSpec,
    pub(crate) running: Option<Started>,
    /// Set, while nothing runs, after a restart failed: the supervisor tries
    /// again once it has answered what is in its mailbox (OTP's
    /// `{restarting, OldPid}`).
    pub(crate) restarting: Option<Restarting>,
}

/// A child whose restart failed, waiting for the supervisor's next attempt.
#[derive(Clone, Debug)]
pub(crate) struct Restarting {
    /// The pid it had before it ended, if any: a dynamic supervisor still finds
    /// it by that pid.
    pub(crate) was: Option<Pid>,
    /// Why the last start failed, for the log line of the next attempt.
    pub(crate) reason: ExitReason,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.spec.id())
            .field("pid", &self.pid())
            .field("restarting", &self.restarting.is_some())
            .finish()
    }
}

impl Child {
    pub(crate) fn new(spec: ChildSpec) -> Self {
        Child {
            spec,
            running: None,
            restarting: None,
        }
    }

    pub(crate) fn pid(&self) -> Option<Pid> {
        self.running.as_ref().map(|p| p.core().pid())
    }

    pub(crate) fn info(&self) -> ChildInfo {
        ChildInfo {
            id: self.spec.id().to_string(),
            pid: self.pid(),
            name: self.spec.name().map(str::to_string),
            kind: self.spec.kind(),
            restart: self.spec.restart(),
            shutdown: self.spec.shutdown(),
            restarting: self.restarting.is_some(),
        }
    }

    /// Starts the child linked to `supervisor`; its process, `None` if its init
    /// ignored the start. It is no longer restarting either way: a failed start
    /// is the caller's to mark.
    pub(crate) async fn start(
        &mut self,
        supervisor: &Arc<dyn AnyProcess>,
    ) -> Result<Option<ProcessHandle>, StartError> {
        self.restarting = None;
        let started = self.spec.start(supervisor.clone()).await?;
        self.running = started;
        Ok(self.running.clone().map(ProcessHandle))
    }

    /// Marks the child restarting after its start failed with `error`, and logs
    /// it; `was` is the pid it had before its first failed restart.
    pub(crate) fn failed_restart(&mut self, supervisor: Pid, was: Option<Pid>, error: &StartError) {
        let reason = match error {
            StartError::Init(reason) => reason.clone(),
            other => ExitReason::Error(other.to_string()),
        };
        tracing::error!(
            %supervisor,
            child = %self.spec.id(),
            %reason,
            "child failed to restart; trying again"
        );
        self.restarting = Some(Restarting { was, reason });
    }

    /// Stops the child if it runs, as its spec says (OTP's shutdown procedure,
    /// as fixed in OTP 24.1): sends it the exit signal `Shutdown` from the
    /// supervisor, which ends it at once (its terminate runs) even if it is in
    /// the middle of a handler, and kills it if it has not ended after the
    /// timeout; or kills it at once. Returns once it, and every process it took
    /// down with it, has ended.
    ///
    /// The link stays until the child has ended, and the child stays recorded as
    /// running until then: a supervisor that is itself killed (or stopped) while
    /// it waits here takes the child down with it.
    pub(crate) async fn stop(&mut self, supervisor: &Arc<dyn AnyProcess>) {
        let Some(child) = self.running.clone() else {
            return;
        };
        let pid = child.core().pid();
        let me = supervisor.core().pid();
        match self.spec.shutdown() {
            Shutdown::BrutalKill => child.core().kill_on_shutdown(),
            Shutdown::Infinity => process::exit_signal(&*child, me, ExitReason::Shutdown, false),
            Shutdown::Timeout(timeout) => {
                process::exit_signal(&*child, me, ExitReason::Shutdown, false);
                if tokio::time::timeout(timeout, process::exited(child.clone()))
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        child = self.spec.id(),
                        %pid,
                        ?timeout,
                        "child did not stop in time; killed"
                    );
                    child.core().kill();
                }
            }
        }
        // As OTP's supervisor waits for the `DOWN` after its `kill`; and for what
        // the child took down with it, so that once a tree's stop returns nothing
        // of it runs. (A handler stuck in a blocking loop, which nothing can
        // interrupt, would hold it here.)
        process::tree_exited(child).await;
        // Its exit signal, queued by now, is dropped unseen: this end is no crash.
        supervisor.core().remove_link(pid);
        self.running = None;
    }
}

/// Stops every running child, last started first.
pub(crate) async fn stop_all(children: &mut [Child], supervisor: &Arc<dyn AnyProcess>) {
    for child in children.iter_mut().rev() {
        child.stop(supervisor).await;
    }
}

/// Counts the children as OTP's `count_children/1`: one that is restarting is
/// counted, but not as active.
pub(crate) fn count(children: &[Child]) -> ChildCount {
    let mut count = ChildCount {
        specs: children.len(),
        ..ChildCount::default()
    };
    for child in children {
        if child.running.is_some() {
            count.active += 1;
        }
        match child.spec.kind() {
            ChildKind::Supervisor => count.supervisors += 1,
            ChildKind::Worker => count.workers += 1,
        }
    }
    count
}

/// A supervisor's message to itself: try again the restart of a child whose
/// restart failed (OTP's `try_again_restart`).
///
/// Sent to the back of its mailbox, so that the supervisor answers the calls
/// queued meanwhile (`which_children`, `terminate_child`, `stop`, ...) between two
/// attempts. Only the supervisor makes one; it is public because the generated
/// [`SupervisorInfo`](super::SupervisorInfo) and
/// [`DynamicSupervisorInfo`](super::DynamicSupervisorInfo) hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TryAgain {
    child: Key,
}

/// Which child a [`TryAgain`] is for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    /// A [`Supervisor`](super::Supervisor)'s child, by id.
    Id(String),
    /// A [`DynamicSupervisor`](super::DynamicSupervisor)'s child, by the pid
    /// it had before its restart failed.
    Pid(Pid),
}

impl TryAgain {
    pub(crate) fn id(id: &str) -> Self {
        TryAgain {
            child: Key::Id(id.to_string()),
        }
    }

    pub(crate) fn pid(pid: Pid) -> Self {
        TryAgain {
            child: Key::Pid(pid),
        }
    }

    pub(crate) fn child_id(&self) -> Option<&str> {
        match &self.child {
            Key::Id(id) => Some(id),
            Key::Pid(_) => None,
        }
    }

    pub(crate) fn child_pid(&self) -> Option<Pid> {
        match self.child {
            Key::Pid(pid) => Some(pid),
            Key::Id(_) => None,
        }
    }
}

/// OTP's restart intensity: at most `max_restarts` restarts within any
/// `max_seconds` window.
#[derive(Clone, Debug)]
pub(crate) struct Intensity {
    pub(crate) max_restarts: u32,
    pub(crate) max_seconds: u64,
    restarts: VecDeque<Instant>,
}

impl Intensity {
    /// OTP's defaults: 3 restarts in 5 seconds.
    pub(crate) fn new() -> Self {
        Intensity {
            max_restarts: 3,
            max_seconds: 5,
            restarts: VecDeque::new(),
        }
    }

    /// Rejects the settings OTP rejects. `max_seconds` must be positive (OTP's
    /// `validPeriod`): with a window of 0 s, no restart would ever count and a
    /// child that keeps failing would be restarted forever. Any `max_restarts` is
    /// valid; 0 allows no restart at all.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_seconds == 0 {
            return Err(format!(
                "invalid max_seconds {}: the period of the restart limit must be at least 1 second",
                self.max_seconds
            ));
        }
        Ok(())
    }

    /// Records a restart; false if it is one too many.
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let period = Duration::from_secs(self.max_seconds);
        while self
            .restarts
            .front()
            .is_some_and(|at| now.duration_since(*at) >= period)
        {
            self.restarts.pop_front();
        }
        self.restarts.push_back(now);
        self.restarts.len() <= self.max_restarts as usize
    }

    /// Records and logs the restart of child `id` of `supervisor`, which ended
    /// with `reason`; false, logged as such, if it is one too many and the
    /// supervisor must give up (with reason `Shutdown`, after its children).
    pub(crate) fn restart(&mut self, supervisor: Pid, id: &str, reason: &ExitReason) -> bool {
        let allowed = self.allow();
        let restarts = self.restarts.len();
        if allowed {
            tracing::warn!(%supervisor, child = %id, %reason, restarts, "restarting child");
        } else {
            tracing::error!(
                %supervisor,
                child = %id,
                %reason,
                restarts = restarts - 1,
                "too many restarts; the supervisor gives up"
            );
        }
        allowed
    }
}
