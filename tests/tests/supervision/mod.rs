//! What the supervisor tests share: a worker that writes its starts and stops to a
//! shared log (so that a test sees their order), and helpers to find children.
// Each test file uses part of it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gensrv::supervisor::{ChildInfo, ChildSpec, DynamicSupervisorRef, Supervisor, SupervisorRef};
use gensrv::{Context, Down, ExitReason, Init, MonitorRef, Pid, ServerRef, gen_server};
use gensrv_tests::within;

/// The lines the workers of one test write: `start a`, `stop a shutdown`,
/// `stop b panic: b crashed`, `hang a`, `boot-panic a`, `boot-fail a`, `ignore a`.
#[derive(Clone, Debug, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn new() -> Self {
        Log::default()
    }

    pub fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }

    /// The lines so far, which are then forgotten.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn contains(&self, line: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l == line)
    }

    pub fn count(&self, line: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|l| *l == line).count()
    }
}

/// What a worker's init does. Shared by all incarnations of a child, so that a
/// test can change what the next one does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    Ready,
    /// Returns `Init::Ignore`.
    Ignore,
    /// Panics, every time.
    Panic,
    /// Panics once, then is `Ready`.
    PanicOnce,
    /// Waits this long, then fails (returns an error), every time.
    SlowFail(Duration),
}

/// What a worker's terminate does before it writes `stop <id> <reason>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Quick,
    /// Sleeps this long first.
    Slow(Duration),
    /// Writes `hang <id>` and never returns.
    Hang,
}

/// How to start a worker: the init argument of every incarnation.
#[derive(Clone, Debug)]
pub struct Plan {
    pub id: String,
    pub log: Log,
    pub boot: Arc<Mutex<Boot>>,
    pub ending: Ending,
}

impl Plan {
    pub fn new(id: &str, log: &Log) -> Self {
        Plan {
            id: id.to_string(),
            log: log.clone(),
            boot: Arc::new(Mutex::new(Boot::Ready)),
            ending: Ending::Quick,
        }
    }

    pub fn boot(self, boot: Boot) -> Self {
        *self.boot.lock().unwrap() = boot;
        self
    }

    pub fn ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }

    /// Changes what the next incarnations' init does.
    pub fn set_boot(&self, boot: Boot) {
        *self.boot.lock().unwrap() = boot;
    }

    /// A child spec with the plan's id.
    pub fn spec(&self) -> ChildSpec {
        Worker::child_spec(self.clone())
            .with_id(self.id.clone())
            .into()
    }
}

/// A child spec for a plain worker `id`.
pub fn worker(id: &str, log: &Log) -> ChildSpec {
    Plan::new(id, log).spec()
}

/// A supervised worker: logs its start and its stop, crashes or stops on demand.
pub struct Worker {
    id: String,
    log: Log,
    ending: Ending,
}

#[gen_server]
impl Worker {
    #[init]
    async fn init(plan: Plan) -> Init<Self> {
        let boot = {
            let mut boot = plan.boot.lock().unwrap();
            let now = *boot;
            if now == Boot::PanicOnce {
                *boot = Boot::Ready;
            }
            now
        };
        match boot {
            Boot::Ready => {
                plan.log.push(format!("start {}", plan.id));
                Init::Ready(Worker {
                    id: plan.id,
                    log: plan.log,
                    ending: plan.ending,
                })
            }
            Boot::Ignore => {
                plan.log.push(format!("ignore {}", plan.id));
                Init::Ignore
            }
            Boot::Panic | Boot::PanicOnce => {
                plan.log.push(format!("boot-panic {}", plan.id));
                panic!("{} failed to boot", plan.id)
            }
            Boot::SlowFail(pause) => {
                tokio::time::sleep(pause).await;
                plan.log.push(format!("boot-fail {}", plan.id));
                Init::Stop(ExitReason::Error(format!("{} failed to boot", plan.id)))
            }
        }
    }

    #[call]
    fn ping(&self) {}

    /// Panics with `<id> crashed`.
    #[cast]
    fn crash(&mut self) {
        panic!("{} crashed", self.id);
    }

    /// Stops with `reason`.
    #[cast]
    fn exit_with(&mut self, reason: ExitReason, ctx: &mut Context<Self>) {
        ctx.stop(reason);
    }

