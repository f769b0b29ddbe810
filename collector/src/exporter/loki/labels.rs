//! The Loki label set of a record as the old `loki` exporter built it, and the attributes that
//! promoting labels removes from the record's line.
//!
//! Order of the merge (a later write of the same raw name wins): `exporter="OTLP"`, `job`,
//! `instance`; the names in `loki.resource.labels` on the resource, then on the log record (both
//! looked up in the resource); the names in `loki.attribute.labels` on the log record (looked up
//! in the log attributes), to which the exporter appends `level` when the severity number is set.
//! Names are normalized only after merging. Our additions come last: `keep_namespace_label` and
//! the `loki.structured_metadata` hint.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::LazyLock;

use super::{EncodeOptions, golabel, hints};
use crate::gofmt;
use crate::record::{AnyValue, Attributes, LogRecord, SeverityNumber};

/// The log attribute the old exporter adds (from the severity) and promotes to the `level` label.
const LEVEL: &str = "level";
/// The attribute `keep_namespace_label` promotes.
const NAMESPACE: &str = "k8s.namespace.name";
/// The label Loki adds to every stream that lacks it, counted toward its 15-label limit.
const LOKI_SERVICE_NAME: &str = "service_name";

/// A stream's labels: normalized names, sorted, unique.
///
/// Names and values borrow from the record they were taken from where they can (the label set
/// of every record is computed, a stream's owned copy only once per stream, with
/// [`LabelSet::into_owned`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSet<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl LabelSet<'static> {
    /// A label set from `(name, value)` pairs taken as they are (no normalization); for a name
    /// given twice the later value wins.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let map: BTreeMap<String, String> = pairs.into_iter().collect();
        Self(
            map.into_iter()
                .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
                .collect(),
        )
    }
}

impl<'a> LabelSet<'a> {
    /// The same labels, owning their text.
    pub fn into_owned(self) -> LabelSet<'static> {
        LabelSet(
            self.0
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
        )
    }

    /// The labels, sorted by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The number of labels we send. The 15-label limit is the sender's to enforce, with
    /// [`LabelSet::loki_label_count`].
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, v)| &**v)
    }

    /// The number of labels Loki counts against its limit (15 by default) for this stream: ours
    /// plus the `service_name` label Loki adds when we send none.
    pub fn loki_label_count(&self) -> usize {
        self.len() + usize::from(self.get(LOKI_SERVICE_NAME).is_none())
    }

    /// The label set of the raw (unnormalized) names and values, sorted by raw name and unique:
    /// names normalized, and where distinct raw names normalize to one name, the value of the
    /// raw name that sorts last wins (see [`RecordLabels::of`]).
    fn normalized(raw: Vec<(Cow<'a, str>, Cow<'a, str>)>) -> Self {
        let mut pairs: Vec<(Cow<'a, str>, Cow<'a, str>)> = raw
            .into_iter()
            .map(|(name, value)| (normalized_name(name), value))
            .collect();
        // Stable: of equal normalized names, the raw order (sorted) stays, so the last wins.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match unique.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => unique.push(pair),
            }
        }
        Self(unique)
    }
}

impl fmt::Display for LabelSet<'_> {
    /// The labels string of a push request: `{a="x", b="y"}`, sorted by name, values quoted like
    /// Go's `strconv.Quote` (Prometheus `LabelSet.String`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}={}", golabel::quote(value))?;
        }
        f.write_str("}")
    }
}

/// A label name made acceptable to Prometheus-style parsers, by the old exporter's rule
/// (`prometheus.NormalizeLabel`): every character that is not a Unicode letter or decimal digit
/// becomes `_`; a leading ASCII digit gets the prefix `key_`; a leading single `_` (not `__`) gets
/// the prefix `key`. An empty name stays empty.
///
/// Unicode letters are kept, as in Go, although Loki only accepts `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn normalize_label_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if golabel::is_letter_or_digit(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Go tests `unicode.IsDigit(rune(label[0]))`, the first *byte*: only ASCII digits qualify.
    if name.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        name.insert_str(0, "key_");
    } else if name.starts_with('_') && !name.starts_with("__") {
        name.insert_str(0, "key");
    }
    name
}

