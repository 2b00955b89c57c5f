//! What both supervisors do with a child: start it, stop it as its spec says,
//! and count restarts against the intensity limit.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::spec::{ChildSpec, Shutdown, Started};
use super::{ChildCount, ChildError, ChildInfo, ChildKind};
use crate::mailbox::Sys;
use crate::process::{self, AnyProcess};
use crate::{ExitReason, Pid};

/// One child of a supervisor: its spec, and its process while it runs.
#[derive(Clone)]
pub(crate) struct Child {
    pub(crate) spec: ChildSpec,
    pub(crate) running: Option<Started>,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.spec.get_id())
            .field("pid", &self.pid())
            .finish()
    }
}

impl Child {
    pub(crate) fn new(spec: ChildSpec) -> Self {
        Child {
            spec,
            running: None,
        }
    }

    pub(crate) fn pid(&self) -> Option<Pid> {
        self.running.as_ref().map(|p| p.core().pid())
    }

    pub(crate) fn info(&self) -> ChildInfo {
        ChildInfo {
            id: self.spec.get_id().to_string(),
            pid: self.pid(),
            kind: self.spec.get_kind(),
            restart: self.spec.get_restart(),
        }
    }

    /// Starts the child linked to `supervisor`; its pid, `None` if its init
    /// ignored the start.
    pub(crate) async fn start(
        &mut self,
        supervisor: &Arc<dyn AnyProcess>,
    ) -> Result<Option<Pid>, ChildError> {
        let started = self
            .spec
            .start(supervisor.clone())
            .await
            .map_err(ChildError::Start)?;
        self.running = started;
        Ok(self.pid())
    }

    /// Stops the child if it runs, as its spec says (OTP's shutdown procedure):
    /// unlinks it first, so that its end is not taken for a crash, then asks it to
    /// stop with reason `Shutdown` and kills it after the timeout, or kills it at
    /// once. Returns once it has ended.
    pub(crate) async fn stop(&mut self, supervisor: &Arc<dyn AnyProcess>) {
        let Some(child) = self.running.take() else {
            return;
        };
        supervisor.core().remove_link(child.core().pid());
        child.core().remove_link(supervisor.core().pid());
        let exited = process::exited(child.clone());
        match self.spec.get_shutdown() {
            Shutdown::BrutalKill => child.core().kill(),
            Shutdown::Infinity => {
                child.send_sys(Sys::Stop(ExitReason::Shutdown));
            }
            Shutdown::Timeout(timeout) => {
                child.send_sys(Sys::Stop(ExitReason::Shutdown));
                if tokio::time::timeout(timeout, process::exited(child.clone()))
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        child = self.spec.get_id(),
                        pid = %child.core().pid(),
                        ?timeout,
                        "child did not stop in time; killed"
                    );
                    child.core().kill();
                }
            }
        }
        // As OTP's supervisor waits for the `DOWN` after its `kill`. (A handler
        // stuck in a blocking loop, which nothing can interrupt, would hold it here.)
        exited.await;
    }
}

/// Stops every running child, last started first.
pub(crate) async fn stop_all(children: &mut [Child], supervisor: &Arc<dyn AnyProcess>) {
    for child in children.iter_mut().rev() {
        child.stop(supervisor).await;
    }
}

pub(crate) fn count(children: &[Child]) -> ChildCount {
    let mut count = ChildCount {
        specs: children.len(),
        ..ChildCount::default()
    };
    for child in children {
        if child.running.is_some() {
            count.active += 1;
        }
        match child.spec.get_kind() {
            ChildKind::Supervisor => count.supervisors += 1,
            ChildKind::Worker => count.workers += 1,
        }
    }
    count
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
