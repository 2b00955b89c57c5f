//! What the distribution tests share: a server whose calls travel
//! (`#[gen_server(remote)]`), and node processes to call.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use gensrv::remote::{Node, NodeConfig, NodeId, Remote};
use gensrv::{Context, ExitReason, Pid, gen_server};

/// Answers each call with its argument, and keeps the numbers cast to it; its
/// calls and casts travel (`#[gen_server(remote)]`).
#[derive(Debug, Default)]
pub struct Echo {
    log: Vec<u64>,
}

#[gen_server(remote)]
impl Echo {
    /// Starts with an empty log.
    #[init]
    fn init() -> Self {
        Echo::default()
    }

    /// Gives `text` back.
    #[call]
    fn echo(&self, text: String) -> String {
        text
    }

    /// Panics, ending the server.
    #[call]
    fn crash(&self) {
        panic!("asked to crash");
    }

    /// Replies after `ms` milliseconds.
    #[call]
    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// The numbers cast so far, in the order they came.
    #[call]
    fn log(&self) -> Vec<u64> {
        self.log.clone()
    }

    /// Appends a number to the log.
    #[cast]
    fn push(&mut self, n: u64) {
        self.log.push(n);
    }
}

/// [`EchoCall`] as it travels, without the `ReplyTo`s: the raw-body tests write
/// it by hand.
pub type EchoWire = __EchoCallWire;

/// The body of the cast `push(n)`, as [`Remote::encode_cast`] makes it.
pub fn push_body(n: u64) -> Vec<u8> {
    Echo::encode_cast(EchoCast::Push { n }).expect("a u64 encodes")
}

/// A server of another node as a node process reports it: its node, and the
/// number of its pid there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotePid {
    /// The node.
    pub node: NodeId,
    /// The pid's number there.
    pub index: u64,
}

impl RemotePid {
    /// The pid, as `node` names it.
    pub fn pid(&self, node: &Node) -> Pid {
        node.__pid(&self.node, self.index)
    }
}

/// A node running in a child OS process (the `remote-node` binary), with an
/// exported [`Echo`]; killed and reaped when dropped, whatever the test did.
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    /// The Zenoh endpoint it listens on (127.0.0.1).
    pub endpoint: String,
    /// Its exported echo server.
    pub echo: RemotePid,
}

impl NodeProcess {
    /// Starts `binary` and waits (at most 30 s) for the line it prints once its
    /// node is up: `READY <endpoint> <node id> <echo pid index>`.
    pub fn start(binary: &str) -> NodeProcess {
        NodeProcess::start_with(binary, &[])
    }

    /// Like [`start`](NodeProcess::start), with arguments: the global name to
    /// register the echo server under.
    pub fn start_with(binary: &str, args: &[&str]) -> NodeProcess {
        NodeProcess::start_env(binary, args, &[])
    }

