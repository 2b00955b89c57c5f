//! The runtime without the macro: a `GenServer` written by hand, driven through
//! `ServerRef`.

use std::convert::Infallible;
use std::time::Duration;

use gensrv::{
    CallError, CastError, Context, ExitReason, GenServer, Init, ReplyTo, ServerRef, Start,
    StartError,
};

/// A key-value bucket, by hand.
struct Bucket {
    value: Option<String>,
}

enum BucketCall {
    Get { reply_to: ReplyTo<Option<String>> },
    Crash { reply_to: ReplyTo<()> },
}

enum BucketCast {
    Put(String),
}

impl GenServer for Bucket {
    type Arg = Option<String>;
    type Call = BucketCall;
    type Cast = BucketCast;
    type Info = Infallible;
    type Ref = ServerRef<Bucket>;

    async fn init(arg: Option<String>, _: &mut Context<Self>) -> Init<Self> {
        match arg.as_deref() {
            Some("refuse") => Init::Stop(ExitReason::Error("refused".into())),
            _ => Init::Ready(Bucket { value: arg }),
        }
    }

    async fn handle_call(&mut self, call: BucketCall, _: &mut Context<Self>) {
        match call {
            BucketCall::Get { reply_to } => {
                let _ = reply_to.send(self.value.clone());
            }
            BucketCall::Crash { reply_to } => {
                let _keep = reply_to;
                panic!("asked to crash")
            }
        }
    }

    async fn handle_cast(&mut self, cast: BucketCast, _: &mut Context<Self>) {
        match cast {
            BucketCast::Put(value) => self.value = Some(value),
        }
    }

    async fn handle_info(&mut self, info: Infallible, _: &mut Context<Self>) {
        match info {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_server_runs_on_the_runtime() {
    // `Start` names the server type: it is not inferred from the handle.
    let bucket = Start::<Bucket>::new(None).name("by-hand").await.unwrap();
    assert_eq!(
        ServerRef::<Bucket>::whereis("by-hand"),
        Some(bucket.clone())
    );
    bucket.cast(BucketCast::Put("milk".into())).unwrap();
    let got = bucket.call(|reply_to| BucketCall::Get { reply_to }).await;
    assert_eq!(got, Ok(Some("milk".into())));

    let crash = bucket
        .call(|reply_to| BucketCall::Crash { reply_to })
        .timeout(Duration::from_secs(2))
        .await;
    assert_eq!(
        crash,
        Err(CallError::Exited(ExitReason::Panic(
            "asked to crash".into()
        )))
    );
    assert_eq!(
        bucket.cast(BucketCast::Put("x".into())),
        Err(CastError::NoProc)
    );

    let refused = Start::<Bucket>::new(Some("refuse".into())).await;
    assert_eq!(
        refused.unwrap_err(),
        StartError::Init(ExitReason::Error("refused".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_server_is_supervised_from_its_specs() {
    use gensrv::Pid;
    use gensrv::supervisor::{ChildSpec, DynamicSupervisor, TypedChildSpec};

    let sup = DynamicSupervisor::start(DynamicSupervisor::new())
        .await
        .unwrap();
    // A typed spec gives the handle, a plain one the pid.
    let typed = TypedChildSpec::<Bucket>::new(Some("milk".into())).with_id("typed");
    assert_eq!(typed.id(), "typed");
    let bucket: ServerRef<Bucket> = sup.start_child(typed).await.unwrap().unwrap();
    let got = bucket.call(|reply_to| BucketCall::Get { reply_to }).await;
    assert_eq!(got, Ok(Some("milk".into())));
    let pid: Pid = sup
        .start_child(ChildSpec::new::<Bucket>(None))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(pid, bucket.pid());
}
