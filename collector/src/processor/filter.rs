//! Record matching for the `filter` processor and the attributes processor's include/exclude,
//! with the semantics of OpenTelemetry's `filterlog` (plus our event shorthands).

use std::borrow::Cow;

use super::{DropReason, Outcome};
use crate::config::processors::{
    AttributeMatch, LogFilters, MatchProperties, TextMatch, ValueMatch,
};
use crate::gofmt;
use crate::record::{AnyValue, Attributes, LogRecord, SeverityNumber};

/// The filter processor's decision: keep the record, or drop it and say why.
pub fn decide(filters: &LogFilters, record: &LogRecord) -> Outcome {
    select(filters.include.as_ref(), filters.exclude.as_ref(), record)
}

/// Whether a record passes `include` (when given) and escapes `exclude` (when given).
pub fn select(
    include: Option<&MatchProperties>,
    exclude: Option<&MatchProperties>,
    record: &LogRecord,
) -> Outcome {
    if let Some(include) = include
        && !matches(include, record)
    {
        return Outcome::Drop(DropReason::NotIncluded);
    }
    if let Some(exclude) = exclude
        && matches(exclude, record)
    {
        return Outcome::Drop(DropReason::Excluded);
    }
    Outcome::Keep
}

/// Whether every criterion given in `props` holds for `record`.
pub fn matches(props: &MatchProperties, record: &LogRecord) -> bool {
    let body = || match &record.body {
        AnyValue::Str(s) => Some(Cow::Borrowed(s.as_str())),
        other => Some(Cow::Owned(gofmt::as_string(other))),
    };
    let severity_text = || Some(Cow::Borrowed(record.severity_text.as_str()));
    any_text(&props.bodies, body)
        && any_text(&props.severity_texts, severity_text)
        && props.severity_number.is_none_or(|s| {
            if record.severity_number == SeverityNumber::UNSPECIFIED {
                s.match_undefined
            } else {
                record.severity_number >= s.min
            }
        })
        && all_attributes(&props.resource_attributes, &record.resource)
        && all_attributes(&props.record_attributes, &record.attributes)
        && any_text(&props.event_types, severity_text)
        && any_text(&props.reasons, || {
            attribute(&record.attributes, "k8s.event.reason")
        })
        && any_text(&props.namespaces, || {
            attribute(&record.attributes, "k8s.namespace.name")
        })
        && any_text(&props.object_kinds, || {
            attribute(&record.resource, "k8s.object.kind")
        })
}

fn attribute<'a>(attrs: &'a Attributes, key: &str) -> Option<Cow<'a, str>> {
    attrs.get(key).and_then(text_of)
}

/// An empty list is a criterion not given; otherwise any item may match a present text.
fn any_text<'a>(list: &[TextMatch], text: impl FnOnce() -> Option<Cow<'a, str>>) -> bool {
    if list.is_empty() {
        return true;
    }
    let Some(text) = text() else {
        return false;
    };
    list.iter().any(|m| match m {
        TextMatch::Exact(want) => *want == text,
        TextMatch::Regex(pattern) => pattern.is_match(&text),
    })
}

/// Every listed attribute must be present and match (OpenTelemetry's `AttributesMatcher`).
fn all_attributes(list: &[AttributeMatch], attrs: &Attributes) -> bool {
    list.iter().all(|m| {
        let Some(value) = attrs.get(&m.key) else {
            return false;
        };
        match &m.value {
            None => true,
            Some(ValueMatch::Exact(want)) => want == value,
            Some(ValueMatch::Regex(pattern)) => {
                text_of(value).is_some_and(|t| pattern.is_match(&t))
            }
        }
    })
}

