//! [`DynamicSupervisor`]: children started at run time.

use super::child::{self, Child, Intensity, TryAgain};
use super::{
    ChildCount, ChildInfo, ChildSpec, Request, StartChild, StartChildError, TerminateChildError,
};
use crate::pid::ProcessHandle;
use crate::{AsProcess, CallError, Context, Exit, ExitReason, Pid, gen_server};

/// A supervisor of children started at run time (Elixir's `DynamicSupervisor`):
/// it starts with none, [`start_child`](DynamicSupervisorRef::start_child) adds one
/// from a [`ChildSpec`], and a child that ends is restarted alone (one for one) as
/// its [`Restart`](super::Restart) type says, or forgotten.
///
/// Start it with `DynamicSupervisor::start(DynamicSupervisor::new())`; it has the
/// same restart intensity as a [`Supervisor`](super::Supervisor) (3 in 5 s unless
/// set), and may cap its number of children.
///
/// A restart that fails (the child's init returns an error or panics) is tried
/// again, as by a [`Supervisor`](super::Supervisor), each attempt counting as
/// another restart; the supervisor answers the calls that came meanwhile between
/// two attempts. Meanwhile the child is *restarting*: it runs no process,
/// [`which_children`](DynamicSupervisorRef::which_children) shows it with
/// `pid: None` and `restarting: true`,
/// [`count_children`](DynamicSupervisorRef::count_children) counts it but not as
/// active, it counts against `max_children`, and
/// [`terminate_child`](DynamicSupervisorRef::terminate_child) with the pid it had
/// before ends the attempts and forgets it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use gensrv::gen_server;
/// use gensrv::supervisor::{DynamicSupervisor, StartChildError};
///
/// #[derive(Clone)]
/// struct Conn;
///
/// #[gen_server]
/// impl Conn {}
///
/// let sup = DynamicSupervisor::start(DynamicSupervisor::new().max_children(1))
///     .await
///     .unwrap();
/// let first: ConnRef = sup.start_child(Conn::child_spec(Conn)).await.unwrap().unwrap();
/// let second = sup.start_child(Conn::child_spec(Conn)).await;
/// assert_eq!(second, Err(StartChildError::MaxChildren));
/// sup.terminate_child(&first).await.unwrap();
/// assert!(!first.is_alive());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct DynamicSupervisor {
    max_children: Option<usize>,
    child_mailbox: Option<usize>,
    intensity: Intensity,
    children: Vec<Child>,
}

impl Default for DynamicSupervisor {
    fn default() -> Self {
        DynamicSupervisor::new()
    }
}

impl DynamicSupervisor {
    /// A dynamic supervisor with OTP's default intensity and no cap.
    pub fn new() -> Self {
        DynamicSupervisor {
            max_children: None,
            child_mailbox: None,
            intensity: Intensity::new(),
            children: Vec::new(),
        }
    }

    /// The most children it has at once, running or restarting; `start_child`
    /// beyond fails with [`StartChildError::MaxChildren`]. 0 is valid, as in Elixir:
    /// every `start_child` fails.
    pub fn max_children(mut self, max_children: usize) -> Self {
        self.max_children = Some(max_children);
        self
    }

    /// Bounds the mailbox of every child it starts to `capacity` messages, unless
    /// the child's spec sets a bound of its own (see
    /// [`Start::mailbox`](crate::Start::mailbox)): a pool of workers that refuses
    /// work past what it can queue.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    pub fn child_mailbox(mut self, capacity: usize) -> Self {
        assert!(capacity > 0, "a bounded mailbox holds at least one message");
        self.child_mailbox = Some(capacity);
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

    /// The running child `pid`.
    fn running(&self, pid: Pid) -> Option<usize> {
        self.children.iter().position(|c| c.pid() == Some(pid))
    }

    /// The child `pid`: running, or restarting after it ran as `pid`.
    fn position(&self, pid: Pid) -> Option<usize> {
        self.running(pid).or_else(|| self.restarting(pid))
    }

    /// The child restarting after it ran as `pid`.
    fn restarting(&self, pid: Pid) -> Option<usize> {
        self.children
            .iter()
            .position(|c| c.restarting.as_ref().is_some_and(|r| r.was == Some(pid)))
    }

    /// Restarts the child at `at`, which ran as `was` and ended with `reason`, or
    /// whose last restart failed with it; counts against the intensity. If the
    /// start fails, the child is marked restarting and the supervisor sends
    /// itself a [`TryAgain`], handled after the messages queued meanwhile.
    async fn restart(&mut self, at: usize, was: Pid, reason: ExitReason, ctx: &mut Context<Self>) {
        if !self
            .intensity
            .restart(ctx.pid(), self.children[at].spec.id(), &reason)
        {
            ctx.stop(ExitReason::Shutdown);
            return;
        }
        match self.children[at].start(&ctx.process()).await {
            Ok(Some(_)) => {}
            // Ignored this time: nothing runs, nothing to keep.
            Ok(None) => {
                self.children.remove(at);
            }
            Err(error) => {
                self.children[at].failed_restart(ctx.pid(), Some(was), &error);
                // It cannot fail: this server runs.
                let _ = ctx.this().send(TryAgain::pid(was));
            }
        }
    }
}

