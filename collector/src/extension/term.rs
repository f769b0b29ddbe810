//! One elector's loop: standing by until the Lease can be taken, then leading (renewing,
//! writing new checkpoints) until the Lease is lost or, after shutdown, released.

use std::sync::PoisonError;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::receiver::k8s_events::Position;

use super::leader::{Seen, Settings};
use super::lease::{Lease, rv_number};
use super::lease_api::{LeaseApi, LeaseError};

/// The outcome of one acquire-or-renew attempt.
#[derive(Debug, PartialEq)]
pub(crate) enum Attempt {
    /// This replica holds the Lease until `renewTime + leaseDurationSeconds`.
    Held,
    /// Another replica holds it and is renewing.
    HeldByOther(String),
}

/// The elector's running state.
pub(super) struct Term {
    pub(super) api: LeaseApi,
    pub(super) settings: Settings,
    pub(super) acked: Option<watch::Receiver<Option<Position>>>,
    pub(super) seen: Seen,
}

impl Term {
    /// Tries to take the Lease every `retry_period`; `true` once held, `false` on shutdown.
    pub(super) async fn stand_by(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut last_holder = String::new();
        loop {
            if *shutdown.borrow() {
                return false;
            }
            match self.try_acquire_or_renew(None).await {
                Ok((Attempt::Held, lease)) => {
                    let checkpoint = lease.checkpoint();
                    tracing::info!(
                        identity = %self.settings.identity,
                        checkpoint = ?checkpoint.as_ref().map(|p| p.resource_version.as_str()),
                        "leader election: this replica holds the Lease and ships events"
                    );
                    *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = checkpoint;
                    // Positions acknowledged before this term are not this term's to write.
                    if let Some(acked) = &mut self.acked {
                        acked.borrow_and_update();
                    }
                    return true;
                }
                Ok((Attempt::HeldByOther(holder), _)) => {
                    if holder != last_holder {
                        tracing::info!(%holder, "leader election: standing by, the Lease is held");
                        last_holder = holder;
                    }
                }
                Err(LeaseError::Conflict) => {
                    tracing::debug!("leader election: another replica took the Lease first");
                }
                Err(e) => tracing::warn!("leader election: {e}"),
            }
            let wait = tokio::time::sleep(self.settings.retry_period);
            tokio::select! {
                () = wait => {}
                () = stopped(shutdown) => return false,
            }
        }
    }

