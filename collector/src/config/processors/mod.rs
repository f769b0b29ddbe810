//! Config of the `resource`, `attributes`, `filter` and `batch` processors.
//!
//! Everything is checked while it is read, in each type's `Deserialize` (as OpenTelemetry's
//! `attraction.go` and filter configs check it), so a mistake is an error with file position and
//! key path. What these types hold is valid and compiled: processors never re-check it.
//!
//! The four processor configs are here; what they are made of is in one module per job:
//! `actions` (the actions of `resource` and `attributes`), `matching` (the include/exclude of
//! `filter` and `attributes`) and `batch` (the bounds of `batch`). All is re-exported here.

use serde::Deserialize;

use super::duration::ConfigDuration;

mod actions;
mod batch;
mod matching;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test_support;

pub use actions::{Action, ActionConfig, ActionKind, ConvertedType, ValueSource};
pub use matching::{
    AttributeConfig, AttributeMatch, AttributesMatchConfig, LogFilters, LogMatchConfig,
    MatchProperties, MatchType, SeverityNumberConfig, SeverityNumberMatch, TextMatch, ValueMatch,
};

/// `processors.resource` (OpenTelemetry's `resourceprocessor`): actions on resource attributes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceProcessorConfig {
    /// Actions applied in order to the resource attributes; at least one. The resource
    /// processor calls this list `attributes` (the attributes processor calls it `actions`).
    #[serde(deserialize_with = "actions::non_empty_actions")]
    pub attributes: Vec<Action>,
}

/// `processors.attributes` (OpenTelemetry's `attributesprocessor`): actions on log attributes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesProcessorConfig {
    /// Actions applied in order to the log record attributes; at least one.
    #[serde(deserialize_with = "actions::non_empty_actions")]
    pub actions: Vec<Action>,
    /// Apply the actions only to records matching these properties (others pass unchanged).
    #[serde(default, deserialize_with = "matching::attributes_match")]
    pub include: Option<MatchProperties>,
    /// Do not apply the actions to records matching these properties (checked after `include`).
    #[serde(default, deserialize_with = "matching::attributes_match")]
    pub exclude: Option<MatchProperties>,
}

/// `processors.filter` (OpenTelemetry's `filterprocessor`, its `logs.include`/`logs.exclude`
/// form): drops log records.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterProcessorConfig {
    /// Which log records to keep: those matching `include` (when given) and not matching
    /// `exclude` (when given). Without either, every record is kept.
    #[serde(default)]
    pub logs: LogFilters,
}

/// `processors.batch` (OpenTelemetry's `batchprocessor`): groups records for the exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "batch::RawBatch")]
pub struct BatchProcessorConfig {
    /// Send a batch once it holds this many records (default 8192). 0 sends at once.
    pub send_batch_size: u32,
    /// Send a batch this long after its first record arrived, however small (default 200ms).
    /// 0 sends at once.
    pub timeout: ConfigDuration,
    /// Split batches larger than this (default 0: no limit). When set, it must be at least
    /// `send_batch_size`.
    pub send_batch_max_size: u32,
}

impl Default for BatchProcessorConfig {
    /// OpenTelemetry's defaults.
    fn default() -> Self {
        BatchProcessorConfig {
            send_batch_size: 8192,
            timeout: ConfigDuration::from_millis(200),
            send_batch_max_size: 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::test_support::err;
    use super::*;
    use crate::config::yaml::Mark;

    #[test]
    fn each_processor_uses_its_own_list_key() {
        let e = err::<ResourceProcessorConfig>("actions:\n  - {action: delete, key: a}\n");
        assert_eq!(e.message, "unknown key `actions`");
        let e = err::<AttributesProcessorConfig>("attributes:\n  - {action: delete, key: a}\n");
        assert_eq!(e.message, "unknown key `attributes`");
        let e = err::<ResourceProcessorConfig>("{}");
        assert_eq!(e.message, "missing required key `attributes`");
        let e = err::<ResourceProcessorConfig>("attributes: []\n");
        assert!(
            e.message.starts_with("at least one action is required"),
            "{}",
            e.message
        );
        assert_eq!(e.dotted_path(), "attributes");
    }

    #[test]
    fn unsupported_keys_say_so_where_they_are() {
        let e = err::<ResourceProcessorConfig>(
            "attributes:\n  - {action: insert, key: a, from_context: metadata.x}\n",
        );
        assert_eq!(e.dotted_path(), "attributes[0].from_context");
        assert!(
            e.message.starts_with("`from_context` is not supported"),
            "{}",
            e.message
        );
        let e = err::<ResourceProcessorConfig>(
            "attributes:\n  - {action: insert, key: a, value: b, default_value: c}\n",
        );
        assert!(
            e.message
                .starts_with("`default_value` is not supported yet")
        );
        let e = err::<FilterProcessorConfig>("logs:\n  log_record: ['IsMatch(body, \"x\")']\n");
        assert_eq!(e.dotted_path(), "logs.log_record");
        assert!(
            e.message
                .starts_with("OTTL conditions (`log_record`) are not supported yet")
        );
        let e = err::<BatchProcessorConfig>("metadata_keys: [tenant]\n");
        assert_eq!(e.dotted_path(), "metadata_keys");
    }

    #[test]
    fn bad_patterns_are_located() {
        let e =
            err::<ResourceProcessorConfig>("attributes:\n  - {action: delete, pattern: '(oops'}\n");
        assert_eq!(e.dotted_path(), "attributes[0].pattern");
        assert!(
            e.message.starts_with("invalid regular expression `(oops`"),
            "{}",
            e.message
        );
        let e = err::<FilterProcessorConfig>(
            "logs:\n  exclude:\n    match_type: regexp\n    reasons: [ok, '[z-a]']\n",
        );
        assert_eq!(e.dotted_path(), "logs.exclude");
        assert_eq!(e.mark, Some(Mark { line: 3, column: 5 }));
        assert!(
            e.message
                .starts_with("in `reasons[1]`: invalid regular expression `[z-a]`"),
            "{}",
            e.message
        );
    }
}
