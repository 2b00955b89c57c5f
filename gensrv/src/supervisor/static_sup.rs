//! [`Supervisor`]: a fixed set of children, restarted by a strategy.

use std::sync::Arc;

use super::child::{self, Child, Intensity, TryAgain};
use super::spec::Restart;
use super::{
    ChildCount, ChildInfo, ChildSpec, DeleteChildError, Request, RestartChildError, StartChild,
    StartChildError, Strategy, TerminateChildError,
};
use crate::pid::ProcessHandle;
use crate::process::AnyProcess;
use crate::{CallError, Context, Exit, ExitReason, Pid, gen_server};

/// A supervisor (OTP's `supervisor`): a server that starts its children in order,
/// links them to itself, restarts them by its [`Strategy`] and their
/// [`Restart`] type when they end, and stops them in reverse order when it stops.
///
/// Build one with [`Supervisor::new`] and the builder methods, then start it with
/// `Supervisor::start(sup)` (name it, link it, or put it under another supervisor
/// with `Supervisor::child_spec(sup)`, like any server). Its handle,
/// [`SupervisorRef`], inspects and changes its children at run time.
///
/// If more than `max_restarts` restarts happen within `max_seconds` (OTP's
/// defaults: 3 in 5), the supervisor gives up: it stops its children and ends with
/// reason [`Shutdown`](ExitReason::Shutdown). Its own supervisor, if any, restarts
/// it if its spec is `Permanent` (the default); as in OTP, a `Transient` spec
/// takes `Shutdown` for a normal end. Each restart is logged through `tracing`
/// with the child's id, its reason and the restart count.
///
/// A restart that fails (the child's init returns an error or panics) is tried
/// again, as OTP does, and each attempt counts as another restart. Meanwhile the
/// child is *restarting*: it runs no process, [`which_children`] shows it with
/// `restarting: true`, [`count_children`] counts it but not as active,
/// [`terminate_child`] ends the attempts (the child is then simply not running),
/// and [`restart_child`] and [`delete_child`] fail with `Restarting`
/// ([`RestartChildError::Restarting`], [`DeleteChildError::Restarting`]). The supervisor tries again through a message to
/// itself ([`TryAgain`]), so it answers the calls that came meanwhile between two
/// attempts. The next attempt restarts the failed child's group as its
/// [`Strategy`] says: with one for all, every child again; with rest for one, the
/// failed child and those after it.
///
/// [`which_children`]: SupervisorRef::which_children
/// [`count_children`]: SupervisorRef::count_children
/// [`terminate_child`]: SupervisorRef::terminate_child
/// [`restart_child`]: SupervisorRef::restart_child
/// [`delete_child`]: SupervisorRef::delete_child
///
/// The operations on [`SupervisorRef`] are [`Request`]s: they wait as long as
/// the supervisor takes to answer, as OTP's supervisor calls do, so that one that
/// stops a child waits as long as the child's [`Shutdown`](super::Shutdown) says
/// rather than a call's default 5 s; [`Request::timeout`] bounds the wait.
///
/// See the [module docs](super) for an example.
#[derive(Clone, Debug)]
pub struct Supervisor {
    strategy: Strategy,
    intensity: Intensity,
    children: Vec<Child>,
}

impl Supervisor {
    /// A supervisor with this strategy, OTP's default intensity, and no children.
    pub fn new(strategy: Strategy) -> Self {
        Supervisor {
            strategy,
            intensity: Intensity::new(),
            children: Vec::new(),
        }
    }

    /// Adds a child, started after those added before it. Ids must differ (give
    /// two children of one type their own with [`ChildSpec::with_id`]); the start
    /// fails otherwise.
    pub fn child(mut self, spec: impl Into<ChildSpec>) -> Self {
        self.children.push(Child::new(spec.into()));
        self
    }

    /// The most restarts allowed within `max_seconds` (default 3). 0 is valid, as
    /// in OTP: the first restart is one too many, and the supervisor gives up.
    pub fn max_restarts(mut self, max_restarts: u32) -> Self {
        self.intensity.max_restarts = max_restarts;
        self
    }

    /// The window of the restart limit, in seconds (default 5). It must be at
    /// least 1, as OTP requires: with 0, the start fails with
    /// [`StartError::Init`](crate::StartError::Init).
    pub fn max_seconds(mut self, max_seconds: u64) -> Self {
        self.intensity.max_seconds = max_seconds;
        self
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.children.iter().position(|c| c.spec.id() == id)
    }

