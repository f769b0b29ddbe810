//! Which records an include/exclude selects, shared by the `filter` processor (`logs.include`,
//! `logs.exclude`) and the `attributes` processor (`include`, `exclude`): as written, and
//! compiled into [`MatchProperties`].

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::config::pattern::Pattern;
use crate::record::{AnyValue, SeverityNumber};

/// How the texts of match properties are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// Exact, case-sensitive equality.
    Strict,
    /// Unanchored regular expressions (write `^...$` to match the whole text).
    Regexp,
}

/// A text criterion, compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum TextMatch {
    /// The whole text equals this (`match_type: strict`).
    Exact(String),
    /// The regex matches somewhere in the text (`match_type: regexp`).
    Regex(Pattern),
}

/// An attribute criterion: the key must be present and, if a value is given, match it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeMatch {
    /// The key that must be present.
    pub key: String,
    /// What its value must match; `None` requires only the key.
    pub value: Option<ValueMatch>,
}

/// An attribute value criterion: typed equality (`strict`) or a regex on the value's text.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueMatch {
    /// Equal in type and value (`match_type: strict`).
    Exact(AnyValue),
    /// The regex matches the text of a string, int, double or bool (`match_type: regexp`).
    Regex(Pattern),
}

/// A severity number criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeverityNumberMatch {
    /// Records at or above this severity match.
    pub min: SeverityNumber,
    /// Whether records without a severity number match.
    pub match_undefined: bool,
}

/// Which records an `include` or `exclude` selects, compiled. All given criteria must hold.
/// Within a list of texts any item may match; every listed attribute must match (as in
/// OpenTelemetry). Empty lists are criteria not given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatchProperties {
    /// Resource attributes that must all match.
    pub resource_attributes: Vec<AttributeMatch>,
    /// Log record attributes that must all match.
    pub record_attributes: Vec<AttributeMatch>,
    /// Matched against the severity text.
    pub severity_texts: Vec<TextMatch>,
    /// Matched against the severity number.
    pub severity_number: Option<SeverityNumberMatch>,
    /// Matched against the body's text.
    pub bodies: Vec<TextMatch>,
    /// Matched against the severity text (the event `type`).
    pub event_types: Vec<TextMatch>,
    /// Matched against the log attribute `k8s.event.reason`.
    pub reasons: Vec<TextMatch>,
    /// Matched against the log attribute `k8s.namespace.name`.
    pub namespaces: Vec<TextMatch>,
    /// Matched against the resource attribute `k8s.object.kind`.
    pub object_kinds: Vec<TextMatch>,
}

impl MatchProperties {
    /// Whether no criterion is given.
    pub fn is_empty(&self) -> bool {
        *self == MatchProperties::default()
    }
}

/// `logs:` of the filter processor.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(from = "RawLogFilters")]
pub struct LogFilters {
    /// Keep only records matching these properties; others are dropped. An empty map is ignored.
    pub include: Option<MatchProperties>,
    /// Drop records matching these properties (checked after `include`). An empty map is
    /// ignored.
    pub exclude: Option<MatchProperties>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogFilters {
    #[serde(default, deserialize_with = "log_match")]
    include: Option<MatchProperties>,
    #[serde(default, deserialize_with = "log_match")]
    exclude: Option<MatchProperties>,
    #[serde(default, rename = "log_record", deserialize_with = "reject_ottl")]
    _log_record: Option<()>,
}

impl From<RawLogFilters> for LogFilters {
    fn from(raw: RawLogFilters) -> Self {
        // OpenTelemetry's filter processor ignores empty include/exclude maps.
        LogFilters {
            include: raw.include.filter(|p| !p.is_empty()),
            exclude: raw.exclude.filter(|p| !p.is_empty()),
        }
    }
}

fn reject_ottl<'de, D: Deserializer<'de>>(_: D) -> Result<Option<()>, D::Error> {
    Err(de::Error::custom(
        "OTTL conditions (`log_record`) are not supported yet: use `include` / `exclude` with \
         `match_type`, e.g. `exclude: {match_type: strict, event_types: [Normal]}`",
    ))
}

/// `logs.include` / `logs.exclude` of the filter processor as written: OpenTelemetry's
/// `LogMatchProperties` plus our event shorthands (marked "Ours").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogMatchConfig {
    /// `strict` (exact text) or `regexp` (unanchored regular expressions); required when any
    /// text or attribute value is given.
    pub match_type: Option<MatchType>,
    /// Resource attributes (`{key, value}`) that must all be present and, when `value` is
    /// given, match it.
    #[serde(default)]
    pub resource_attributes: Vec<AttributeConfig>,
    /// Log record attributes (`{key, value}`) that must all be present and, when `value` is
    /// given, match it.
    #[serde(default)]
    pub record_attributes: Vec<AttributeConfig>,
    /// Severity texts, any of which matches (for events: `Normal`, `Warning`).
    #[serde(default)]
    pub severity_texts: Vec<String>,
    /// Matches records at or above a severity.
    pub severity_number: Option<SeverityNumberConfig>,
    /// Bodies (the event message), any of which matches.
    #[serde(default)]
    pub bodies: Vec<String>,
    /// Ours: event types as Kubernetes writes them (`Normal`, `Warning`), any of which matches;
    /// compared with the severity text.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Ours: event reasons (`k8s.event.reason`, e.g. `BackOff`), any of which matches.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Ours: namespaces of the involved object (`k8s.namespace.name`), any of which matches.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Ours: kinds of the involved object (resource `k8s.object.kind`, e.g. `Pod`), any of
    /// which matches.
    #[serde(default)]
    pub object_kinds: Vec<String>,
}