/// [`normalize_label_name`], without a copy for the usual name that the rule leaves as it is
/// (ASCII letters, digits and `_`, no leading digit, no leading single `_`).
fn normalized_name(raw: Cow<'_, str>) -> Cow<'_, str> {
    let b = raw.as_bytes();
    let unchanged = b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !b.first().is_some_and(u8::is_ascii_digit)
        && !(b.first() == Some(&b'_') && b.get(1) != Some(&b'_'));
    if unchanged {
        raw
    } else {
        Cow::Owned(normalize_label_name(&raw))
    }
}

/// What the label rules make of one record: its labels, its structured metadata, and which
/// attributes its line must leave out. Borrows from the record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLabels<'a> {
    /// The stream's labels, normalized.
    pub labels: LabelSet<'a>,
    /// Our addition: `(name, value)` pairs for the entry's structured metadata, in hint order.
    pub structured_metadata: Vec<(String, String)>,
    /// Attribute keys removed from both the log and the resource attributes: the hints, every
    /// promoted label's raw name, every structured-metadata attribute.
    removed: Vec<Cow<'a, str>>,
    /// The `level` attribute the old exporter adds to the log attributes when the record has a
    /// severity and no `level` attribute. It reaches the line only when it was not promoted.
    added_level: Option<&'static AnyValue>,
}

/// Raw label names and values, a later write of a name replacing its value (the old exporter's
/// map); few enough for a vector.
type RawLabels<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

impl<'a> RecordLabels<'a> {
    /// Applies the label rules to `record`.
    pub fn of(record: &'a LogRecord, opts: &EncodeOptions) -> Self {
        let enabled = &opts.default_labels_enabled;
        let resource = &record.resource;
        let attributes = &record.attributes;
        let mut raw: RawLabels<'a> = Vec::with_capacity(8);

        if enabled.exporter {
            set(&mut raw, Cow::Borrowed("exporter"), Cow::Borrowed("OTLP"));
        }
        if enabled.job
            && let Some(name) = resource.get("service.name")
        {
            let job = match resource.get("service.namespace") {
                Some(ns) => Cow::Owned(format!(
                    "{}/{}",
                    gofmt::as_string(ns),
                    gofmt::as_string(name)
                )),
                None => text(name),
            };
            set(&mut raw, Cow::Borrowed("job"), job);
        }
        if enabled.instance
            && let Some(instance) = resource.get("service.instance.id")
        {
            set(&mut raw, Cow::Borrowed("instance"), text(instance));
        }

        let with_level = enabled.level && record.severity_number != SeverityNumber::UNSPECIFIED;
        let added_level = (with_level && !attributes.contains_key(LEVEL))
            .then(|| level_value(record.severity_number));
        let log_attributes = LogAttributes {
            attributes,
            added_level,
        };

        for hint_source in [resource, attributes] {
            if let Some(hint) = hint_source.get(hints::RESOURCE_LABELS) {
                promote(&mut raw, hint_names(hint), |n| lookup(resource, n));
            }
        }
        // The old exporter appends `level` to this hint, creating it if absent; a hint of any
        // other type than string or list is left alone (and `level` is then not promoted).
        let attribute_hint = attributes.get(hints::ATTRIBUTE_LABELS);
        let mut names = attribute_hint.map(hint_names).unwrap_or_default();
        if with_level
            && matches!(
                attribute_hint,
                None | Some(AnyValue::Str(_) | AnyValue::Array(_))
            )
        {
            names.push(Cow::Borrowed(LEVEL));
        }
        promote(&mut raw, names, |n| log_attributes.lookup(n));
        if opts.keep_namespace_label {
            promote(&mut raw, vec![Cow::Borrowed(NAMESPACE)], |n| {
                lookup(attributes, n).or_else(|| lookup(resource, n))
            });
        }
        raw.sort_by(|a, b| a.0.cmp(&b.0));

        let mut removed: Vec<Cow<'a, str>> = Vec::with_capacity(hints::ALL.len() + raw.len());
        removed.extend(hints::ALL.iter().map(|h| Cow::Borrowed(*h)));
        removed.extend(raw.iter().map(|(name, _)| name.clone()));

        let mut structured_metadata: Vec<(String, String)> = Vec::new();
        for hint_source in [resource, attributes] {
            let Some(hint) = hint_source.get(hints::STRUCTURED_METADATA) else {
                continue;
            };
            for name in hint_names(hint) {
                let Some(value) = lookup(attributes, &name).or_else(|| lookup(resource, &name))
                else {
                    continue;
                };
                let normalized = normalize_label_name(&name);
                if !structured_metadata.iter().any(|(n, _)| *n == normalized) {
                    structured_metadata.push((normalized, gofmt::as_string(value)));
                }
                removed.push(name);
            }
        }

        // Distinct raw names can normalize to one name. Go ranges over a map there, so which
        // value wins is random; we let the raw name that sorts last win.
        let labels = LabelSet::normalized(raw);

        Self {
            labels,
            structured_metadata,
            removed,
            added_level,
        }
    }