    /// Like [`start_with`](NodeProcess::start_with), with environment
    /// variables (`GENSRV_TEST_LEASE_MS`: the node's lease).
    pub fn start_env(binary: &str, args: &[&str], env: &[(&str, &str)]) -> NodeProcess {
        let mut child = Command::new(binary)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the node binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        // Killed and reaped from here on, even if the line never comes.
        let mut process = NodeProcess {
            child,
            endpoint: String::new(),
            echo: RemotePid {
                node: NodeId::parse("0").expect("a valid id"),
                index: 0,
            },
        };
        let (lines, line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = String::new();
            let _ = BufReader::new(stdout).read_line(&mut ready);
            let _ = lines.send(ready);
        });
        let ready = line
            .recv_timeout(Duration::from_secs(30))
            .expect("the node process says it is ready within 30 s");
        let words: Vec<&str> = ready.split_whitespace().collect();
        let [ready, endpoint, node, index] = words[..] else {
            panic!("unexpected line from the node process: {ready:?}");
        };
        assert_eq!(ready, "READY");
        process.endpoint = endpoint.to_string();
        process.echo = RemotePid {
            node: NodeId::parse(node).expect("a node id"),
            index: index.parse().expect("a pid index"),
        };
        process
    }

    /// The process's OS pid.
    pub fn os_pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port of 127.0.0.1, as the kernel gives one (it may be taken again
/// before it is used: callers retry).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// Monitors, links and traps what it is told to, and records every `Down` and
/// `Exit` it handles: a local server that relates to servers on other nodes.
#[derive(Debug, Default)]
pub struct Watcher {
    downs: Vec<(Pid, ExitReason)>,
    exits: Vec<(Pid, ExitReason)>,
}

#[gensrv::gen_server]
impl Watcher {
    /// Monitors `target`.
    #[call]
    fn monitor(&mut self, target: Pid, ctx: &mut Context<Self>) -> gensrv::MonitorRef {
        ctx.monitor(&target)
    }

    /// Removes a monitor.
    #[call]
    fn demonitor(&mut self, monitor: gensrv::MonitorRef, ctx: &mut Context<Self>) -> bool {
        ctx.demonitor(monitor)
    }

    /// Links to `target`.
    #[call]
    fn link(&mut self, target: Pid, ctx: &mut Context<Self>) {
        ctx.link(&target);
    }

    /// Removes the link to `target`.
    #[call]
    fn unlink(&mut self, target: Pid, ctx: &mut Context<Self>) {
        ctx.unlink(&target);
    }

    /// Traps exits, or stops trapping them.
    #[call]
    fn trap(&mut self, trap: bool, ctx: &mut Context<Self>) {
        ctx.trap_exit(trap);
    }

    /// The `Down`s so far: whose, and why.
    #[call]
    fn downs(&self) -> Vec<(Pid, ExitReason)> {
        self.downs.clone()
    }

    /// The exit signals trapped so far: from whom, and why.
    #[call]
    fn exits(&self) -> Vec<(Pid, ExitReason)> {
        self.exits.clone()
    }

    #[info]
    fn down(&mut self, down: gensrv::Down) {
        self.downs.push((down.pid, down.reason));
    }

    #[info]
    fn exit(&mut self, exit: gensrv::Exit) {
        self.exits.push((exit.pid, exit.reason));
    }
}

impl WatcherRef {
    /// The `Down`s it has handled so far (the test fails if it cannot say).
    pub async fn downs_now(&self) -> Vec<(Pid, ExitReason)> {
        self.downs().await.expect("the watcher answers")
    }

    /// The exit signals it has trapped so far.
    pub async fn exits_now(&self) -> Vec<(Pid, ExitReason)> {
        self.exits().await.expect("the watcher answers")
    }
}

/// Two nodes in this process, connected and each seeing the other: a server
/// started here is reached through the other node as a server of another node.
pub async fn two_nodes() -> (Node, Node) {
    let mut last = None;
    for _ in 0..5 {
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let first = match Node::start(NodeConfig::default().listen([endpoint.clone()])).await {
            Ok(node) => node,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let second = Node::start(NodeConfig::default().connect(endpoint))
            .await
            .expect("the second node starts");
        assert!(first.wait_for(second.id(), Duration::from_secs(10)).await);
        assert!(second.wait_for(first.id(), Duration::from_secs(10)).await);
        return (first, second);
    }
    panic!("no node started: {last:?}");
}

/// `pid` of this process as `through` names it, were it on node `at`: the pid
/// of a server here, reached through the nodes.
pub fn through(through: &Node, at: &Node, pid: Pid) -> Pid {
    through.__pid(at.id(), Node::__index(pid))
}

/// Keeps an [`EchoRef`] and a [`Pid`] it is sent, and uses them: handles that
/// travel inside messages.
#[derive(Debug, Default)]
pub struct Relay {
    echo: Option<EchoRef>,
    pid: Option<Pid>,
}

#[gen_server(remote)]
impl Relay {
    /// Keeps `echo` and `pid`.
    #[call]
    fn keep(&mut self, echo: EchoRef, pid: Pid) {
        self.echo = Some(echo);
        self.pid = Some(pid);
    }

    /// What it keeps.
    #[call]
    fn kept(&self) -> (Option<EchoRef>, Option<Pid>) {
        (self.echo.clone(), self.pid)
    }

    /// Calls the echo server it keeps, wherever it runs.
    #[call]
    async fn relay(&self, text: String) -> Result<String, gensrv::CallError> {
        match &self.echo {
            Some(echo) => echo.echo(text).await,
            None => Err(gensrv::CallError::NoProc),
        }
    }

    /// Whether the echo server it keeps is local to it.
    #[call]
    fn echo_is_local(&self) -> Option<bool> {
        self.echo.as_ref().map(|echo| echo.pid().is_local())
    }
}

/// A recursive message type, as user code has (an expression, a JSON value):
/// for the tests of the nesting limit on what a node decodes.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Tree {
    /// The end of a branch.
    Leaf,
    /// One level more.
    Branch(Box<Tree>),
}

impl Tree {
    /// A branch `depth` levels deep.
    pub fn of_depth(depth: usize) -> Tree {
        let mut tree = Tree::Leaf;
        for _ in 0..depth {
            tree = Tree::Branch(Box::new(tree));
        }
        tree
    }

    /// How many levels deep it is.
    pub fn depth(&self) -> u64 {
        let mut depth = 0;
        let mut at = self;
        while let Tree::Branch(next) = at {
            depth += 1;
            at = next;
        }
        depth
    }
}

/// Iteratively, so that a deep tree does not overflow the stack when dropped.
impl Drop for Tree {
    fn drop(&mut self) {
        let mut next = match self {
            Tree::Branch(next) => std::mem::replace(&mut **next, Tree::Leaf),
            Tree::Leaf => return,
        };
        while let Tree::Branch(child) = &mut next {
            next = std::mem::replace(&mut **child, Tree::Leaf);
        }
    }
}