/// `include` / `exclude` of the attributes processor as written: OpenTelemetry's
/// `filterconfig.MatchProperties`, the parts that apply to log records.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesMatchConfig {
    /// `strict` (exact text) or `regexp` (unanchored regular expressions); required when any
    /// text or attribute value is given.
    pub match_type: Option<MatchType>,
    /// Log record attributes (`{key, value}`) that must all be present and, when `value` is
    /// given, match it.
    #[serde(default)]
    pub attributes: Vec<AttributeConfig>,
    /// Resource attributes (`{key, value}`) that must all be present and, when `value` is
    /// given, match it.
    #[serde(default)]
    pub resources: Vec<AttributeConfig>,
    /// Bodies (the event message), any of which matches.
    #[serde(default)]
    pub log_bodies: Vec<String>,
    /// Severity texts, any of which matches (for events: `Normal`, `Warning`).
    #[serde(default)]
    pub log_severity_texts: Vec<String>,
    /// Matches records at or above a severity.
    pub log_severity_number: Option<SeverityNumberConfig>,
}

/// An attribute criterion as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeConfig {
    /// The attribute key; it must be present.
    pub key: String,
    /// The value to match: with `strict`, equal in type and value (`1` is an int, `'1'` a
    /// string); with `regexp`, a regular expression for the value's text. Omit it to require
    /// only the key.
    pub value: Option<AnyValue>,
}

/// `severity_number:` as written.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityNumberConfig {
    /// The lowest matching severity: a name (`INFO`, `warn`, `ERROR2`; case-insensitive) or a
    /// number 1-24. Omitted, every record with a severity matches.
    #[serde(default, deserialize_with = "severity_min")]
    pub min: SeverityNumber,
    /// Whether records without a severity number match too (default false).
    #[serde(default)]
    pub match_undefined: bool,
}

fn severity_min<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SeverityNumber, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_severity(&text).ok_or_else(|| {
        de::Error::custom(format!(
            "`{text}` is not a severity: write a name (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, \
             or with 2-4 appended, like WARN2) or a number from 1 to 24"
        ))
    })
}

/// A severity name (case-insensitive) or number, as OpenTelemetry's filter processor reads it.
fn parse_severity(text: &str) -> Option<SeverityNumber> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u8>() {
        return (1..=24).contains(&n).then_some(SeverityNumber(n));
    }
    let upper = text.to_uppercase();
    (1..=24u8).map(SeverityNumber).find(|s| s.name() == upper)
}