// Its types are known to be `Send`: no checks to clutter the handle's docs.
#[gen_server(vis = pub, send_checks = false)]
impl DynamicSupervisor {
    /// Fails if `max_seconds` is 0.
    #[init]
    fn init(sup: DynamicSupervisor, ctx: &mut Context<Self>) -> Result<Self, String> {
        ctx.trap_exit(true);
        sup.intensity.check()?;
        Ok(sup)
    }

    // The requests behind `DynamicSupervisorRef`'s methods, which give them
    // their signatures (typed children, one error per operation, no timeout).

    #[doc(hidden)]
    #[call]
    async fn request_start_child(
        &mut self,
        spec: ChildSpec,
        ctx: &mut Context<Self>,
    ) -> Result<Option<ProcessHandle>, StartChildError> {
        if self
            .max_children
            .is_some_and(|max| self.children.len() >= max)
        {
            return Err(StartChildError::MaxChildren);
        }
        let spec = match (spec.mailbox(), self.child_mailbox) {
            (None, Some(capacity)) => spec.with_mailbox(capacity),
            _ => spec,
        };
        let mut child = Child::new(spec);
        let started = child
            .start(&ctx.process())
            .await
            .map_err(StartChildError::Start)?;
        if started.is_some() {
            self.children.push(child);
        }
        Ok(started)
    }

    #[doc(hidden)]
    #[call]
    async fn request_terminate_child(
        &mut self,
        pid: Pid,
        ctx: &mut Context<Self>,
    ) -> Result<(), TerminateChildError> {
        let i = self.position(pid).ok_or(TerminateChildError::NotFound)?;
        let mut child = self.children.remove(i);
        child.stop(&ctx.process()).await;
        Ok(())
    }

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

    /// A linked process ended: a child is restarted, alone, or forgotten.
    #[info]
    async fn exit(&mut self, exit: Exit, ctx: &mut Context<Self>) {
        let Some(i) = self.running(exit.pid) else {
            return;
        };
        self.children[i].running = None;
        if self.children[i].spec.restart().restarts_after(&exit.reason) {
            self.restart(i, exit.pid, exit.reason, ctx).await;
        } else {
            self.children.remove(i);
        }
    }

    /// A restart that failed, tried again if its child is still restarting (not
    /// terminated meanwhile).
    #[info]
    async fn try_again(&mut self, again: TryAgain, ctx: &mut Context<Self>) {
        let Some(was) = again.child_pid() else {
            return;
        };
        let Some(i) = self.restarting(was) else {
            return;
        };
        if let Some(restarting) = &self.children[i].restarting {
            let reason = restarting.reason.clone();
            self.restart(i, was, reason, ctx).await;
        }
    }

    /// Stops the children, last started first.
    #[terminate]
    async fn terminate(&mut self, ctx: &mut Context<Self>) {
        child::stop_all(&mut self.children, &ctx.process()).await;
    }
}

impl DynamicSupervisorRef {
    /// Starts a child from `spec`, linked to the supervisor; the child, `None`
    /// if its init ignored the start (then nothing is kept): its pid for a
    /// [`ChildSpec`], its typed handle for a
    /// [`TypedChildSpec`](super::TypedChildSpec) (see [`StartChild`]).
    pub fn start_child<C: StartChild>(
        &self,
        spec: C,
    ) -> Request<Option<C::Handle>, StartChildError> {
        Request::new(self.request_start_child(spec.into()), |outcome| {
            outcome.map(|child| child.map(C::__handle))
        })
    }

    /// Stops the child `child` (its pid or its handle) as its spec says, and
    /// forgets it; a restarting child is found by the pid it had, and is no longer
    /// restarted. Answered once the child has ended: after its terminate, or its
    /// shutdown timeout and a kill.
    pub fn terminate_child(&self, child: impl AsProcess) -> Request<(), TerminateChildError> {
        Request::new(self.request_terminate_child(child.as_pid()), |outcome| {
            outcome
        })
    }

    /// The children, in start order.
    pub fn which_children(&self) -> Request<Vec<ChildInfo>, CallError> {
        Request::new(self.request_which_children(), Ok)
    }

    /// The children, counted.
    pub fn count_children(&self) -> Request<ChildCount, CallError> {
        Request::new(self.request_count_children(), Ok)
    }
}