    /// Renews until leadership is lost (`false`) or, after shutdown, released (`true`).
    pub(super) async fn lead(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let retry = self.settings.retry_period;
        let mut last_renewed = Instant::now();
        let mut last_attempt = Instant::now();
        let mut stopping = false;
        let publishes = self.acked.is_some();
        loop {
            let mut next = last_attempt + retry;
            let mut done = false;
            let acked_change = async {
                match &mut self.acked {
                    Some(acked) => acked.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                changed = acked_change => {
                    if changed {
                        // A new checkpoint: write it soon, not more often than 4 times a period.
                        next = last_attempt + retry / 4;
                        tokio::time::sleep_until(next).await;
                    } else {
                        done = true;
                    }
                }
                () = stopped(shutdown), if !stopping => {
                    stopping = true;
                    // Without a pipeline to wait for, release now.
                    done = !publishes;
                    if !done {
                        tracing::info!("leader election: keeping the Lease until what was read is delivered");
                        continue;
                    }
                }
            }
            if done {
                self.release().await;
                return true;
            }
            last_attempt = Instant::now();
            let position = self.acked_position();
            match self.try_acquire_or_renew(position.as_ref()).await {
                Ok((Attempt::Held, _)) => last_renewed = Instant::now(),
                Ok((Attempt::HeldByOther(holder), _)) => {
                    tracing::warn!(%holder, "leader election: the Lease was taken over; stopping the receiver");
                    return false;
                }
                Err(e) => {
                    if last_renewed.elapsed() >= self.settings.renew_deadline {
                        tracing::warn!(
                            "leader election: could not renew the Lease for {:?} ({e}); stopping the receiver",
                            self.settings.renew_deadline
                        );
                        return false;
                    }
                    tracing::debug!("leader election: renew failed, retrying: {e}");
                }
            }
        }
    }

    fn acked_position(&mut self) -> Option<Position> {
        self.acked
            .as_mut()
            .and_then(|acked| acked.borrow_and_update().clone())
    }

    /// One client-go style attempt: read the Lease; create it when missing; take it when free,
    /// ours or expired; else report its holder. `checkpoint` goes into the annotation when it
    /// moved forward (never backwards: an older position would make the next leader re-send).
    async fn try_acquire_or_renew(
        &self,
        checkpoint: Option<&Position>,
    ) -> Result<(Attempt, Lease), LeaseError> {
        let settings = &self.settings;
        let attempt = async {
            let now = SystemTime::now();
            let Some(current) = self.api.get().await? else {
                let lease = Lease::new_held(
                    &self.api.name,
                    &self.api.namespace,
                    &settings.identity,
                    settings.lease_duration,
                    now,
                    checkpoint,
                );
                return Ok((Attempt::Held, self.api.create(&lease).await?));
            };
            if !current.available_to(&settings.identity, now) {
                return Ok((Attempt::HeldByOther(current.holder().to_owned()), current));
            }
            let mut next = current.held_by(&settings.identity, settings.lease_duration, now);
            if let Some(position) = checkpoint
                && moves_forward(current.checkpoint().as_ref(), position)
            {
                next.set_checkpoint(position);
            }
            let written = self.api.update(&next).await?;
            if let Some(position) = checkpoint {
                *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(position.clone());
            }
            Ok((Attempt::Held, written))
        };
        // A hanging API server must not keep a leader past its deadline.
        tokio::time::timeout(settings.renew_deadline.max(retry_floor()), attempt)
            .await
            .unwrap_or_else(|_| Err(LeaseError::Api("the Lease request timed out".into())))
    }

    /// Writes the last acknowledged position and gives the Lease up.
    async fn release(&mut self) {
        let position = self.acked_position();
        let result = async {
            let Some(current) = self.api.get().await? else {
                return Ok(());
            };
            if current.holder() != self.settings.identity {
                return Ok(());
            }
            let mut next = current.released(SystemTime::now());
            if let Some(position) = &position
                && moves_forward(current.checkpoint().as_ref(), position)
            {
                next.set_checkpoint(position);
            }
            self.api.update(&next).await.map(|_| ())
        };
        match tokio::time::timeout(self.settings.renew_deadline.max(retry_floor()), result).await {
            Ok(Ok(())) => tracing::info!(
                checkpoint = ?position.as_ref().map(|p| p.resource_version.as_str()),
                "leader election: released the Lease"
            ),
            Ok(Err(e)) => tracing::warn!("leader election: could not release the Lease: {e}"),
            Err(_) => tracing::warn!("leader election: releasing the Lease timed out"),
        }
    }
}

/// Resolves once `shutdown` turns true or its sender is gone (holding no borrow of it).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The shortest time a Lease request is given.
fn retry_floor() -> Duration {
    Duration::from_secs(1)
}

/// Whether `position` may replace `current` in the Lease: it differs and its resourceVersion
/// is not older (non-numeric ones are compared for equality only).
fn moves_forward(current: Option<&Position>, position: &Position) -> bool {
    match current {
        None => true,
        Some(current) if current == position => false,
        Some(current) => match (rv_number(current), rv_number(position)) {
            (Some(old), Some(new)) => new >= old,
            _ => true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_only_move_forward() {
        let at = Position::at;
        assert!(moves_forward(None, &at("5")));
        assert!(moves_forward(Some(&at("5")), &at("6")));
        assert!(!moves_forward(Some(&at("6")), &at("5")));
        assert!(!moves_forward(Some(&at("6")), &at("6")));
    }
}
