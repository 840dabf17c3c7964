//! systemd's notification protocol (`sd_notify(3)`), for units with `Type=notify` and `WatchdogSec=`:
//! a datagram to `$NOTIFY_SOCKET` says `READY=1` once the process serves, `WATCHDOG=1` at half the
//! watchdog interval while its runtime is alive, and `STOPPING=1` when it starts to stop. Without
//! `$NOTIFY_SOCKET` (not under systemd) every call does nothing.

use std::time::Duration;

use tokio::sync::watch;

/// Sends `state` (e.g. `READY=1`) to systemd, if it listens. Failures are ignored: a lost
/// notification makes systemd time the unit out, which it then reports itself.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let sent = match path.strip_prefix('@') {
        // An abstract socket.
        Some(name) => {
            use std::os::linux::net::SocketAddrExt as _;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        }
        None => socket.send_to(state.as_bytes(), &path),
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "could not notify systemd");
    }
}

/// The watchdog interval systemd asked for (`$WATCHDOG_USEC`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Says `READY=1`, then pings the watchdog at half its interval until `shutdown` turns true, then says
/// `STOPPING=1`. The pings come from the async runtime, so a wedged runtime stops them and systemd
/// restarts the process.
pub async fn ready_and_watch(mut shutdown: watch::Receiver<bool>) {
    notify("READY=1");
    let every = watchdog_interval().map(|interval| interval / 2);
    loop {
        match every {
            Some(every) => {
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => break,
                    _ = tokio::time::sleep(every) => notify("WATCHDOG=1"),
                }
            }
            None => {
                let _ = shutdown.wait_for(|stop| *stop).await;
                break;
            }
        }
    }
    notify("STOPPING=1");
}
