//! [`DynamicSupervisor`]: children started at run time.

use std::sync::Arc;

use super::child::{self, Child, Intensity};
use super::static_sup::start_failure;
use super::{ChildCount, ChildError, ChildInfo, ChildSpec};
use crate::process::AnyProcess;
use crate::{Context, Exit, ExitReason, Pid, gen_server};

/// A supervisor of children started at run time (Elixir's `DynamicSupervisor`):
/// it starts with none, [`start_child`](DynamicSupervisorRef::start_child) adds one
/// from a [`ChildSpec`], and a child that ends is restarted alone (one for one) as
/// its [`Restart`](super::Restart) type says, or forgotten.
///
/// Start it with `DynamicSupervisor::start(DynamicSupervisor::new())`; it has the
/// same restart intensity as a [`Supervisor`](super::Supervisor) (3 in 5 s unless
/// set), and may cap its number of children.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use gensrv::gen_server;
/// use gensrv::supervisor::{ChildError, DynamicSupervisor};
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
/// let first = sup.start_child(Conn::child_spec(Conn)).await.unwrap();
/// assert!(first.unwrap().is_some());
/// let second = sup.start_child(Conn::child_spec(Conn)).await.unwrap();
/// assert_eq!(second, Err(ChildError::MaxChildren));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct DynamicSupervisor {
    max_children: Option<usize>,
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
            intensity: Intensity::new(),
            children: Vec::new(),
        }
    }

    /// The most children it runs at once; `start_child` beyond fails with
    /// [`ChildError::MaxChildren`].
    pub fn max_children(mut self, max_children: usize) -> Self {
        self.max_children = Some(max_children);
        self
    }

    /// The most restarts allowed within `max_seconds` (default 3).
    pub fn max_restarts(mut self, max_restarts: u32) -> Self {
        self.intensity.max_restarts = max_restarts;
        self
    }

    /// The window of the restart limit, in seconds (default 5).
    pub fn max_seconds(mut self, max_seconds: u64) -> Self {
        self.intensity.max_seconds = max_seconds;
        self
    }

    fn position(&self, pid: Pid) -> Option<usize> {
        self.children.iter().position(|c| c.pid() == Some(pid))
    }
}

// Its types are known to be `Send`: no checks to clutter the handle's docs.
#[gen_server(vis = pub, send_checks = false)]
impl DynamicSupervisor {
    #[init]
    fn init(sup: DynamicSupervisor, ctx: &mut Context<Self>) -> Self {
        ctx.trap_exit(true);
        sup
    }

    /// Starts a child from `spec`, linked to the supervisor; its pid, `None` if its
    /// init ignored the start (then nothing is kept).
    #[call]
    async fn start_child(
        &mut self,
        spec: ChildSpec,
        ctx: &mut Context<Self>,
    ) -> Result<Option<Pid>, ChildError> {
        if self
            .max_children
            .is_some_and(|max| self.children.len() >= max)
        {
            return Err(ChildError::MaxChildren);
        }
        let mut child = Child::new(spec);
        let pid = child.start(&ctx.process()).await?;
        if pid.is_some() {
            self.children.push(child);
        }
        Ok(pid)
    }

    /// Stops the child `pid` as its spec says, and forgets it.
    #[call]
    async fn terminate_child(
        &mut self,
        pid: Pid,
        ctx: &mut Context<Self>,
    ) -> Result<(), ChildError> {
        let i = self.position(pid).ok_or(ChildError::NotFound)?;
        let mut child = self.children.remove(i);
        child.stop(&ctx.process()).await;
        Ok(())
    }

    /// The children, in start order.
    #[call]
    fn which_children(&self) -> Vec<ChildInfo> {
        self.children.iter().map(Child::info).collect()
    }

    /// The children, counted.
    #[call]
    fn count_children(&self) -> ChildCount {
        child::count(&self.children)
    }

    /// A linked process ended: a child is restarted, alone, or forgotten.
    #[info]
    async fn exit(&mut self, exit: Exit, ctx: &mut Context<Self>) {
        let Some(i) = self.position(exit.pid) else {
            return;
        };
        let mut child = self.children.remove(i);
        child.running = None;
        if !child.spec.get_restart().restarts_after(&exit.reason) {
            return;
        }
        let me: Arc<dyn AnyProcess> = ctx.process();
        let id = child.spec.get_id().to_string();
        let mut reason = exit.reason;
        loop {
            if !self.intensity.restart(ctx.pid(), &id, &reason) {
                ctx.stop(ExitReason::Shutdown);
                return;
            }
            match child.start(&me).await {
                Ok(Some(_)) => {
                    self.children.insert(i.min(self.children.len()), child);
                    return;
                }
                // Ignored this time: nothing runs, nothing to keep.
                Ok(None) => return,
                Err(ChildError::Start(error)) => reason = start_failure(&error),
                Err(_) => return,
            }
        }
    }

    /// Stops the children, last started first.
    #[terminate]
    async fn terminate(&mut self, ctx: &mut Context<Self>) {
        child::stop_all(&mut self.children, &ctx.process()).await;
    }
}