    /// Restarts the child at `at`, which ended with `reason` or whose last
    /// restart failed with it, and the others of its group, as the strategy says
    /// (OTP's `restart/2`). The whole attempt counts once against the intensity.
    ///
    /// The group's running children are stopped, last started first, then all are
    /// started in order. If one fails to start, those after it are left stopped,
    /// it is marked restarting, and the supervisor sends itself a [`TryAgain`]
    /// for it: it answers the calls queued meanwhile before the next attempt,
    /// which restarts its group again (OTP's `restart_multiple_children`).
    async fn restart(&mut self, at: usize, reason: ExitReason, ctx: &mut Context<Self>) {
        if !self
            .intensity
            .restart(ctx.pid(), self.children[at].spec.id(), &reason)
        {
            ctx.stop(ExitReason::Shutdown);
            return;
        }
        let me = ctx.process();
        let (first, last) = match self.strategy {
            Strategy::OneForOne => (at, at),
            Strategy::OneForAll => (0, self.children.len() - 1),
            Strategy::RestForOne => (at, self.children.len() - 1),
        };
        // The others of the group go first, last started first.
        child::stop_all(&mut self.children[first..=last], &me).await;
        // A temporary child is never restarted, not even with its group. (The one
        // at `at` is not temporary, or it would not be restarted at all.)
        let mut end = first;
        for _ in first..=last {
            if self.children[end].spec.restart() == Restart::Temporary {
                self.children.remove(end);
            } else {
                // Restarted with its group: an attempt of its own pending, if
                // any, will find it running and do nothing.
                self.children[end].restarting = None;
                end += 1;
            }
        }
        for i in first..end {
            if let Err(error) = self.children[i].start(&me).await {
                self.children[i].failed_restart(ctx.pid(), None, &error);
                let again = TryAgain::id(self.children[i].spec.id());
                // It cannot fail: this server runs.
                let _ = ctx.this().send(again);
                return;
            }
        }
    }
}

// Its types are known to be `Send`: no checks to clutter the handle's docs.
#[gen_server(vis = pub, send_checks = false)]
impl Supervisor {
    /// Starts the children in order; if one fails to start, stops those started
    /// (in reverse order) and fails. Fails at once if two children share an id,
    /// or if `max_seconds` is 0.
    #[init]
    async fn init(mut sup: Supervisor, ctx: &mut Context<Self>) -> Result<Self, String> {
        ctx.trap_exit(true);
        sup.intensity.check()?;
        // Ids name the children in every operation and restart: as OTP's
        // `duplicate_child_name`, two alike are an error, before anything starts.
        for (i, child) in sup.children.iter().enumerate() {
            let id = child.spec.id();
            if sup.children[..i].iter().any(|c| c.spec.id() == id) {
                return Err(format!("duplicate child id `{id}`"));
            }
        }
        let me: Arc<dyn AnyProcess> = ctx.process();
        for i in 0..sup.children.len() {
            if let Err(error) = sup.children[i].start(&me).await {
                let id = sup.children[i].spec.id().to_string();
                child::stop_all(&mut sup.children[..i], &me).await;
                // The child's own reason, not the error's whole chain: this
                // message is wrapped once more as the supervisor's own reason.
                let why = match &error {
                    crate::StartError::Init(ExitReason::Error(why)) => why.clone(),
                    crate::StartError::Init(reason) => reason.to_string(),
                    other => other.to_string(),
                };
                return Err(format!("child `{id}` failed to start: {why}"));
            }
        }
        // As OTP: a temporary child whose init ignored the start is not kept.
        sup.children
            .retain(|c| c.running.is_some() || c.spec.restart() != Restart::Temporary);
        Ok(sup)
    }

    // The requests behind `SupervisorRef`'s methods, which give them their
    // signatures (`impl Into<String>` ids, one error per operation, no timeout).

    #[doc(hidden)]
    #[call]
    fn request_which_children(&self) -> Vec<ChildInfo> {
        self.children.iter().map(Child::info).collect()
    }

    #[doc(hidden)]
    #[call]
    fn request_count_children(&self) -> ChildCount {
        child::count(&self.children)
    }

    #[doc(hidden)]
    #[call]
    async fn request_terminate_child(
        &mut self,
        id: String,
        ctx: &mut Context<Self>,
    ) -> Result<(), TerminateChildError> {
        let i = self.position(&id).ok_or(TerminateChildError::NotFound)?;
        // Its pending attempt, if any, will find it not restarting.
        self.children[i].restarting = None;
        self.children[i].stop(&ctx.process()).await;
        if self.children[i].spec.restart() == Restart::Temporary {
            self.children.remove(i);
        }
        Ok(())
    }

    #[doc(hidden)]
    #[call]
    async fn request_restart_child(
        &mut self,
        id: String,
        ctx: &mut Context<Self>,
    ) -> Result<Option<ProcessHandle>, RestartChildError> {
        let i = self.position(&id).ok_or(RestartChildError::NotFound)?;
        if self.children[i].restarting.is_some() {
            return Err(RestartChildError::Restarting);
        }
        if self.children[i].running.is_some() {
            return Err(RestartChildError::Running);
        }
        self.children[i]
            .start(&ctx.process())
            .await
            .map_err(RestartChildError::Start)
    }

