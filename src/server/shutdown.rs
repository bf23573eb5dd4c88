//! Graceful shutdown. The first SIGTERM or SIGINT makes the readiness probe answer 503, and
//! every core stops accepting, closes its idle connections and refuses new requests with 503
//! SlowDown while the requests in flight finish (`drain`, `control`). Once every core has no
//! connection left, or the grace period is over, the cores make their journals durable and
//! end; the process exits 0. A second signal exits at once (status 128 + the signal).
//!
//! Signals are taken by `signal-hook` on a thread of its own (no handler code of ours runs in
//! signal context); the main thread waits for its message.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::control::Control;
use super::lifecycle::Lifecycle;
use super::StartError;
use crate::limits::SHUTDOWN_FLUSH_TIMEOUT_MS;

/// What the main thread waits for once the cores run.
pub(crate) enum Event {
    /// The first shutdown signal.
    Signal,
    /// A core thread ended on its own (it failed).
    CoreEnded(usize),
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// Starts watching for SIGTERM and SIGINT (their default action, ending the process at once,
/// is replaced from here on).
pub(crate) fn watch_signals(events: mpsc::Sender<Event>) -> Result<(), StartError> {
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|error| StartError(format!("cannot install signal handlers: {error}")))?;
    std::thread::Builder::new()
        .name("s3core-signals".into())
        .spawn(move || {
            let mut first = true;
            for signal in signals.forever() {
                if first {
                    first = false;
                    log::info!("{} received: draining (a second one exits at once)", name(signal));
                    let _ = events.send(Event::Signal);
                } else {
                    log::warn!("second {}: exiting now", name(signal));
                    eprintln!("s3core: second {}: exiting without waiting", name(signal));
                    std::process::exit(128 + signal);
                }
            }
        })
        .map_err(|error| StartError(format!("cannot start the signal thread: {error}")))?;
    Ok(())
}

/// Drains and stops the cores: at most `grace` for the requests in flight, then at most
/// `SHUTDOWN_FLUSH_TIMEOUT_MS` for the journals.
pub(crate) fn drain_and_stop(
    lifecycle: &Lifecycle,
    controls: &[flume::Sender<Control>],
    threads: Vec<JoinHandle<()>>,
    grace: Duration,
) {
    let started = Instant::now();
    lifecycle.draining();
    let deadline = started + grace;
    let (drained_sender, drained) = mpsc::channel();
    let mut draining = 0;
    for control in controls {
        if control.send(Control::Drain { deadline, drained: drained_sender.clone() }).is_ok() {
            draining += 1;
        }
    }
    // Each core reports by the deadline at the latest; the margin covers its last poll.
    let patience = deadline + Duration::from_millis(500);
    while draining > 0 {
        match drained.recv_timeout(patience.saturating_duration_since(Instant::now())) {
            Ok(_) => draining -= 1,
            Err(_) => break,
        }
    }
    if draining > 0 {
        log::warn!("{draining} cores did not report drained in time");
    }
    log::info!("drained in {:?}; making journals durable", started.elapsed());
    let (stopped_sender, stopped) = mpsc::channel();
    let mut stopping = 0;
    for control in controls {
        if control.send(Control::Stop { stopped: stopped_sender.clone() }).is_ok() {
            stopping += 1;
        }
    }
    let flush_deadline = Instant::now() + Duration::from_millis(SHUTDOWN_FLUSH_TIMEOUT_MS);
    while stopping > 0 {
        match stopped.recv_timeout(flush_deadline.saturating_duration_since(Instant::now())) {
            Ok(_) => stopping -= 1,
            Err(_) => {
                log::error!("{stopping} cores did not stop within {SHUTDOWN_FLUSH_TIMEOUT_MS} ms");
                return;
            }
        }
    }
    // The cores end right after their answer; wait for them to drop their connections.
    let join_deadline = Instant::now() + Duration::from_millis(SHUTDOWN_FLUSH_TIMEOUT_MS);
    for thread in threads {
        while !thread.is_finished() && Instant::now() < join_deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
    log::info!("shutdown complete in {:?}", started.elapsed());
}
