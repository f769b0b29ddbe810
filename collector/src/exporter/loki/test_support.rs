//! Records shared by the tests of the encoding modules.

use crate::record::{AnyValue, Attributes, LogRecord, SeverityNumber};

fn attrs<const N: usize>(pairs: [(&str, AnyValue); N]) -> Attributes {
    pairs.into_iter().collect()
}

/// A record like the reference setup's: the receiver's attributes plus what its `resource`
/// processor inserts.
pub(crate) fn k8s_event_record() -> LogRecord {
    LogRecord {
        timestamp_unix_nano: Some(1_714_557_600_000_000_000),
        observed_unix_nano: None,
        severity_number: SeverityNumber::INFO,
        severity_text: "Normal".into(),
        body: "Container image \"nginx:1.25\" already present on machine".into(),
        attributes: attrs([
            ("k8s.event.reason", "Pulled".into()),
            ("k8s.event.action", "".into()),
            (
                "k8s.event.start_time",
                "2024-05-01 10:00:00 +0000 UTC".into(),
            ),
            ("k8s.event.name", "web-0.17cb5a1f2e3d4c5b".into()),
            (
                "k8s.event.uid",
                "5b8f3c1e-0d2a-4e6b-9f7c-1a2b3c4d5e6f".into(),
            ),
            ("k8s.namespace.name", "default".into()),
            ("k8s.event.count", AnyValue::Int(1)),
        ]),
        resource: attrs([
            ("k8s.node.name", "kind-worker".into()),
            ("k8s.object.kind", "Pod".into()),
            ("k8s.object.name", "web-0".into()),
            (
                "k8s.object.uid",
                "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5".into(),
            ),
            ("k8s.object.fieldpath", "spec.containers{nginx}".into()),
            ("k8s.object.api_version", "v1".into()),
            ("k8s.object.resource_version", "4711".into()),
            ("cluster", "tenant-a".into()),
            ("node", "kind-control-plane".into()),
            ("receiver", "k8s_event".into()),
            ("loki.resource.labels", "node,receiver,cluster".into()),
        ]),
    }
}
