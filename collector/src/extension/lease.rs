//! A `coordination.k8s.io/v1` Lease as raw JSON: who holds it, whether it has expired, the
//! checkpoint annotation, and the next version of it for acquire, renew and release.
//!
//! Raw JSON rather than a typed struct: fields this crate does not know survive an update.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::receiver::k8s_events::Position;
use crate::receiver::k8s_events::time::Time;

/// The annotation holding the acknowledged [`Position`] (as JSON), so that the next holder
/// resumes where the last accepted batch of the previous one ended.
pub const CHECKPOINT_ANNOTATION: &str = "k8s-event-collector.io/checkpoint";

/// A Lease object as the API server returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease(pub Value);

impl Lease {
    /// Reads an API server answer; anything but a JSON object is an error.
    pub fn parse(text: &str) -> Result<Lease, String> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(Lease(Value::Object(map))),
            Ok(_) => Err("the Lease is not a JSON object".into()),
            Err(e) => Err(format!("the Lease is not JSON: {e}")),
        }
    }

    fn spec_str(&self, field: &str) -> Option<&str> {
        self.0.pointer(&format!("/spec/{field}"))?.as_str()
    }

    /// `spec.holderIdentity`; `""` when nobody holds it.
    pub fn holder(&self) -> &str {
        self.spec_str("holderIdentity").unwrap_or_default()
    }

    /// `metadata.resourceVersion`, which an update must carry.
    pub fn resource_version(&self) -> Option<&str> {
        self.0.pointer("/metadata/resourceVersion")?.as_str()
    }

    /// Whether the holder's term is over: `renewTime + leaseDurationSeconds` is before `now`.
    /// A Lease without those fields is expired (nobody can be relying on it).
    pub fn expired(&self, now: SystemTime) -> bool {
        let renewed = self
            .spec_str("renewTime")
            .and_then(|t| Time::parse_rfc3339(t).ok());
        let duration = self
            .0
            .pointer("/spec/leaseDurationSeconds")
            .and_then(Value::as_i64);
        let (Some(renewed), Some(duration)) = (renewed, duration) else {
            return true;
        };
        let now = Time::from_unix(unix_secs(now), 0).unwrap_or(Time::UNIX_EPOCH);
        let end = Time::from_unix(
            renewed.unix_secs().saturating_add(duration),
            renewed.subsec_nanos(),
        )
        .unwrap_or(Time::UNIX_EPOCH);
        end < now
    }

    /// Whether `identity` may take (or keep) the Lease at `now`: it is free, already ours, or
    /// its holder stopped renewing.
    pub fn available_to(&self, identity: &str, now: SystemTime) -> bool {
        let holder = self.holder();
        holder.is_empty() || holder == identity || self.expired(now)
    }

    /// The checkpoint annotation; `None` when absent or unreadable (then the new holder starts
    /// from its own storage or `start_from`, and says so).
    pub fn checkpoint(&self) -> Option<Position> {
        let text = self
            .0
            .pointer("/metadata/annotations")?
            .get(CHECKPOINT_ANNOTATION)?
            .as_str()?;
        match serde_json::from_str(text) {
            Ok(position) => Some(position),
            Err(e) => {
                tracing::warn!("the Lease's {CHECKPOINT_ANNOTATION} annotation is damaged: {e}");
                None
            }
        }
    }

    /// A new Lease held by `identity`, for a create (POST).
    pub fn new_held(
        name: &str,
        namespace: &str,
        identity: &str,
        duration: Duration,
        now: SystemTime,
        checkpoint: Option<&Position>,
    ) -> Value {
        let mut lease = Lease(json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"leaseTransitions": 0},
        }));
        lease.hold(identity, duration, now);
        if let Some(position) = checkpoint {
            lease.set_checkpoint(position);
        }
        lease.0
    }

    /// This Lease held by `identity` from `now` on (acquire or renew), for an update (PUT,
    /// carrying the resourceVersion read). Taking it from another holder counts a transition.
    pub fn held_by(&self, identity: &str, duration: Duration, now: SystemTime) -> Lease {
        let mut next = self.clone();
        next.hold(identity, duration, now);
        next
    }

    /// This Lease given up: no holder, so a standby takes it at its next try instead of
    /// waiting for it to expire.
    pub fn released(&self, now: SystemTime) -> Lease {
        let mut next = self.clone();
        next.with_spec(|spec| {
            spec.insert("holderIdentity".into(), "".into());
            spec.insert("renewTime".into(), micro_time(now).into());
            spec.insert("leaseDurationSeconds".into(), 1.into());
        });
        next
    }

    /// Writes `position` into the checkpoint annotation.
    pub fn set_checkpoint(&mut self, position: &Position) {
        let Ok(text) = serde_json::to_string(position) else {
            return;
        };
        let Some(object) = self.0.as_object_mut() else {
            return;
        };
        let metadata = object
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        if let Some(metadata) = metadata.as_object_mut() {
            let annotations = metadata
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if !annotations.is_object() {
                *annotations = Value::Object(Map::new());
            }
            if let Some(annotations) = annotations.as_object_mut() {
                annotations.insert(CHECKPOINT_ANNOTATION.into(), text.into());
            }
        }
    }

    fn hold(&mut self, identity: &str, duration: Duration, now: SystemTime) {
        let taken_over = self.holder() != identity;
        let transitions = self
            .0
            .pointer("/spec/leaseTransitions")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let now = micro_time(now);
        self.with_spec(|spec| {
            if taken_over {
                spec.insert("holderIdentity".into(), identity.into());
                spec.insert("acquireTime".into(), now.clone().into());
                spec.insert("leaseTransitions".into(), (transitions + 1).into());
            }
            spec.insert("renewTime".into(), now.into());
            spec.insert(
                "leaseDurationSeconds".into(),
                lease_seconds(duration).into(),
            );
        });
    }

    /// Runs `change` on `spec`, made an object first if it is not one.
    fn with_spec(&mut self, change: impl FnOnce(&mut Map<String, Value>)) {
        if !self.0.is_object() {
            self.0 = Value::Object(Map::new());
        }
        if let Value::Object(object) = &mut self.0 {
            let spec = object
                .entry("spec")
                .or_insert_with(|| Value::Object(Map::new()));
            if !spec.is_object() {
                *spec = Value::Object(Map::new());
            }
            if let Value::Object(spec) = spec {
                change(spec);
            }
        }
    }
}

