//! `_bulk` request bodies and their item-level results.
//!
//! Every document is sent as a `create` with `_id` = the record's `event.id`: a retried
//! item that already landed answers 409 (`version_conflict_engine_exception`), which counts
//! as delivered, so retries never index a record twice. Items are classified into three
//! outcomes the caller acts on: delivered (201, or 409 = already there), retryable (429,
//! 5xx, `es_rejected_execution_exception`, and 401/403, which are not the document's fault)
//! and rejected (any other 4xx, e.g. a mapping conflict), which goes to a dead-letter file.

use std::borrow::Cow;

use serde::Deserialize;

use crate::error::Error;

/// The content type of a `_bulk` body.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// Appends a `create` action for `index` (and `id`, when known) and the document line to
/// `body`. `doc` is one JSON object without its line break.
pub fn push_create(body: &mut Vec<u8>, index: &str, id: Option<&str>, doc: &[u8]) {
    body.extend_from_slice(br#"{"create":{"_index":"#);
    push_json_string(body, index);
    if let Some(id) = id {
        body.extend_from_slice(br#","_id":"#);
        push_json_string(body, id);
    }
    body.extend_from_slice(b"}}\n");
    body.extend_from_slice(doc);
    body.push(b'\n');
}

/// Appends `text` as a JSON string; copies it as it is when nothing needs escaping (ids and
/// index names never do).
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(text.as_bytes());
    } else {
        for ch in text.chars() {
            match ch {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }
    out.push(b'"');
}

/// The `event.id` of one serialized record, the document's `_id`.
///
/// Records are serialized with `event` near the start and without nested objects inside
/// it, so a scan of the first bytes finds it without parsing the line; anything unusual
/// (escapes, another layout) falls back to a full JSON parse.
pub fn event_id(line: &[u8]) -> Option<Cow<'_, str>> {
    const EVENT: &[u8] = br#""event":{"#;
    const ID: &[u8] = br#""id":""#;
    if let Some(start) = find(line, EVENT) {
        let object = &line[start + EVENT.len()..];
        let end = object
            .iter()
            .position(|&b| b == b'}')
            .unwrap_or(object.len());
        let object = &object[..end];
        if let Some(at) = find(object, ID) {
            let value = &object[at + ID.len()..];
            if let Some(close) = value.iter().position(|&b| b == b'"' || b == b'\\') {
                if value[close] == b'"' {
                    if let Ok(id) = std::str::from_utf8(&value[..close]) {
                        return Some(Cow::Borrowed(id));
                    }
                }
            }
        }
    }
    let parsed: serde_json::Value = serde_json::from_slice(line).ok()?;
    parsed["event"]["id"]
        .as_str()
        .map(|id| Cow::Owned(id.to_owned()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What became of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Indexed now (201, or 200 for an `index` action).
    Created,
    /// Already indexed by an earlier attempt (409 on `create`): delivered.
    AlreadyExists,
    /// Not the document's fault; send it again later.
    Retry(ItemError),
    /// The cluster refuses this document (mapping conflict and the like); do not resend.
    Reject(ItemError),
}

impl Outcome {
    /// Whether the document is in the index now.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Created | Outcome::AlreadyExists)
    }
}

/// Why an item failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// The item's HTTP status.
    pub status: u16,
    /// The error type, e.g. `mapper_parsing_exception`.
    pub kind: String,
    /// The reason, with the innermost cause appended when there is one.
    pub reason: String,
}

/// The item results of one `_bulk` answer, in request order.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Items indexed now.
    pub created: usize,
    /// Items that were already there (409).
    pub already_existed: usize,
    /// The other items with their positions in the request (0-based).
    pub failed: Vec<(usize, Outcome)>,
}

impl Results {
    /// Items delivered (created or already there).
    pub fn delivered(&self) -> usize {
        self.created + self.already_existed
    }
}

#[derive(Deserialize)]
struct RawAnswer {
    #[serde(default)]
    errors: bool,
    items: Vec<RawItem>,
}