    #[doc(hidden)]
    #[call]
    fn request_delete_child(&mut self, id: String) -> Result<(), DeleteChildError> {
        let i = self.position(&id).ok_or(DeleteChildError::NotFound)?;
        if self.children[i].restarting.is_some() {
            return Err(DeleteChildError::Restarting);
        }
        if self.children[i].running.is_some() {
            return Err(DeleteChildError::Running);
        }
        self.children.remove(i);
        Ok(())
    }

    #[doc(hidden)]
    #[call]
    async fn request_start_child(
        &mut self,
        spec: ChildSpec,
        ctx: &mut Context<Self>,
    ) -> Result<Option<ProcessHandle>, StartChildError> {
        if let Some(i) = self.position(spec.id()) {
            return Err(match self.children[i].pid() {
                Some(pid) => StartChildError::AlreadyStarted(pid),
                None => StartChildError::AlreadyPresent,
            });
        }
        let mut child = Child::new(spec);
        let started = child
            .start(&ctx.process())
            .await
            .map_err(StartChildError::Start)?;
        if started.is_some() || child.spec.restart() != Restart::Temporary {
            self.children.push(child);
        }
        Ok(started)
    }

    /// A linked process ended: a child, to restart or not; anything else is
    /// ignored, as by OTP's supervisor.
    #[info]
    async fn exit(&mut self, exit: Exit, ctx: &mut Context<Self>) {
        let Some(i) = self.children.iter().position(|c| c.pid() == Some(exit.pid)) else {
            return;
        };
        self.children[i].running = None;
        let restart = self.children[i].spec.restart();
        if restart.restarts_after(&exit.reason) {
            self.restart(i, exit.reason, ctx).await;
        } else if restart == Restart::Temporary {
            self.children.remove(i);
        }
    }

    /// A restart that failed, tried again if its child is still restarting
    /// (neither terminated nor restarted with its group meanwhile).
    #[info]
    async fn try_again(&mut self, again: TryAgain, ctx: &mut Context<Self>) {
        let Some(i) = again.child_id().and_then(|id| self.position(id)) else {
            return;
        };
        if let Some(restarting) = &self.children[i].restarting {
            let reason = restarting.reason.clone();
            self.restart(i, reason, ctx).await;
        }
    }

    /// Stops the children, last started first.
    #[terminate]
    async fn terminate(&mut self, ctx: &mut Context<Self>) {
        child::stop_all(&mut self.children, &ctx.process()).await;
    }
}

impl SupervisorRef {
    /// The children, in start order (OTP's `which_children/1`).
    pub fn which_children(&self) -> Request<Vec<ChildInfo>, CallError> {
        Request::new(self.request_which_children(), Ok)
    }

    /// The children, counted (OTP's `count_children/1`).
    pub fn count_children(&self) -> Request<ChildCount, CallError> {
        Request::new(self.request_count_children(), Ok)
    }

    /// Stops the child `id` as its spec says, and keeps its spec (OTP's
    /// `terminate_child/2`); a temporary child's spec is removed. A restarting
    /// child is no longer restarted. Answered once the child has ended: after
    /// its terminate, or its shutdown timeout and a kill.
    pub fn terminate_child(&self, id: impl Into<String>) -> Request<(), TerminateChildError> {
        Request::new(self.request_terminate_child(id.into()), |outcome| outcome)
    }

    /// Starts again the child `id`, which must be neither running nor
    /// restarting (OTP's `restart_child/2`); its pid, `None` if its init ignored
    /// the start.
    pub fn restart_child(&self, id: impl Into<String>) -> Request<Option<Pid>, RestartChildError> {
        Request::new(self.request_restart_child(id.into()), |outcome| {
            outcome.map(|child| child.map(|child| child.0.core().pid()))
        })
    }

    /// Forgets the spec of the child `id`, which must be neither running nor
    /// restarting (OTP's `delete_child/2`).
    pub fn delete_child(&self, id: impl Into<String>) -> Request<(), DeleteChildError> {
        Request::new(self.request_delete_child(id.into()), |outcome| outcome)
    }

    /// Adds a child spec and starts it, after the others (OTP's `start_child/2`);
    /// the child, `None` if its init ignored the start: its pid for a
    /// [`ChildSpec`], its typed handle for a
    /// [`TypedChildSpec`](super::TypedChildSpec) (see [`StartChild`]). A spec
    /// that fails to start is not kept, nor is a temporary one whose init ignored
    /// the start.
    pub fn start_child<C: StartChild>(
        &self,
        spec: C,
    ) -> Request<Option<C::Handle>, StartChildError> {
        Request::new(self.request_start_child(spec.into()), |outcome| {
            outcome.map(|child| child.map(C::__handle))
        })
    }
}
