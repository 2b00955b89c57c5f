//! What a running system tells through `tracing`: a span per server, an event per
//! message handled, and one crash report per crash, with the state only as its
//! `#[format_status]` shows it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use gensrv::{Context, ExitReason, gen_server};
use gensrv_tests::within;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// The fields of an event or a span, as text.
#[derive(Clone, Debug, Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

/// One event: its level, fields, and the fields of the spans it is in, outermost
/// first (with each span's name as `span`).
#[derive(Clone, Debug)]
struct Captured {
    level: Level,
    fields: BTreeMap<String, String>,
    spans: Vec<BTreeMap<String, String>>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    fn text(&self) -> String {
        format!("{:?} {:?}", self.fields, self.spans)
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        fields
            .0
            .insert("span".into(), attrs.metadata().name().to_string());
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .filter_map(|span| span.extensions().get::<Fields>().map(|f| f.0.clone()))
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            fields: fields.0,
            spans,
        });
    }
}

impl Capture {
    fn events(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    fn crash_reports(&self) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|e| e.level == Level::ERROR && e.field("message") == Some("crash report"))
            .collect()
    }
}

/// Captures every event of this thread (the test runs on one thread, with its
/// servers). A second, silent dispatcher kept alive stops callsites from caching
/// "never" for a thread that had no subscriber.
fn capture() -> (
    Capture,
    tracing::Dispatch,
    tracing::subscriber::DefaultGuard,
) {
    let silent = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let guard = tracing::subscriber::set_default(subscriber);
    (capture, silent, guard)
}

/// Holds a secret, and can be made to crash.
struct Vault {
    #[allow(dead_code)] // Only there not to be shown.
    secret: String,
    opened: u32,
}

#[gen_server]
impl Vault {
    #[call]
    fn open(&mut self) -> u32 {
        tracing::info!("opening");
        self.opened += 1;
        self.opened
    }

    #[cast]
    fn explode(&mut self) {
        panic!("boom");
    }

    #[call]
    fn fail(&mut self, ctx: &mut Context<Self>) {
        ctx.stop(ExitReason::Error("gave up".into()));
    }

    #[format_status]
    fn status(&self) -> String {
        format!("Vault {{ opened: {}, secret: <hidden> }}", self.opened)
    }
}

fn new_vault() -> Vault {
    Vault {
        secret: "hunter2".into(),
        opened: 0,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_server_runs_in_a_span_naming_its_type_pid_and_name() {
    let (capture, _silent, _guard) = capture();
    let vault = Vault::start(new_vault())
        .name("observe-span")
        .await
        .unwrap();
    vault.open().await.unwrap();
    let events = capture.events();
    let opening = events
        .iter()
        .find(|e| e.field("message") == Some("opening"))
        .expect("the handler's event");
    let span = opening
        .spans
        .iter()
        .find(|s| s.get("span").map(String::as_str) == Some("gen_server"))
        .unwrap_or_else(|| panic!("no server span: {}", opening.text()));
    assert_eq!(span["pid"], vault.pid().to_string());
    assert_eq!(span["name"], "observe-span");
    assert_eq!(span["server"], std::any::type_name::<Vault>());
}

#[tokio::test(flavor = "current_thread")]
async fn each_message_handled_is_a_debug_event_naming_its_handler() {
    let (capture, _silent, _guard) = capture();
    let vault = Vault::start(new_vault()).await.unwrap();
    vault.open().await.unwrap();
    vault.open().await.unwrap();
    let handled: Vec<Captured> = capture
        .events()
        .into_iter()
        .filter(|e| e.level == Level::DEBUG && e.field("handler") == Some("open"))
        .collect();
    assert_eq!(handled.len(), 2, "{:?}", capture.events());
}

#[tokio::test(flavor = "current_thread")]
async fn a_crash_is_reported_once_with_pid_name_reason_handler_and_status() {
    let (capture, _silent, _guard) = capture();
    let vault = Vault::start(new_vault())
        .name("observe-crash")
        .await
        .unwrap();
    vault.open().await.unwrap();
    vault.explode().unwrap();
    let reason = within(5, vault.exited()).await;
    assert!(matches!(&reason, ExitReason::Panic(m) if m == "boom"));

    let reports = capture.crash_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report.field("pid"), Some(&*vault.pid().to_string()));
    assert_eq!(report.field("name"), Some("observe-crash"));
    assert_eq!(report.field("server"), Some(std::any::type_name::<Vault>()));
    assert_eq!(report.field("reason"), Some(&*reason.to_string()));
    assert_eq!(report.field("handler"), Some("explode"));
    assert_eq!(
        report.field("status"),
        Some("Vault { opened: 1, secret: <hidden> }")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_stop_with_an_abnormal_reason_is_one_crash_report_and_a_normal_one_none() {
    let (capture, _silent, _guard) = capture();
    let vault = Vault::start(new_vault()).await.unwrap();
    let _ = vault.fail().await;
    assert_eq!(
        within(5, vault.exited()).await,
        ExitReason::Error("gave up".into())
    );
    let reports = capture.crash_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].field("handler"), Some("fail"));

    let calm = Vault::start(new_vault()).await.unwrap();
    calm.stop().await.unwrap();
    let other = Vault::start(new_vault()).await.unwrap();
    other.stop().reason(ExitReason::Shutdown).await.unwrap();
    assert_eq!(capture.crash_reports().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_killed_server_is_reported_once_too() {
    let (capture, _silent, _guard) = capture();
    let vault = Vault::start(new_vault()).await.unwrap();
    vault.open().await.unwrap();
    gensrv::exit(&vault, ExitReason::Killed);
    assert_eq!(within(5, vault.exited()).await, ExitReason::Killed);
    let reports = capture.crash_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].field("reason"), Some("killed"));
    assert_eq!(
        reports[0].field("status"),
        Some("Vault { opened: 1, secret: <hidden> }")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_secret_never_shows_in_any_trace() {
    let (capture, _silent, _guard) = capture();
    let vault = Vault::start(new_vault())
        .name("observe-secret")
        .await
        .unwrap();
    vault.open().await.unwrap();
    let status = within(5, vault.get_status()).await.unwrap();
    assert!(!format!("{status:?}").contains("hunter2"));
    vault.explode().unwrap();
    within(5, vault.exited()).await;
    let events = capture.events();
    assert!(!events.is_empty());
    for event in events {
        assert!(!event.text().contains("hunter2"), "{}", event.text());
    }
}

/// Fails in its init, as its argument says.
struct Doomed;

#[gen_server]
impl Doomed {
    #[init]
    fn init(how: u8) -> gensrv::Init<Self> {
        match how {
            0 => gensrv::Init::Ignore,
            1 => gensrv::Init::Stop(ExitReason::Error("no config".into())),
            _ => panic!("init blew up"),
        }
    }
}

/// OTP: a gen_server whose init fails (`{stop, Reason}` or a crash) exits with that
/// reason through proc_lib, which writes a crash report unless it is normal; `ignore`
/// is none.
#[tokio::test(flavor = "current_thread")]
async fn an_init_failure_is_one_crash_report_and_ignore_none() {
    let (capture, _silent, _guard) = capture();
    assert!(Doomed::start(0).await.is_err());
    assert_eq!(capture.crash_reports().len(), 0);
    assert!(Doomed::start(1).name("observe-doomed").await.is_err());
    let reports = capture.crash_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].field("name"), Some("observe-doomed"));
    assert_eq!(reports[0].field("reason"), Some("error: no config"));
    assert_eq!(reports[0].field("handler"), Some("init"));
    assert!(Doomed::start(2).await.is_err());
    let reports = capture.crash_reports();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[1].field("handler"), Some("init"));
}