    /// Whether the line leaves out the attribute `key` (of either the log record or the
    /// resource).
    pub fn removes(&self, key: &str) -> bool {
        self.removed.iter().any(|r| r == key)
    }

    /// The log attributes that stay in the line, in their order.
    pub fn line_attributes<'r>(&'r self, record: &'r LogRecord) -> Vec<(&'r str, &'r AnyValue)> {
        let mut kept: Vec<(&str, &AnyValue)> = record
            .attributes
            .iter()
            .filter(|(k, _)| !self.removes(k))
            .collect();
        if let Some(level) = self.added_level
            && !self.removes(LEVEL)
        {
            kept.push((LEVEL, level));
        }
        kept
    }

    /// The resource attributes that stay in the line, in their order.
    pub fn line_resource<'r>(&self, record: &'r LogRecord) -> Vec<(&'r str, &'r AnyValue)> {
        record
            .resource
            .iter()
            .filter(|(k, _)| !self.removes(k))
            .collect()
    }
}

/// The added `level` attribute's value: the severity number's name, `""` past 24 (Go's lookup
/// of an unknown `SeverityNumber(n)` string in its name table). Made once, as every record with
/// a severity gets one.
fn level_value(severity: SeverityNumber) -> &'static AnyValue {
    static LEVELS: LazyLock<Vec<AnyValue>> = LazyLock::new(|| {
        (0..=25)
            .map(|n| AnyValue::from(if n > 24 { "" } else { SeverityNumber(n).name() }))
            .collect()
    });
    static EMPTY: AnyValue = AnyValue::Str(String::new());
    LEVELS
        .get(usize::from(severity.0.min(25)))
        .unwrap_or(&EMPTY)
}

/// A value's text (pcommon's `AsString`), borrowed for a string.
fn text(value: &AnyValue) -> Cow<'_, str> {
    match value {
        AnyValue::Str(s) => Cow::Borrowed(s),
        other => Cow::Owned(gofmt::as_string(other)),
    }
}

/// The attribute names a hint value lists: a comma-separated string, a list (items in Go's `%v`
/// form), or any other value's string form as a single name; each trimmed.
fn hint_names(hint: &AnyValue) -> Vec<Cow<'_, str>> {
    let owned = |name: String| {
        let trimmed = name.trim();
        if trimmed.len() == name.len() {
            Cow::Owned(name)
        } else {
            Cow::Owned(trimmed.to_owned())
        }
    };
    match hint {
        AnyValue::Str(s) => s.split(',').map(|n| Cow::Borrowed(n.trim())).collect(),
        AnyValue::Array(items) => items.iter().map(|i| owned(golabel::fmt_v(i))).collect(),
        other => vec![owned(gofmt::as_string(other))],
    }
}

/// Sets the raw label `name` to `value`; a later write wins.
fn set<'a>(raw: &mut RawLabels<'a>, name: Cow<'a, str>, value: Cow<'a, str>) {
    match raw.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => raw.push((name, value)),
    }
}

/// Adds a label for each name whose attribute `find` finds; a later write wins.
fn promote<'a>(
    raw: &mut RawLabels<'a>,
    names: Vec<Cow<'a, str>>,
    find: impl Fn(&str) -> Option<&'a AnyValue>,
) {
    for name in names {
        if let Some(value) = find(&name) {
            set(raw, name, text(value));
        }
    }
}