fn log_match<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<MatchProperties>, D::Error> {
    let Some(raw) = Option::<LogMatchConfig>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let c = Compiler(raw.match_type);
    let severity_number = raw.severity_number.map(SeverityNumberConfig::compile);
    let props = MatchProperties {
        resource_attributes: c.attributes("resource_attributes", raw.resource_attributes)?,
        record_attributes: c.attributes("record_attributes", raw.record_attributes)?,
        severity_texts: c.texts("severity_texts", raw.severity_texts)?,
        severity_number,
        bodies: c.texts("bodies", raw.bodies)?,
        event_types: c.texts("event_types", raw.event_types)?,
        reasons: c.texts("reasons", raw.reasons)?,
        namespaces: c.texts("namespaces", raw.namespaces)?,
        object_kinds: c.texts("object_kinds", raw.object_kinds)?,
    };
    Ok(Some(props))
}

pub(super) fn attributes_match<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<MatchProperties>, D::Error> {
    let Some(raw) = Option::<AttributesMatchConfig>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let c = Compiler(raw.match_type);
    let props = MatchProperties {
        resource_attributes: c.attributes("resources", raw.resources)?,
        record_attributes: c.attributes("attributes", raw.attributes)?,
        severity_texts: c.texts("log_severity_texts", raw.log_severity_texts)?,
        severity_number: raw.log_severity_number.map(SeverityNumberConfig::compile),
        bodies: c.texts("log_bodies", raw.log_bodies)?,
        ..MatchProperties::default()
    };
    // Unlike the filter processor, OpenTelemetry's attributes processor rejects an empty one.
    if props.is_empty() {
        return Err(de::Error::custom(
            "give at least one of `attributes`, `resources`, `log_bodies`, \
             `log_severity_texts` or `log_severity_number`",
        ));
    }
    Ok(Some(props))
}

impl SeverityNumberConfig {
    fn compile(self) -> SeverityNumberMatch {
        SeverityNumberMatch {
            min: self.min,
            match_undefined: self.match_undefined,
        }
    }
}

/// Compiles the texts of one match properties map by its `match_type`.
struct Compiler(Option<MatchType>);

impl Compiler {
    fn match_type<E: de::Error>(&self, list: &str) -> Result<MatchType, E> {
        self.0.ok_or_else(|| {
            E::custom(format!(
                "`match_type` is required with `{list}`: `strict` (exact text) or `regexp`"
            ))
        })
    }