/// `leaseDurationSeconds` (int32, whole seconds, at least 1).
fn lease_seconds(duration: Duration) -> i64 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i64::try_from(whole)
        .unwrap_or(i64::MAX)
        .clamp(1, i64::from(i32::MAX))
}

fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A `metav1.MicroTime` as the API server writes it: `2026-11-25T15:04:05.123456Z`.
pub fn micro_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let (y, mo, d, h, mi, s) = Time::from_unix(secs, 0).unwrap_or(Time::UNIX_EPOCH).civil();
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z",
        since.subsec_micros()
    )
}

/// The newer of two checkpoints by resourceVersion (as an integer); a checkpoint whose
/// resourceVersion is not a number loses to one whose is.
pub fn newer(a: Option<Position>, b: Option<Position>) -> Option<Position> {
    match (a, b) {
        (Some(a), Some(b)) => {
            if rv_number(&b) > rv_number(&a) {
                Some(b)
            } else {
                Some(a)
            }
        }
        (a, b) => a.or(b),
    }
}

/// A position's resourceVersion as an integer (`None` when it is not one).
pub fn rv_number(position: &Position) -> Option<u64> {
    position.resource_version.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn micro_time_is_what_the_api_server_writes() {
        let t = UNIX_EPOCH + Duration::new(1_764_083_045, 123_456_789);
        assert_eq!(micro_time(t), "2025-11-25T15:04:05.123456Z");
        let parsed = Time::parse_rfc3339(&micro_time(t)).unwrap();
        assert_eq!(parsed.unix_secs(), 1_764_083_045);
    }

    #[test]
    fn the_checkpoint_annotation_round_trips_and_keeps_other_fields() {
        let mut lease = Lease(json!({
            "metadata": {"name": "kec", "annotations": {"other": "kept"}, "labels": {"a": "b"}},
            "spec": {"holderIdentity": "a", "leaseTransitions": 1, "preferredHolder": "x"}
        }));
        let mut position = Position::at("42");
        position.namespaces.insert("shop".into(), "42".into());
        lease.set_checkpoint(&position);
        let renewed = lease.held_by("a", Duration::from_millis(2500), UNIX_EPOCH);
        assert_eq!(renewed.checkpoint(), Some(position));
        assert_eq!(renewed.0["metadata"]["annotations"]["other"], "kept");
        assert_eq!(renewed.0["spec"]["preferredHolder"], "x");
        assert_eq!(renewed.0["spec"]["leaseDurationSeconds"], 3);
        // Renewing is no transition; taking over is.
        assert_eq!(renewed.0["spec"]["leaseTransitions"], 1);
        let taken = renewed.held_by("b", Duration::from_secs(15), UNIX_EPOCH);
        assert_eq!(taken.0["spec"]["leaseTransitions"], 2);
        assert_eq!(taken.holder(), "b");
    }

    #[test]
    fn a_damaged_annotation_is_no_checkpoint() {
        let lease = Lease(json!({"metadata": {"annotations": {CHECKPOINT_ANNOTATION: "{"}}}));
        assert_eq!(lease.checkpoint(), None);
        assert!(Lease::parse("[]").is_err());
    }

    #[test]
    fn the_newer_checkpoint_wins_by_resource_version() {
        let at = |rv: &str| Some(Position::at(rv));
        assert_eq!(newer(at("9"), at("10")), at("10"));
        assert_eq!(newer(at("10"), at("9")), at("10"));
        assert_eq!(newer(None, at("9")), at("9"));
        assert_eq!(newer(at("x"), at("9")), at("9"));
        assert_eq!(newer(None, None), None);
    }
}