/// The log attributes as the old exporter's look-ups saw them: with its added `level`.
struct LogAttributes<'a> {
    attributes: &'a Attributes,
    added_level: Option<&'static AnyValue>,
}

impl<'a> LogAttributes<'a> {
    fn lookup(&self, name: &str) -> Option<&'a AnyValue> {
        // The added `level` is a string, so it can only match the exact name, never a path.
        match self.added_level {
            Some(level) if name == LEVEL => Some(level),
            _ => lookup(self.attributes, name),
        }
    }
}

/// The attribute `name` in `attributes`: the exact key, else a dotted path into map values
/// (`a.b.c` tries `a.b` then `a` as the map holding the rest, each itself looked up this way).
pub(crate) fn lookup<'a>(attributes: &'a Attributes, name: &str) -> Option<&'a AnyValue> {
    if let Some(v) = attributes.get(name) {
        return Some(v);
    }
    let mut paths = PathLookup {
        segments: name.split('.').collect(),
        memo: HashMap::new(),
    };
    let end = paths.segments.len();
    paths.find(attributes, 0, end)
}

/// Go's recursive `getAttribute` over the segments of one dotted name. It explores every split
/// of every prefix, exponential in the number of dots; the memo (per map and segment range)
/// makes it polynomial without changing which value is found.
struct PathLookup<'n, 'a> {
    segments: Vec<&'n str>,
    memo: HashMap<(*const Attributes, usize, usize), Option<&'a AnyValue>>,
}

