//! The wake-up listener: one connection per store that `LISTEN`s on [`WAKE_CHANNEL`] and turns
//! other nodes' notifications into [`Wake`] hints. Notifications are lost while this connection
//! is down, so after every (re)connection it sends [`Wake::All`]: each delivery task re-reads its
//! mailbox from its last sequence, which covers whatever was committed meanwhile.

use std::{sync::Arc, time::Duration};

use tokio::sync::{broadcast, mpsc, watch};
use tokio_postgres::{AsyncMessage, Config, NoTls};

use super::{NodeTag, WAKE_CHANNEL, Wake};

pub(super) async fn listen_loop(
    config: Arc<Config>,
    wake: broadcast::Sender<Wake>,
    mut closed: watch::Receiver<()>,
    tag: NodeTag,
) {
    let own = format!("{}:", hex::encode(tag));
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = tokio::select! {
            r = config.connect(NoTls) => r,
            _ = closed.changed() => return,
        };
        let (client, mut connection) = match connected {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "wake-up listener cannot connect; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = closed.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let (tx, mut notifications) = mpsc::unbounded_channel::<String>();
        let driver = tokio::spawn(async move {
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if tx.send(n.payload().to_owned()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        if let Err(e) = client
            .batch_execute(&format!("LISTEN {WAKE_CHANNEL}"))
            .await
        {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            driver.abort();
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = closed.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        }
        backoff = Duration::from_millis(100);
        // Whatever was committed while nobody listened.
        let _ = wake.send(Wake::All);
        loop {
            tokio::select! {
                payload = notifications.recv() => {
                    let Some(payload) = payload else { break };
                    if payload.starts_with(&own) {
                        continue;
                    }
                    let ids = payload.split_once(':').map_or("", |(_, ids)| ids);
                    for id in ids.split(',') {
                        match hex::decode(id).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
                            Some(id) => {
                                let _ = wake.send(Wake::Identity(id));
                            }
                            None => {
                                let _ = wake.send(Wake::All);
                            }
                        }
                    }
                }
                _ = closed.changed() => {
                    driver.abort();
                    return;
                }
            }
        }
        driver.abort();
        drop(client);
        tracing::warn!("wake-up listener connection lost; reconnecting");
    }
}
