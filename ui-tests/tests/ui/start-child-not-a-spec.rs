use gensrv::supervisor::DynamicSupervisorRef;

async fn start_child(sup: DynamicSupervisorRef) {
    let _ = sup.start_child("worker").await;
}

fn main() {
    let _ = start_child;
}