impl<'a> PathLookup<'_, 'a> {
    /// The value of `segments[from..to]` joined with dots, in `map`.
    fn find(&mut self, map: &'a Attributes, from: usize, to: usize) -> Option<&'a AnyValue> {
        let key = (std::ptr::from_ref(map), from, to);
        if let Some(found) = self.memo.get(&key) {
            return *found;
        }
        let name = self.segments.get(from..to).map(|s| s.join("."));
        let mut found = name.as_deref().and_then(|n| map.get(n));
        if found.is_none() {
            // Longest left part first; the first left part that is a map decides.
            for split in (from + 1..to).rev() {
                if let Some(AnyValue::Map(inner)) = self.find(map, from, split) {
                    found = self.find(inner, split, to);
                    break;
                }
            }
        }
        self.memo.insert(key, found);
        found
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::exporter::loki::DefaultLabelsEnabled;
    use crate::exporter::loki::test_support::k8s_event_record;
    use proptest::prelude::*;

    fn attrs<const N: usize>(pairs: [(&str, AnyValue); N]) -> Attributes {
        pairs.into_iter().collect()
    }

    fn labels_of(record: &LogRecord) -> String {
        RecordLabels::of(record, &EncodeOptions::default())
            .labels
            .to_string()
    }

    #[test]
    fn reference_setup_record_gets_the_reference_labels() {
        let record = k8s_event_record();
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(
            result.labels.to_string(),
            r#"{cluster="tenant-a", exporter="OTLP", level="INFO", node="kind-control-plane", receiver="k8s_event"}"#
        );
        assert_eq!(result.labels.len(), 5);
        assert_eq!(result.labels.loki_label_count(), 6);
        let line_attrs: Vec<&str> = result
            .line_attributes(&record)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            line_attrs,
            [
                "k8s.event.reason",
                "k8s.event.action",
                "k8s.event.start_time",
                "k8s.event.name",
                "k8s.event.uid",
                "k8s.namespace.name",
                "k8s.event.count"
            ]
        );
        let line_resource: Vec<&str> = result
            .line_resource(&record)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            line_resource,
            [
                "k8s.node.name",
                "k8s.object.kind",
                "k8s.object.name",
                "k8s.object.uid",
                "k8s.object.fieldpath",
                "k8s.object.api_version",
                "k8s.object.resource_version"
            ]
        );
    }

    #[test]
    fn job_and_instance_come_from_service_attributes() {
        let mut record = LogRecord {
            resource: attrs([
                ("service.name", "api".into()),
                ("service.instance.id", AnyValue::Int(7)),
            ]),
            ..LogRecord::default()
        };
        assert_eq!(
            labels_of(&record),
            r#"{exporter="OTLP", instance="7", job="api"}"#
        );
        record.resource.upsert("service.namespace", "shop");
        assert_eq!(
            labels_of(&record),
            r#"{exporter="OTLP", instance="7", job="shop/api"}"#
        );
        // Without service.name there is no job, even with a namespace.
        record.resource.remove("service.name");
        assert_eq!(labels_of(&record), r#"{exporter="OTLP", instance="7"}"#);
        // The service attributes are not removed from the line: they are not raw label names.
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(result.line_resource(&record).len(), 2);
    }

    #[test]
    fn default_labels_can_be_switched_off() {
        let record = LogRecord {
            severity_number: SeverityNumber::WARN,
            resource: attrs([
                ("service.name", "api".into()),
                ("service.instance.id", "i".into()),
            ]),
            ..LogRecord::default()
        };
        let mut opts = EncodeOptions::default();
        assert_eq!(
            RecordLabels::of(&record, &opts).labels.to_string(),
            r#"{exporter="OTLP", instance="i", job="api", level="WARN"}"#
        );
        opts.default_labels_enabled = DefaultLabelsEnabled {
            exporter: false,
            job: false,
            instance: false,
            level: false,
        };
        let result = RecordLabels::of(&record, &opts);
        assert_eq!(result.labels.to_string(), "{}");
        // No level attribute is added to the line either.
        assert!(result.line_attributes(&record).is_empty());
    }

    #[test]
    fn level_is_the_severity_name_or_the_level_attribute_and_absent_without_severity() {
        let mut record = LogRecord {
            severity_number: SeverityNumber(8),
            ..LogRecord::default()
        };
        assert_eq!(labels_of(&record), r#"{exporter="OTLP", level="DEBUG4"}"#);
        record.severity_number = SeverityNumber(24);
        assert_eq!(labels_of(&record), r#"{exporter="OTLP", level="FATAL4"}"#);
        record.severity_number = SeverityNumber(30);
        assert_eq!(labels_of(&record), r#"{exporter="OTLP", level=""}"#);

        record.severity_number = SeverityNumber::ERROR;
        record.attributes.upsert("level", "oops");
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(
            result.labels.to_string(),
            r#"{exporter="OTLP", level="oops"}"#
        );
        assert!(
            result.line_attributes(&record).is_empty(),
            "promoted level leaves the line"
        );

        record.severity_number = SeverityNumber::UNSPECIFIED;
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(result.labels.to_string(), r#"{exporter="OTLP"}"#);
        assert_eq!(
            result.line_attributes(&record).len(),
            1,
            "unpromoted level stays"
        );
    }

    #[test]
    fn a_level_hint_of_another_type_keeps_the_added_level_in_the_line() {
        let record = LogRecord {
            severity_number: SeverityNumber::INFO,
            attributes: attrs([("loki.attribute.labels", AnyValue::Int(3))]),
            ..LogRecord::default()
        };
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(result.labels.to_string(), r#"{exporter="OTLP"}"#);
        let line = result.line_attributes(&record);
        assert_eq!(line, [("level", &AnyValue::from("INFO"))]);
    }

    #[test]
    fn hints_promote_in_order_and_a_later_write_wins() {
        let record = LogRecord {
            attributes: attrs([
                (
                    "loki.resource.labels",
                    AnyValue::Array(vec!["shared".into(), "only_res".into()]),
                ),
                (
                    "loki.attribute.labels",
                    " shared , attr.name ,missing".into(),
                ),
                ("shared", "from-log".into()),
                ("attr.name", AnyValue::Bool(true)),
                ("other", "kept".into()),
            ]),
            resource: attrs([
                ("loki.resource.labels", "shared".into()),
                ("shared", "from-resource".into()),
                ("only_res", AnyValue::Int(42)),
            ]),
            ..LogRecord::default()
        };
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(
            result.labels.to_string(),
            r#"{attr_name="true", exporter="OTLP", only_res="42", shared="from-log"}"#
        );
        // Promoted names leave both attribute maps; the rest keep their order.
        assert_eq!(
            result.line_attributes(&record),
            [("other", &AnyValue::from("kept"))]
        );
        assert!(result.line_resource(&record).is_empty());
    }

    #[test]
    fn resource_hint_on_the_log_record_still_looks_in_the_resource() {
        let record = LogRecord {
            attributes: attrs([
                ("loki.resource.labels", "cluster".into()),
                ("cluster", "log".into()),
            ]),
            resource: attrs([("cluster", "res".into())]),
            ..LogRecord::default()
        };
        assert_eq!(labels_of(&record), r#"{cluster="res", exporter="OTLP"}"#);
    }

    #[test]
    fn hint_of_another_type_is_one_name() {
        let record = LogRecord {
            resource: attrs([
                ("loki.resource.labels", AnyValue::Int(5)),
                ("5", "five".into()),
            ]),
            ..LogRecord::default()
        };
        assert_eq!(labels_of(&record), r#"{exporter="OTLP", key_5="five"}"#);
    }

    #[test]
    fn dotted_names_reach_into_maps() {
        let inner: Attributes = [("name", "web"), ("x.y", "dotted")].into_iter().collect();
        let deep: Attributes = [("c", AnyValue::Map(inner.clone()))].into_iter().collect();
        let resource = attrs([
            ("app", AnyValue::Map(inner)),
            ("a.b", AnyValue::Map(deep)),
            ("a", "not a map".into()),
            (
                "loki.resource.labels",
                "app.name,app.x.y,a.b.c.name,app.missing,a.b.c".into(),
            ),
        ]);
        let record = LogRecord {
            resource,
            ..LogRecord::default()
        };
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(
            result.labels.to_string(),
            r#"{a_b_c="{\"name\":\"web\",\"x.y\":\"dotted\"}", a_b_c_name="web", app_name="web", app_x_y="dotted", exporter="OTLP"}"#
        );
        // The maps the paths went into are not raw label names: they stay in the line.
        let kept: Vec<&str> = result
            .line_resource(&record)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kept, ["app", "a.b", "a"]);
    }

    #[test]
    fn many_dots_do_not_explode() {
        let name = vec!["x"; 60].join(".");
        let record = LogRecord {
            resource: attrs([("loki.resource.labels", name.as_str().into())]),
            ..LogRecord::default()
        };
        assert_eq!(labels_of(&record), r#"{exporter="OTLP"}"#);
    }

    #[test]
    fn names_are_normalized_after_merging() {
        assert_eq!(
            normalize_label_name("k8s.namespace.name"),
            "k8s_namespace_name"
        );
        assert_eq!(normalize_label_name("0day"), "key_0day");
        assert_eq!(normalize_label_name("_x"), "key_x");
        assert_eq!(normalize_label_name("__x"), "__x");
        assert_eq!(normalize_label_name(".x"), "key_x");
        assert_eq!(normalize_label_name("héllo-wörld"), "héllo_wörld");
        assert_eq!(normalize_label_name("٣x"), "٣x"); // a non-ASCII digit gets no prefix
        assert_eq!(normalize_label_name(""), "");
    }

    #[test]
    fn colliding_normalized_names_are_deterministic() {
        let record = LogRecord {
            resource: attrs([
                ("loki.resource.labels", "a.b,a_b".into()),
                ("a.b", "dot".into()),
                ("a_b", "underscore".into()),
            ]),
            ..LogRecord::default()
        };
        // "a_b" sorts after "a.b", so its value wins; both attributes leave the line.
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(
            result.labels.to_string(),
            r#"{a_b="underscore", exporter="OTLP"}"#
        );
        assert!(result.line_resource(&record).is_empty());
    }

    #[test]
    fn labels_string_quotes_like_go() {
        let set = LabelSet::from_pairs([
            ("b".to_owned(), "say \"hi\"\n\\".to_owned()),
            ("a".to_owned(), "tab\there\u{1}é".to_owned()),
        ]);
        assert_eq!(
            set.to_string(),
            r#"{a="tab\there\x01é", b="say \"hi\"\n\\"}"#
        );
        assert_eq!(set.get("a"), Some("tab\there\u{1}é"));
        assert_eq!(set.get("c"), None);
        let with_service = LabelSet::from_pairs([("service_name".to_owned(), "x".to_owned())]);
        assert_eq!(with_service.loki_label_count(), 1);
    }

    #[test]
    fn label_count_is_reported_not_limited() {
        let names: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        let mut resource: Attributes = names.iter().map(|n| (n.as_str(), "v")).collect();
        resource.upsert("loki.resource.labels", names.join(","));
        let record = LogRecord {
            resource,
            ..LogRecord::default()
        };
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(result.labels.len(), 21);
        assert_eq!(result.labels.loki_label_count(), 22);
    }

    #[test]
    fn hints_leave_the_line_but_the_tenant_attribute_stays() {
        let record = LogRecord {
            attributes: attrs([
                ("loki.format", "json".into()),
                ("loki.tenant", "tenant".into()),
                ("tenant", "team-a".into()),
            ]),
            resource: attrs([("loki.attribute.labels", "x".into())]),
            ..LogRecord::default()
        };
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(result.labels.to_string(), r#"{exporter="OTLP"}"#);
        assert_eq!(
            result.line_attributes(&record),
            [("tenant", &AnyValue::from("team-a"))]
        );
        assert!(result.line_resource(&record).is_empty());
    }

    #[test]
    fn keep_namespace_label_promotes_the_namespace() {
        let record = k8s_event_record();
        let opts = EncodeOptions {
            keep_namespace_label: true,
            ..EncodeOptions::default()
        };
        let result = RecordLabels::of(&record, &opts);
        assert_eq!(result.labels.get("k8s_namespace_name"), Some("default"));
        assert!(
            !result
                .line_attributes(&record)
                .iter()
                .any(|(k, _)| *k == "k8s.namespace.name")
        );
    }

    #[test]
    fn structured_metadata_hint_moves_attributes_out_of_the_line() {
        let mut record = k8s_event_record();
        record
            .resource
            .upsert("loki.structured_metadata", "k8s.object.uid");
        record.attributes.upsert(
            "loki.structured_metadata",
            AnyValue::Array(vec![
                "k8s.event.uid".into(),
                "k8s.object.uid".into(),
                "nope".into(),
            ]),
        );
        let result = RecordLabels::of(&record, &EncodeOptions::default());
        assert_eq!(
            result.structured_metadata,
            [
                (
                    "k8s_object_uid".to_owned(),
                    "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5".to_owned()
                ),
                (
                    "k8s_event_uid".to_owned(),
                    "5b8f3c1e-0d2a-4e6b-9f7c-1a2b3c4d5e6f".to_owned()
                ),
            ]
        );
        assert!(result.removes("k8s.object.uid") && result.removes("k8s.event.uid"));
        assert!(result.removes("loki.structured_metadata"));
        assert_eq!(result.labels.len(), 5, "labels are unchanged");
    }

    proptest! {
        /// For ASCII input, normalized names are valid Loki label names (the empty name stays
        /// empty). For any input, they contain only Unicode letters, decimal digits and `_`, and
        /// never start with an ASCII digit.
        #[test]
        fn normalized_names_are_valid(raw in "[\\x00-\\x7f]{1,24}", any in "\\PC{0,24}") {
            let re = regex::Regex::new("^[a-zA-Z_][a-zA-Z0-9_]*$").unwrap();
            let name = normalize_label_name(&raw);
            prop_assert!(re.is_match(&name), "{raw:?} -> {name:?}");

            let name = normalize_label_name(&any);
            prop_assert!(name.chars().all(|c| c == '_' || golabel::is_letter_or_digit(c)));
            prop_assert!(!name.starts_with(|c: char| c.is_ascii_digit()));
        }

        /// The copy-free path normalizes exactly as the rule does.
        #[test]
        fn the_fast_path_normalizes_as_the_rule(raw in "[_a-z0-9.]{0,6}", any in "\\PC{0,8}") {
            for name in [raw, any] {
                prop_assert_eq!(normalized_name(Cow::Borrowed(&name)), normalize_label_name(&name));
            }
        }
    }
}