    #[terminate]
    async fn terminate(&mut self, reason: &ExitReason) {
        match self.ending {
            Ending::Quick => {}
            Ending::Slow(pause) => tokio::time::sleep(pause).await,
            Ending::Hang => {
                self.log.push(format!("hang {}", self.id));
                std::future::pending::<()>().await;
            }
        }
        self.log.push(format!("stop {} {reason}", self.id));
    }
}

/// The typed handle of the running worker `pid`.
pub fn worker_ref(pid: Pid) -> WorkerRef {
    ServerRef::<Worker>::from_pid(pid)
        .map(WorkerRef::from)
        .unwrap_or_else(|| panic!("{pid} is not a running worker"))
}

/// The typed handle of the running supervisor `pid`.
pub fn supervisor_ref(pid: Pid) -> SupervisorRef {
    ServerRef::<Supervisor>::from_pid(pid)
        .map(SupervisorRef::from)
        .unwrap_or_else(|| panic!("{pid} is not a running supervisor"))
}

/// The children of `sup`.
pub async fn children(sup: &SupervisorRef) -> Vec<ChildInfo> {
    within(5, sup.which_children()).await.unwrap()
}

/// The ids of the children of `sup`, in order.
pub async fn ids(sup: &SupervisorRef) -> Vec<String> {
    children(sup).await.into_iter().map(|c| c.id).collect()
}

/// The pid of the child `id` of `sup`: `None` if it does not run; panics if `sup`
/// has no such child.
pub async fn pid_of(sup: &SupervisorRef, id: &str) -> Option<Pid> {
    children(sup)
        .await
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no child {id}"))
        .pid
}

/// The running worker `id` of `sup`.
pub async fn child(sup: &SupervisorRef, id: &str) -> WorkerRef {
    worker_ref(
        pid_of(sup, id)
            .await
            .unwrap_or_else(|| panic!("{id} is not running")),
    )
}

/// The pids of the children of a dynamic supervisor, in order.
pub async fn dynamic_pids(sup: &DynamicSupervisorRef) -> Vec<Pid> {
    within(5, sup.which_children())
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            c.pid
                .expect("a dynamic supervisor keeps running and restarting children only, and none is restarting")
        })
        .collect()
}

/// Crashes `worker` and waits until it has ended. Its supervisor has the exit
/// signal in its mailbox by then, so the supervisor answers its next call only
/// after it has handled it.
pub async fn crash(worker: &WorkerRef) -> ExitReason {
    worker.crash().unwrap();
    within(5, worker.exited()).await
}

/// Crashes the running worker `id` of `sup`, waits until it has ended, then until
/// `sup` has handled its exit signal (restarted what it restarts, or given up).
pub async fn crash_child(sup: &SupervisorRef, id: &str) -> WorkerRef {
    let worker = child(sup, id).await;
    crash(&worker).await;
    settle(sup).await;
    worker
}

/// Returns once `sup` has handled what is in its mailbox now, or has ended.
pub async fn settle(sup: &SupervisorRef) {
    // Answered after the messages queued before it; `Exited` if it gave up.
    let _ = within(5, sup.count_children()).await;
}

/// The `stop` line of a worker that crashed through [`crash`].
pub fn crashed(id: &str) -> String {
    format!("stop {id} panic: {id} crashed")
}

/// Lines of the log, written with the same format as the workers': `start`s of
/// each id.
pub fn starts(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| format!("start {id}")).collect()
}

/// `stop <id> shutdown` for each id.
pub fn shutdowns(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| format!("stop {id} shutdown")).collect()
}

/// Monitors what it is told to and keeps the `Down`s it gets.
#[derive(Default)]
pub struct Watcher {
    downs: Vec<Down>,
}

#[gen_server]
impl Watcher {
    #[call]
    fn watch(&mut self, target: Pid, ctx: &mut Context<Self>) -> MonitorRef {
        ctx.monitor(&target)
    }

    #[info]
    fn down(&mut self, down: Down) {
        self.downs.push(down);
    }

    #[call]
    fn downs(&self) -> Vec<Down> {
        self.downs.clone()
    }
}