/// Panics in its terminate.
struct Clumsy;

#[gen_server]
impl Clumsy {
    #[cast]
    fn fall(&mut self) {
        panic!("fell");
    }

    #[terminate]
    fn terminate(&mut self) {
        panic!("fell again");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_in_terminate_is_one_crash_report() {
    let (capture, _silent, _guard) = capture();
    let clumsy = Clumsy::start(Clumsy).await.unwrap();
    let _ = clumsy.stop().await;
    assert_eq!(capture.crash_reports().len(), 1);
    let clumsy = Clumsy::start(Clumsy).await.unwrap();
    clumsy.fall().unwrap();
    within(5, clumsy.exited()).await;
    assert_eq!(
        capture.crash_reports().len(),
        2,
        "{:?}",
        capture.crash_reports()
    );
}

/// Links to whom it is told.
#[derive(Clone)]
struct Linker;

#[gen_server]
impl Linker {
    #[call]
    fn link_to(&self, pid: gensrv::Pid, ctx: &mut Context<Self>) {
        ctx.link(&pid);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_crash_taking_a_linked_server_is_one_report_each() {
    let (capture, _silent, _guard) = capture();
    let vault = Vault::start(new_vault()).await.unwrap();
    let linker = Linker::start(Linker).await.unwrap();
    linker.link_to(vault.pid()).await.unwrap();
    vault.explode().unwrap();
    within(5, linker.exited()).await;
    let reports = capture.crash_reports();
    assert_eq!(reports.len(), 2, "{reports:?}");
    let pids: Vec<_> = reports.iter().map(|r| r.field("pid").unwrap()).collect();
    assert!(pids.contains(&&*vault.pid().to_string()));
    assert!(pids.contains(&&*linker.pid().to_string()));
}

/// OTP: a supervisor's `brutal_kill` is its ordinary way to stop a child, and
/// writes no error report.
#[tokio::test(flavor = "current_thread")]
async fn stopping_a_tree_whose_children_are_brutally_killed_reports_no_crash() {
    use gensrv::supervisor::{Shutdown, Strategy, Supervisor};
    let (capture, _silent, _guard) = capture();
    let sup = Supervisor::start(
        Supervisor::new(Strategy::OneForOne)
            .child(Linker::child_spec(Linker).with_shutdown(Shutdown::BrutalKill)),
    )
    .await
    .unwrap();
    within(5, sup.stop()).await.unwrap();
    assert_eq!(
        capture.crash_reports().len(),
        0,
        "{:?}",
        capture.crash_reports()
    );
}

/// Its `#[format_status]` panics.
struct Shy;

#[gen_server]
impl Shy {
    #[cast]
    fn crash(&mut self) {
        panic!("crashed");
    }

    #[format_status]
    fn status(&self) -> String {
        panic!("will not say");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_in_format_status_shows_a_placeholder_and_ends_nothing() {
    let (capture, _silent, _guard) = capture();
    let shy = Shy::start(Shy).await.unwrap();
    let status = within(5, shy.get_status()).await.unwrap();
    assert_eq!(status.state, "(format_status panicked)");
    assert!(shy.is_alive());
    shy.crash().unwrap();
    within(5, shy.exited()).await;
    let reports = capture.crash_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].field("status"), Some("(format_status panicked)"));
    assert_eq!(reports[0].field("reason"), Some("panic: crashed"));
}