#[derive(Deserialize)]
struct RawItem {
    #[serde(alias = "index", alias = "update", alias = "delete")]
    create: RawResult,
}

#[derive(Deserialize)]
struct RawResult {
    status: u16,
    #[serde(default)]
    error: Option<RawError>,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    caused_by: Option<Box<RawError>>,
}

impl RawError {
    fn describe(&self) -> String {
        let mut text = self.reason.clone().unwrap_or_default();
        let mut cause = self.caused_by.as_deref();
        let mut depth = 0;
        while let Some(c) = cause {
            if let Some(reason) = &c.reason {
                text.push_str(&format!(" (caused by {}: {reason})", c.kind));
            }
            cause = c.caused_by.as_deref();
            depth += 1;
            if depth > 4 {
                break;
            }
        }
        text
    }
}

/// Classifies one item by its status and error type.
pub fn classify(status: u16, error_kind: &str, reason: String) -> Outcome {
    let error = || ItemError {
        status,
        kind: error_kind.to_owned(),
        reason: reason.clone(),
    };
    match status {
        200..=299 => Outcome::Created,
        409 if error_kind == "version_conflict_engine_exception" || error_kind.is_empty() => {
            Outcome::AlreadyExists
        }
        401 | 403 | 408 | 429 => Outcome::Retry(error()),
        s if s >= 500 => Outcome::Retry(error()),
        _ if error_kind == "es_rejected_execution_exception"
            || error_kind == "rejected_execution_exception" =>
        {
            Outcome::Retry(error())
        }
        _ => Outcome::Reject(error()),
    }
}

