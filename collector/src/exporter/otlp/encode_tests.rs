//! Encoding tests of the otlphttp exporter: grouping by resource, the namespace move, field
//! values on the wire, and a property test that encode -> decode keeps every record.

use proptest::prelude::*;

use super::*;
use crate::exporter::loki::test_support::k8s_event_record;

fn record(resource: &str, message: &str) -> LogRecord {
    let mut r = k8s_event_record();
    r.resource.upsert("k8s.object.name", resource);
    r.body = message.into();
    r
}

#[test]
fn records_of_one_resource_share_a_resource_logs_in_order() {
    let records = [record("a", "1"), record("b", "2"), record("a", "3")];
    let request = to_request(&records, EncodeOptions::default());
    assert_eq!(request.resource_logs.len(), 2);
    let bodies: Vec<Vec<_>> = request
        .resource_logs
        .iter()
        .map(|rl| {
            assert_eq!(rl.scope_logs.len(), 1);
            assert_eq!(rl.scope_logs[0].scope, None);
            rl.scope_logs[0]
                .log_records
                .iter()
                .map(|l| l.body.clone().unwrap().value.unwrap())
                .collect()
        })
        .collect();
    let s = |t: &str| Value::StringValue(t.into());
    assert_eq!(bodies, [vec![s("1"), s("3")], vec![s("2")]]);
}

#[test]
fn fields_go_where_otlp_puts_them() {
    let mut r = k8s_event_record();
    r.observed_unix_nano = Some(1_714_557_601_000_000_000);
    let request = to_request(std::slice::from_ref(&r), EncodeOptions::default());
    let log = &request.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(log.time_unix_nano, 1_714_557_600_000_000_000);
    assert_eq!(log.observed_time_unix_nano, 1_714_557_601_000_000_000);
    assert_eq!(log.severity_number, 9);
    assert_eq!(log.severity_text, "Normal");
    let count = log
        .attributes
        .iter()
        .find(|kv| kv.key == "k8s.event.count")
        .unwrap();
    assert_eq!(count.value.clone().unwrap().value, Some(Value::IntValue(1)));
    assert!(log.attributes.iter().any(|kv| kv.key == NAMESPACE));
}

#[test]
fn namespace_as_resource_moves_the_namespace_to_the_resource() {
    let options = EncodeOptions {
        namespace_as_resource: true,
    };
    let request = to_request(&[k8s_event_record()], options);
    let rl = &request.resource_logs[0];
    let log = &rl.scope_logs[0].log_records[0];
    assert!(!log.attributes.iter().any(|kv| kv.key == NAMESPACE));
    let ns = rl
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|kv| kv.key == NAMESPACE)
        .unwrap();
    assert_eq!(
        ns.value.clone().unwrap().value,
        Some(Value::StringValue("default".into()))
    );
}

fn scalar() -> impl Strategy<Value = AnyValue> {
    prop_oneof![
        ".{0,12}".prop_map(AnyValue::Str),
        any::<i64>().prop_map(AnyValue::Int),
        // NaN is never equal to itself; events carry no doubles anyway.
        (-1e12f64..1e12).prop_map(AnyValue::Double),
        any::<bool>().prop_map(AnyValue::Bool),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(AnyValue::Bytes),
    ]
}

fn value() -> impl Strategy<Value = AnyValue> {
    scalar().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(AnyValue::Array),
            proptest::collection::vec(("[a-z.]{1,6}", inner), 0..4)
                .prop_map(|kv| AnyValue::Map(kv.into_iter().collect())),
        ]
    })
}

fn attrs() -> impl Strategy<Value = Attributes> {
    proptest::collection::vec(("[a-z.]{1,8}", value()), 0..5)
        .prop_map(|kv| kv.into_iter().collect())
}

fn any_record() -> impl Strategy<Value = LogRecord> {
    (
        proptest::option::of(1..i64::MAX),
        proptest::option::of(1..i64::MAX),
        0u8..=24,
        ".{0,8}",
        value(),
        attrs(),
        // Few distinct resources, so records share them.
        prop_oneof![Just(0u8), Just(1), Just(2)],
    )
        .prop_map(
            |(ts, observed, severity, text, body, attributes, res)| LogRecord {
                timestamp_unix_nano: ts,
                observed_unix_nano: observed,
                severity_number: SeverityNumber(severity),
                severity_text: text,
                body,
                attributes,
                resource: [("k8s.object.name", format!("pod-{res}"))]
                    .into_iter()
                    .collect(),
            },
        )
}

proptest! {
    #[test]
    fn encode_then_decode_keeps_every_record(records in proptest::collection::vec(any_record(), 0..20)) {
        let decoded = decode_protobuf(&encode_protobuf(&records, EncodeOptions::default())).unwrap();
        // Grouping orders records by resource (first seen first), keeping order within one.
        let mut resources: Vec<&Attributes> = Vec::new();
        for r in &records {
            if !resources.contains(&&r.resource) {
                resources.push(&r.resource);
            }
        }
        let expected: Vec<LogRecord> = resources
            .iter()
            .flat_map(|res| records.iter().filter(move |r| &&r.resource == res).cloned())
            .collect();
        prop_assert_eq!(decoded, expected);
    }
}