    fn texts<E: de::Error>(&self, list: &str, items: Vec<String>) -> Result<Vec<TextMatch>, E> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let match_type = self.match_type(list)?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, text)| match match_type {
                MatchType::Strict => Ok(TextMatch::Exact(text)),
                MatchType::Regexp => Pattern::new(&text)
                    .map(TextMatch::Regex)
                    .map_err(|e| E::custom(format!("in `{list}[{i}]`: {e}"))),
            })
            .collect()
    }

    fn attributes<E: de::Error>(
        &self,
        list: &str,
        items: Vec<AttributeConfig>,
    ) -> Result<Vec<AttributeMatch>, E> {
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                if item.key.is_empty() {
                    return Err(E::custom(format!("`{list}[{i}]` has an empty `key`")));
                }
                let value = match item.value {
                    None => None,
                    Some(value) => Some(match self.match_type(list)? {
                        MatchType::Strict => ValueMatch::Exact(value),
                        MatchType::Regexp => {
                            let AnyValue::Str(text) = value else {
                                return Err(E::custom(format!(
                                    "with `match_type: regexp` the `value` of `{list}[{i}]` must \
                                     be a string (a regular expression), found `{value}`"
                                )));
                            };
                            let pattern = Pattern::new(&text)
                                .map_err(|e| E::custom(format!("in `{list}[{i}]`: {e}")))?;
                            ValueMatch::Regex(pattern)
                        }
                    }),
                };
                Ok(AttributeMatch {
                    key: item.key,
                    value,
                })
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::processors::test_support::{de, err};
    use crate::config::processors::{AttributesProcessorConfig, FilterProcessorConfig};

    #[test]
    fn reads_filter_match_properties() {
        let src = "logs:
  include:
    match_type: regexp
    resource_attributes: [{key: k8s.object.kind, value: '^Pod$'}]
    record_attributes: [{key: k8s.event.count}]
    severity_texts: [Warn]
    severity_number: {min: warn, match_undefined: true}
    bodies: [fail]
    event_types: [Warning]
    reasons: [BackOff]
    namespaces: ['^kube-']
    object_kinds: [Pod]
  exclude:
    match_type: strict
    record_attributes: [{key: k8s.event.count, value: 1}]
";
        let config: FilterProcessorConfig = de(src).unwrap();
        let include = config.logs.include.unwrap();
        assert_eq!(
            include.severity_number,
            Some(SeverityNumberMatch {
                min: SeverityNumber::WARN,
                match_undefined: true
            })
        );
        assert!(
            matches!(&include.resource_attributes[0].value, Some(ValueMatch::Regex(p)) if p.as_str() == "^Pod$")
        );
        assert_eq!(include.record_attributes[0].value, None);
        assert_eq!(include.namespaces.len(), 1);
        let exclude = config.logs.exclude.unwrap();
        assert_eq!(
            exclude.record_attributes[0].value,
            Some(ValueMatch::Exact(AnyValue::Int(1)))
        );
    }

    #[test]
    fn filter_match_errors() {
        let e = err::<FilterProcessorConfig>("logs:\n  include:\n    bodies: [x]\n");
        assert_eq!(
            e.message,
            "`match_type` is required with `bodies`: `strict` (exact text) or `regexp`"
        );
        let e = err::<FilterProcessorConfig>("logs:\n  include:\n    match_type: exact\n");
        assert_eq!(e.dotted_path(), "logs.include.match_type");
        let e = err::<FilterProcessorConfig>(
            "logs:\n  include:\n    match_type: regexp\n    record_attributes: [{key: n, value: 1}]\n",
        );
        assert!(e.message.contains("must be a string"), "{}", e.message);
        let e =
            err::<FilterProcessorConfig>("logs:\n  include:\n    record_attributes: [{key: ''}]\n");
        assert_eq!(e.message, "`record_attributes[0]` has an empty `key`");
        let e =
            err::<FilterProcessorConfig>("logs:\n  include:\n    severity_number: {min: loud}\n");
        assert_eq!(e.dotted_path(), "logs.include.severity_number.min");
        assert!(e.message.starts_with("`loud` is not a severity"));
        // Only key criteria and severity need no match_type; an empty include is ignored.
        let config: FilterProcessorConfig = de(
            "logs:\n  include:\n    record_attributes: [{key: a}]\n    severity_number: {min: 9}\n  exclude: {}\n",
        )
        .unwrap();
        assert_eq!(
            config.logs.include.unwrap().severity_number.unwrap().min,
            SeverityNumber::INFO
        );
        assert_eq!(config.logs.exclude, None);
        assert_eq!(
            de::<FilterProcessorConfig>("{}").unwrap(),
            FilterProcessorConfig::default()
        );
    }

    #[test]
    fn severity_names_and_numbers() {
        assert_eq!(parse_severity("info"), Some(SeverityNumber::INFO));
        assert_eq!(parse_severity("ERROR2"), Some(SeverityNumber(18)));
        assert_eq!(parse_severity("24"), Some(SeverityNumber(24)));
        assert_eq!(parse_severity("0"), None);
        assert_eq!(parse_severity("25"), None);
        assert_eq!(parse_severity("UNSPECIFIED"), None);
    }

    #[test]
    fn attributes_processor_include_exclude() {
        let src = "actions: [{action: delete, key: a}]
include:
  match_type: strict
  attributes: [{key: k8s.event.reason, value: BackOff}]
  resources: [{key: k8s.object.kind, value: Pod}]
  log_severity_texts: [Warning]
exclude:
  match_type: regexp
  log_bodies: ['^Readiness']
";
        let config: AttributesProcessorConfig = de(src).unwrap();
        let include = config.include.unwrap();
        assert_eq!(include.record_attributes[0].key, "k8s.event.reason");
        assert_eq!(include.resource_attributes[0].key, "k8s.object.kind");
        assert_eq!(include.severity_texts, [TextMatch::Exact("Warning".into())]);
        assert_eq!(config.exclude.unwrap().bodies.len(), 1);
        let e = err::<AttributesProcessorConfig>(
            "actions: [{action: delete, key: a}]\ninclude: {match_type: strict}\n",
        );
        assert_eq!(e.dotted_path(), "include");
        assert!(e.message.starts_with("give at least one of"));
        let e = err::<AttributesProcessorConfig>(
            "actions: [{action: delete, key: a}]\ninclude: {reasons: [x]}\n",
        );
        assert_eq!(e.message, "unknown key `reasons`");
    }
}
