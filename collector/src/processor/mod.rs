//! Processors: synchronous transforms between receiver and exporter, applied in pipeline order.
//!
//! `resource`, `attributes` and `filter` look at one record at a time ([`Processor`]); `batch`
//! groups records for the exporter ([`Batcher`]). [`build`] makes either from its config. Configs
//! arrive validated and compiled, so building cannot fail and processing never errors.

pub mod actions;
pub mod batch;
pub mod filter;

pub use batch::{Batcher, MAX_BATCH_BYTES, Weigh};

use crate::config::model::ProcessorConfig;
use crate::config::processors::{
    AttributesProcessorConfig, FilterProcessorConfig, ResourceProcessorConfig,
};
use crate::record::LogRecord;

/// What a processor decided about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Pass the record on.
    Keep,
    /// Drop the record; the reason is what drops are counted by.
    Drop(DropReason),
}

/// Why a filter dropped a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// `include` was given and the record did not match it.
    NotIncluded,
    /// The record matched `exclude`.
    Excluded,
}

impl DropReason {
    /// A short name for metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotIncluded => "not_included",
            DropReason::Excluded => "excluded",
        }
    }
}

/// A processor that acts on one record at a time.
#[derive(Debug, Clone)]
pub enum Processor {
    /// Applies actions to the resource attributes.
    Resource(ResourceProcessorConfig),
    /// Applies actions to the log attributes of the records its include/exclude selects.
    Attributes(AttributesProcessorConfig),
    /// Drops records.
    Filter(FilterProcessorConfig),
}

impl Processor {
    /// Processes one record in place.
    pub fn process(&self, record: &mut LogRecord) -> Outcome {
        match self {
            Processor::Resource(config) => {
                actions::apply(&config.attributes, &mut record.resource);
                Outcome::Keep
            }
            Processor::Attributes(config) => {
                // include/exclude only choose which records the actions touch; none is dropped.
                let selected =
                    filter::select(config.include.as_ref(), config.exclude.as_ref(), record);
                if selected == Outcome::Keep {
                    actions::apply(&config.actions, &mut record.attributes);
                }
                Outcome::Keep
            }
            Processor::Filter(config) => filter::decide(&config.logs, record),
        }
    }
}

/// A running pipeline stage.
#[derive(Debug)]
pub enum Stage {
    /// Acts on each record as it passes (boxed: its compiled match properties are large).
    Record(Box<Processor>),
    /// Groups records into batches for the exporter.
    Batch(Batcher<LogRecord>),
}

/// Builds the stage a processor config describes.
pub fn build(config: &ProcessorConfig) -> Stage {
    match config {
        ProcessorConfig::Resource(c) => Stage::Record(Box::new(Processor::Resource(c.clone()))),
        ProcessorConfig::Attributes(c) => Stage::Record(Box::new(Processor::Attributes(c.clone()))),
        ProcessorConfig::Filter(c) => Stage::Record(Box::new(Processor::Filter(c.clone()))),
        ProcessorConfig::Batch(c) => Stage::Batch(Batcher::new(c)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::record::{AnyValue, SeverityNumber};
    use serde::de::DeserializeOwned;

    fn config<T: DeserializeOwned>(src: &str) -> T {
        crate::config::de::from_node(&crate::config::yaml::parse(src).unwrap().unwrap()).unwrap()
    }

    fn record(kind: &str) -> LogRecord {
        LogRecord {
            severity_number: SeverityNumber::INFO,
            severity_text: kind.into(),
            attributes: [("k8s.event.reason", "Pulled")].into_iter().collect(),
            resource: [("k8s.object.kind", "Pod")].into_iter().collect(),
            ..LogRecord::default()
        }
    }

    #[test]
    fn resource_processor_acts_on_the_resource_only() {
        let c: ResourceProcessorConfig =
            config("attributes: [{action: upsert, key: k8s.event.reason, value: x}]");
        let Stage::Record(p) = build(&ProcessorConfig::Resource(c)) else {
            panic!("not a record stage")
        };
        let mut r = record("Normal");
        assert_eq!(p.process(&mut r), Outcome::Keep);
        assert_eq!(
            r.resource.get("k8s.event.reason"),
            Some(&AnyValue::from("x"))
        );
        assert_eq!(
            r.attributes.get("k8s.event.reason"),
            Some(&AnyValue::from("Pulled"))
        );
    }

    #[test]
    fn attributes_processor_acts_on_selected_records() {
        let c: AttributesProcessorConfig = config(
            "actions: [{action: insert, key: alert, value: true}]
include: {match_type: strict, log_severity_texts: [Warning]}
",
        );
        let p = Processor::Attributes(c);
        let mut warning = record("Warning");
        let mut normal = record("Normal");
        assert_eq!(p.process(&mut warning), Outcome::Keep);
        assert_eq!(p.process(&mut normal), Outcome::Keep);
        assert_eq!(warning.attributes.get("alert"), Some(&AnyValue::Bool(true)));
        assert_eq!(normal.attributes.get("alert"), None);
        assert!(!warning.resource.contains_key("alert"));
    }

    #[test]
    fn filter_processor_reports_why_it_drops() {
        let c: FilterProcessorConfig =
            config("logs: {exclude: {match_type: strict, event_types: [Normal]}}");
        let p = Processor::Filter(c);
        let drop = p.process(&mut record("Normal"));
        assert_eq!(drop, Outcome::Drop(DropReason::Excluded));
        assert_eq!(DropReason::Excluded.as_str(), "excluded");
        assert_eq!(p.process(&mut record("Warning")), Outcome::Keep);
    }

    #[test]
    fn batch_config_builds_a_batcher() {
        let c = ProcessorConfig::Batch(config("send_batch_size: 2"));
        let Stage::Batch(mut b) = build(&c) else {
            panic!("not a batch stage")
        };
        let now = std::time::Instant::now();
        assert!(b.push(record("a"), now).is_empty());
        assert_eq!(b.push(record("b"), now).len(), 1);
    }
}