/// The text a regex sees for an attribute value, as OpenTelemetry's `attributeStringValue`:
/// doubles in plain decimal (Go's `'f', -1`), no text at all for bytes, lists and maps.
fn text_of(value: &AnyValue) -> Option<Cow<'_, str>> {
    match value {
        AnyValue::Str(s) => Some(Cow::Borrowed(s)),
        AnyValue::Bool(b) => Some(Cow::Owned(b.to_string())),
        AnyValue::Int(i) => Some(Cow::Owned(i.to_string())),
        AnyValue::Double(d) if d.is_infinite() => {
            Some(Cow::Borrowed(if *d > 0.0 { "+Inf" } else { "-Inf" }))
        }
        AnyValue::Double(d) => Some(Cow::Owned(d.to_string())),
        AnyValue::Bytes(_) | AnyValue::Array(_) | AnyValue::Map(_) => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::processors::FilterProcessorConfig;

    fn filters(logs: &str) -> LogFilters {
        let src = format!("logs:\n{logs}");
        let node = crate::config::yaml::parse(&src).unwrap().unwrap();
        let config: FilterProcessorConfig = crate::config::de::from_node(&node).unwrap();
        config.logs
    }

    fn event(kind: &str, reason: &str, namespace: &str, object_kind: &str, msg: &str) -> LogRecord {
        let (severity_number, severity_text) = match kind {
            "Normal" => (SeverityNumber::INFO, "Normal"),
            "Warning" => (SeverityNumber::WARN, "Warning"),
            _ => (SeverityNumber::UNSPECIFIED, ""),
        };
        LogRecord {
            severity_number,
            severity_text: severity_text.into(),
            body: msg.into(),
            attributes: [
                ("k8s.event.reason", AnyValue::from(reason)),
                ("k8s.namespace.name", namespace.into()),
                ("k8s.event.count", 3.into()),
            ]
            .into_iter()
            .collect(),
            resource: [("k8s.object.kind", object_kind)].into_iter().collect(),
            ..LogRecord::default()
        }
    }

    fn normal_pod() -> LogRecord {
        event("Normal", "Pulled", "default", "Pod", "pulled image")
    }

    fn warning_node() -> LogRecord {
        event(
            "Warning",
            "NodeNotReady",
            "kube-system",
            "Node",
            "node is not ready",
        )
    }

    fn outcomes(logs: &str) -> [Outcome; 2] {
        let f = filters(logs);
        [decide(&f, &normal_pod()), decide(&f, &warning_node())]
    }

    const KEEP: Outcome = Outcome::Keep;
    const NOT_INCLUDED: Outcome = Outcome::Drop(DropReason::NotIncluded);
    const EXCLUDED: Outcome = Outcome::Drop(DropReason::Excluded);

    #[test]
    fn no_filters_keep_everything() {
        assert_eq!(outcomes("  {}\n"), [KEEP, KEEP]);
    }

    #[test]
    fn include_keeps_only_matches() {
        let got = outcomes("  include: {match_type: strict, event_types: [Warning]}\n");
        assert_eq!(got, [NOT_INCLUDED, KEEP]);
    }

    #[test]
    fn exclude_drops_matches() {
        let got = outcomes("  exclude: {match_type: regexp, namespaces: ['^kube-']}\n");
        assert_eq!(got, [KEEP, EXCLUDED]);
    }

    #[test]
    fn include_is_checked_before_exclude() {
        let logs = "  include: {match_type: strict, object_kinds: [Pod, Node]}
  exclude: {match_type: strict, reasons: [Pulled]}
";
        assert_eq!(outcomes(logs), [EXCLUDED, KEEP]);
        let mut job = normal_pod();
        job.resource.upsert("k8s.object.kind", "Job");
        assert_eq!(decide(&filters(logs), &job), NOT_INCLUDED);
    }

    #[test]
    fn criteria_are_anded_and_list_items_ored() {
        // Both criteria must hold: a Warning alone is not enough.
        let logs =
            "  include: {match_type: strict, event_types: [Warning], reasons: [Pulled, BackOff]}\n";
        assert_eq!(outcomes(logs), [NOT_INCLUDED, NOT_INCLUDED]);
        let logs = "  include: {match_type: strict, event_types: [Normal, Warning], reasons: [Pulled, NodeNotReady]}\n";
        assert_eq!(outcomes(logs), [KEEP, KEEP]);
    }

    #[test]
    fn listed_attributes_must_all_match() {
        let logs = "  include:
    match_type: strict
    record_attributes: [{key: k8s.event.reason, value: Pulled}, {key: k8s.event.count, value: 3}]
";
        assert_eq!(outcomes(logs), [KEEP, NOT_INCLUDED]);
        // Strict comparison is typed: the string '3' is not the int 3.
        let logs = "  include:
    match_type: strict
    record_attributes: [{key: k8s.event.count, value: '3'}]
";
        assert_eq!(outcomes(logs), [NOT_INCLUDED, NOT_INCLUDED]);
        // Regexes see an int's decimal text; a key alone only needs to be present.
        let logs = "  exclude:
    match_type: regexp
    record_attributes: [{key: k8s.event.count, value: '^3$'}]
    resource_attributes: [{key: k8s.object.kind}]
";
        assert_eq!(outcomes(logs), [EXCLUDED, EXCLUDED]);
        let logs = "  exclude: {resource_attributes: [{key: k8s.object.uid}]}\n";
        assert_eq!(outcomes(logs), [KEEP, KEEP]);
    }

    #[test]
    fn severity_number_min_and_undefined() {
        let logs = "  include: {severity_number: {min: WARN}}\n";
        assert_eq!(outcomes(logs), [NOT_INCLUDED, KEEP]);
        let unknown = event("Odd", "X", "default", "Pod", "");
        assert_eq!(decide(&filters(logs), &unknown), NOT_INCLUDED);
        let logs = "  include: {severity_number: {min: WARN, match_undefined: true}}\n";
        assert_eq!(decide(&filters(logs), &unknown), KEEP);
    }

    #[test]
    fn severity_texts_and_bodies() {
        let logs = "  exclude: {match_type: regexp, bodies: ['not ready$']}\n";
        assert_eq!(outcomes(logs), [KEEP, EXCLUDED]);
        let logs =
            "  include: {match_type: strict, severity_texts: [Normal], bodies: [pulled image]}\n";
        assert_eq!(outcomes(logs), [KEEP, NOT_INCLUDED]);
        // Strict means whole and exact.
        let logs = "  include: {match_type: strict, bodies: [pulled]}\n";
        assert_eq!(outcomes(logs), [NOT_INCLUDED, NOT_INCLUDED]);
    }

    #[test]
    fn shorthands_need_their_attribute() {
        let mut bare = normal_pod();
        bare.attributes = Attributes::new();
        bare.resource = Attributes::new();
        for logs in [
            "  include: {match_type: regexp, reasons: ['.*']}\n",
            "  include: {match_type: regexp, namespaces: ['.*']}\n",
            "  include: {match_type: regexp, object_kinds: ['.*']}\n",
        ] {
            assert_eq!(decide(&filters(logs), &bare), NOT_INCLUDED, "{logs}");
        }
    }

    #[test]
    fn value_texts_follow_opentelemetry() {
        assert_eq!(
            text_of(&AnyValue::Double(1e21)).unwrap(),
            "1000000000000000000000"
        );
        assert_eq!(text_of(&AnyValue::Double(0.5)).unwrap(), "0.5");
        assert_eq!(
            text_of(&AnyValue::Double(f64::NEG_INFINITY)).unwrap(),
            "-Inf"
        );
        assert_eq!(text_of(&true.into()).unwrap(), "true");
        assert_eq!(text_of(&AnyValue::Bytes(vec![])), None);
    }
}