/// Parses the body of a `_bulk` answer (HTTP 200) for a request of `expected` items.
pub fn parse_response(url: &str, body: &[u8], expected: usize) -> Result<Results, Error> {
    let answer: RawAnswer = serde_json::from_slice(body).map_err(|err| Error::Protocol {
        url: url.to_owned(),
        reason: format!("the _bulk answer is not what the API documents: {err}"),
    })?;
    if answer.items.len() != expected {
        return Err(Error::Protocol {
            url: url.to_owned(),
            reason: format!(
                "the _bulk answer has {} items for {expected} documents",
                answer.items.len()
            ),
        });
    }
    let mut results = Results::default();
    for (position, item) in answer.items.into_iter().enumerate() {
        let result = item.create;
        if !answer.errors && result.error.is_none() && (200..300).contains(&result.status) {
            results.created += 1;
            continue;
        }
        let (kind, reason) = match &result.error {
            Some(e) => (e.kind.as_str(), e.describe()),
            None => ("", String::new()),
        };
        match classify(result.status, kind, reason) {
            Outcome::Created => results.created += 1,
            Outcome::AlreadyExists => results.already_existed += 1,
            other => results.failed.push((position, other)),
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Elasticsearch 8.19.21's answer to four creates into a data stream whose template
    /// maps `source.port` as `long`: created, the same `_id` again, `"abc"` as the port,
    /// and a document without `@timestamp` (captured from the real node).
    const ES_MIXED: &str = r#"{"errors":true,"took":601,"items":[{"create":{"_index":".ds-logs-netsensor.packet-capture-2026.11.23-000001","_id":"a1","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},{"create":{"_index":".ds-logs-netsensor.packet-capture-2026.11.23-000001","_id":"a1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[a1]: version conflict, document already exists (current version [1])","index_uuid":"hPj8YJWXS1eXqXZsnylLmQ","shard":"0","index":".ds-logs-netsensor.packet-capture-2026.11.23-000001"}}},{"create":{"_index":".ds-logs-netsensor.packet-capture-2026.11.23-000001","_id":"a2","status":400,"error":{"type":"document_parsing_exception","reason":"[1:55] failed to parse field [source.port] of type [long] in document with id 'a2'. Preview of field's value: 'abc'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}},{"create":{"_index":".ds-logs-netsensor.packet-capture-2026.11.23-000001","_id":"a3","status":400,"error":{"type":"document_parsing_exception","reason":"[1:21] failed to parse: data stream timestamp field [@timestamp] is missing","caused_by":{"type":"illegal_argument_exception","reason":"data stream timestamp field [@timestamp] is missing"}}}}]}"#;

    /// OpenSearch 2.19.6's answer to the same four creates (captured from the real node):
    /// `mapper_parsing_exception` where Elasticsearch says `document_parsing_exception`.
    const OS_MIXED: &str = r#"{"took":131,"errors":true,"items":[{"create":{"_index":".ds-logs-netsensor.packet-bulkshapex-000001","_id":"a1","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},{"create":{"_index":".ds-logs-netsensor.packet-bulkshapex-000001","_id":"a1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[a1]: version conflict, document already exists (current version [1])","index":".ds-logs-netsensor.packet-bulkshapex-000001","shard":"0","index_uuid":"CtD0e4SGT6u5zD1pb6QhEQ"}}},{"create":{"_index":".ds-logs-netsensor.packet-bulkshapex-000001","_id":"a2","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [source.port] of type [long] in document with id 'a2'. Preview of field's value: 'abc'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}},{"create":{"_index":".ds-logs-netsensor.packet-bulkshapex-000001","_id":"a3","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse","caused_by":{"type":"illegal_argument_exception","reason":"documents must contain a single-valued timestamp field '@timestamp' of date type"}}}}]}"#;

    /// The answer to a create that succeeded everywhere (Elasticsearch 8.19.21).
    const ES_OK: &str = r#"{"errors":false,"took":0,"items":[{"create":{"_index":".ds-logs-netsensor.packet-capture-2026.11.23-000001","_id":"a9","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1,"status":201}}]}"#;

    /// A write thread pool that is full (the shape Elasticsearch documents for 429 items)
    /// and a shard that is not available (503).
    const ES_BUSY: &str = r#"{"took":3,"errors":true,"items":[{"create":{"_index":"logs-netsensor.packet-x","_id":"b1","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=0]"}}},{"create":{"_index":"logs-netsensor.packet-x","_id":"b2","status":503,"error":{"type":"unavailable_shards_exception","reason":"[logs-netsensor.packet-x][0] primary shard is not active Timeout: [1m]"}}},{"create":{"_index":"logs-netsensor.packet-x","_id":"b3","status":403,"error":{"type":"security_exception","reason":"action [indices:data/write/bulk[s]] is unauthorized for API key id [k] of user [netsensor]"}}}]}"#;

    #[test]
    fn bodies_are_create_actions_with_ids() {
        let mut body = Vec::new();
        push_create(
            &mut body,
            "logs-netsensor.flow-prod",
            Some("abc"),
            br#"{"a":1}"#,
        );
        push_create(&mut body, "logs-netsensor.flow-prod", None, br#"{"b":2}"#);
        push_create(&mut body, "i", Some("we\"ird\\"), b"{}");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            concat!(
                "{\"create\":{\"_index\":\"logs-netsensor.flow-prod\",\"_id\":\"abc\"}}\n",
                "{\"a\":1}\n",
                "{\"create\":{\"_index\":\"logs-netsensor.flow-prod\"}}\n",
                "{\"b\":2}\n",
                "{\"create\":{\"_index\":\"i\",\"_id\":\"we\\\"ird\\\\\"}}\n",
                "{}\n"
            )
        );
    }

    #[test]
    fn event_ids_are_found_fast_and_slow() {
        let record = br#"{"@timestamp":"2017-05-09T21:07:38.364077000Z","event":{"kind":"event","category":["network"],"type":["connection","info"],"dataset":"netsensor.packet","module":"netsensor","id":"bffa79493d160607bead70913238083a"},"observer":{"name":"vm"}}"#;
        assert!(matches!(
            event_id(record),
            Some(Cow::Borrowed("bffa79493d160607bead70913238083a"))
        ));
        // Another field order, and an id with an escape, go the slow way.
        let other = br#"{"observer":{"id":"no"},"event":{"id":"x\"y"}}"#;
        assert_eq!(event_id(other).as_deref(), Some("x\"y"));
        let nested_first = br#"{"event":{"kind":"event"},"x":{"id":"not-this"}}"#;
        assert_eq!(event_id(nested_first), None);
        assert_eq!(event_id(b"not json"), None);
        assert_eq!(event_id(br#"{"event":{"id":7}}"#), None);
    }

    #[test]
    fn mixed_answer_from_elasticsearch() {
        let results = parse_response("u", ES_MIXED.as_bytes(), 4).unwrap();
        assert_eq!(results.created, 1);
        assert_eq!(results.already_existed, 1);
        assert_eq!(results.delivered(), 2);
        assert_eq!(results.failed.len(), 2);
        let (position, outcome) = &results.failed[0];
        assert_eq!(*position, 2);
        let Outcome::Reject(error) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(error.status, 400);
        assert_eq!(error.kind, "document_parsing_exception");
        assert!(error
            .reason
            .contains("failed to parse field [source.port] of type [long]"));
        assert!(error
            .reason
            .contains("caused by illegal_argument_exception"));
        assert_eq!(results.failed[1].0, 3);
        assert!(matches!(results.failed[1].1, Outcome::Reject(_)));
    }

    #[test]
    fn mixed_answer_from_opensearch() {
        let results = parse_response("u", OS_MIXED.as_bytes(), 4).unwrap();
        assert_eq!((results.created, results.already_existed), (1, 1));
        let kinds: Vec<(usize, &str)> = results
            .failed
            .iter()
            .map(|(p, o)| match o {
                Outcome::Reject(e) => (*p, e.kind.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (2, "mapper_parsing_exception"),
                (3, "mapper_parsing_exception")
            ]
        );
    }

    #[test]
    fn clean_answer_counts_everything_created() {
        let results = parse_response("u", ES_OK.as_bytes(), 1).unwrap();
        assert_eq!((results.created, results.failed.len()), (1, 0));
    }

    #[test]
    fn busy_and_unauthorized_items_are_retried() {
        let results = parse_response("u", ES_BUSY.as_bytes(), 3).unwrap();
        assert_eq!(results.delivered(), 0);
        let statuses: Vec<(usize, u16, bool)> = results
            .failed
            .iter()
            .map(|(p, o)| match o {
                Outcome::Retry(e) => (*p, e.status, true),
                Outcome::Reject(e) => (*p, e.status, false),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            statuses,
            vec![(0, 429, true), (1, 503, true), (2, 403, true)]
        );
    }

    #[test]
    fn classification_table() {
        let c = |status, kind: &str| classify(status, kind, String::new());
        assert_eq!(c(201, ""), Outcome::Created);
        assert_eq!(c(200, ""), Outcome::Created);
        assert_eq!(
            c(409, "version_conflict_engine_exception"),
            Outcome::AlreadyExists
        );
        assert!(matches!(
            c(429, "es_rejected_execution_exception"),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            c(400, "es_rejected_execution_exception"),
            Outcome::Retry(_)
        ));
        assert!(matches!(c(500, "x"), Outcome::Retry(_)));
        assert!(matches!(
            c(400, "mapper_parsing_exception"),
            Outcome::Reject(_)
        ));
        assert!(matches!(
            c(400, "strict_dynamic_mapping_exception"),
            Outcome::Reject(_)
        ));
        assert!(matches!(
            c(404, "index_not_found_exception"),
            Outcome::Reject(_)
        ));
    }

    #[test]
    fn answers_that_do_not_fit_are_protocol_errors() {
        assert!(matches!(
            parse_response("u", ES_OK.as_bytes(), 2),
            Err(Error::Protocol { .. })
        ));
        assert!(matches!(
            parse_response("u", b"<html>proxy error</html>", 1),
            Err(Error::Protocol { .. })
        ));
    }
}
