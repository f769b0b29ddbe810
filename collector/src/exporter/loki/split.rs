//! One tenant's push cut into requests under `max_request_bytes`, so a large batch (a re-list
//! after an outage) does not hit a gateway's or Loki's body limit. Entries keep their order: a
//! stream continues in the next request where the previous one ended.

use std::mem;

use super::streams::{Entry, Stream, TenantPush};

/// The default request size limit before compression, 4 MiB (Loki's gRPC limit, and nginx's
/// `client_max_body_size` in many gateways, are larger).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Bytes an entry adds to a protobuf push besides its line: entry and timestamp framing (at most
/// 31 bytes) and the line's tag and length.
const ENTRY_OVERHEAD: usize = 32;
/// Bytes a structured-metadata pair adds besides its name and value.
const PAIR_OVERHEAD: usize = 18;
/// Bytes a stream adds besides its labels string.
const STREAM_OVERHEAD: usize = 12;

/// An upper bound of the entry's size in an uncompressed protobuf push. JSON bodies are close
/// to it, larger only by the escaping of their lines.
pub fn entry_size(entry: &Entry) -> usize {
    entry.line.len()
        + ENTRY_OVERHEAD
        + entry
            .structured_metadata
            .iter()
            .map(|(name, value)| name.len() + value.len() + PAIR_OVERHEAD)
            .sum::<usize>()
}

/// An upper bound of what a stream adds to a push besides its entries.
pub fn stream_size(stream: &Stream) -> usize {
    stream.labels_string.len() + STREAM_OVERHEAD
}

/// Cuts `push` into requests of at most `max_bytes` each (by [`entry_size`] and
/// [`stream_size`]). An entry larger than the limit travels alone. Streams without entries are
/// left out; so is a push without any.
pub fn split(push: TenantPush, max_bytes: usize) -> Vec<TenantPush> {
    let tenant = push.tenant;
    let empty = || TenantPush {
        tenant: tenant.clone(),
        streams: Vec::new(),
    };
    let mut requests = Vec::new();
    let mut current = empty();
    let mut size = 0;
    for mut stream in push.streams {
        let header = stream_size(&stream);
        let entries = mem::take(&mut stream.entries);
        // This stream's entries in the current request.
        let mut part: Option<Stream> = None;
        for entry in entries {
            let mut need = entry_size(&entry) + if part.is_none() { header } else { 0 };
            if size > 0 && size + need > max_bytes {
                current.streams.extend(part.take());
                requests.push(mem::replace(&mut current, empty()));
                size = 0;
                need = entry_size(&entry) + header;
            }
            part.get_or_insert_with(|| Stream {
                labels: stream.labels.clone(),
                labels_string: stream.labels_string.clone(),
                entries: Vec::new(),
            })
            .entries
            .push(entry);
            size += need;
        }
        current.streams.extend(part);
    }
    if !current.streams.is_empty() {
        requests.push(current);
    }
    requests
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::exporter::loki::proto::tests::arb_push;
    use crate::exporter::loki::to_push_request;
    use proptest::prelude::*;
    use prost::Message;

    /// (labels, record index) of every entry, in request order.
    fn flatten(pushes: &[TenantPush]) -> Vec<(String, usize)> {
        pushes
            .iter()
            .flat_map(|p| &p.streams)
            .flat_map(|s| {
                s.entries
                    .iter()
                    .map(|e| (s.labels_string.clone(), e.record_index))
            })
            .collect()
    }

    fn numbered(mut push: TenantPush) -> TenantPush {
        let entries = push.streams.iter_mut().flat_map(|s| &mut s.entries);
        for (n, entry) in entries.enumerate() {
            entry.record_index = n;
        }
        push.tenant = Some("t".into());
        push
    }

    #[test]
    fn a_stream_continues_in_the_next_request() {
        let labels = crate::exporter::loki::LabelSet::from_pairs([("job".into(), "a".into())]);
        let entries = (0..3)
            .map(|i| Entry {
                timestamp_unix_nano: i64::try_from(i).unwrap(),
                line: "x".repeat(100),
                structured_metadata: Vec::new(),
                record_index: i,
            })
            .collect();
        let push = TenantPush {
            tenant: None,
            streams: vec![Stream {
                labels_string: labels.to_string(),
                labels,
                entries,
            }],
        };
        let entry = entry_size(&push.streams[0].entries[0]);
        let one = entry + stream_size(&push.streams[0]);
        // One entry with its stream fits, a second one does not.
        let requests = split(push.clone(), one + entry - 1);
        assert_eq!(requests.len(), 3);
        assert_eq!(flatten(&requests), flatten(std::slice::from_ref(&push)));
        assert_eq!(split(push, 3 * one), vec![requests_joined(requests)]);
    }

    fn requests_joined(requests: Vec<TenantPush>) -> TenantPush {
        let mut out = requests[0].clone();
        for r in &requests[1..] {
            out.streams[0]
                .entries
                .extend(r.streams[0].entries.iter().cloned());
        }
        out
    }

    proptest! {
        #[test]
        fn splitting_never_loses_duplicates_or_reorders_entries(
            push in arb_push().prop_map(numbered),
            max_bytes in 1usize..400,
        ) {
            let requests = split(push.clone(), max_bytes);
            prop_assert_eq!(flatten(&requests), flatten(std::slice::from_ref(&push)));
            for request in &requests {
                prop_assert_eq!(&request.tenant, &push.tenant);
                prop_assert!(request.streams.iter().all(|s| !s.entries.is_empty()));
                // The estimate bounds the real protobuf size, so the limit holds on the wire.
                let entries = request.entry_count();
                let encoded = to_push_request(request).encoded_len();
                prop_assert!(entries == 1 || encoded <= max_bytes, "{} entries, {} bytes > {}", entries, encoded, max_bytes);
            }
        }
    }
}
