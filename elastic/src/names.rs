//! Names of the data streams netsensor writes, in Elastic's data stream naming scheme
//! (`{type}-{dataset}-{namespace}`), so they sit beside every other `logs-*` source.

use netsensor_schema::RecordKind;

/// Data stream type: records are event logs.
pub const TYPE: &str = "logs";

/// The namespace when none is configured.
pub const DEFAULT_NAMESPACE: &str = "default";

/// `event.dataset` and the data stream's dataset part: `netsensor.packet` etc.
pub fn dataset(kind: RecordKind) -> String {
    format!("netsensor.{}", kind.name())
}

/// The data stream a record kind is written to, e.g. `logs-netsensor.flow-default`.
pub fn data_stream(kind: RecordKind, namespace: &str) -> String {
    format!("{TYPE}-{}-{namespace}", dataset(kind))
}

/// The index pattern of one kind's data streams across namespaces, e.g.
/// `logs-netsensor.flow-*`.
pub fn index_pattern(kind: RecordKind) -> String {
    format!("{TYPE}-{}-*", dataset(kind))
}

/// Whether `namespace` is valid in a data stream name: lower case, no `-` (it separates
/// the parts), none of the characters index names forbid, at most 100 bytes.
pub fn valid_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace.len() <= 100
        && namespace.bytes().all(|b| {
            !b.is_ascii_uppercase() && !b"-\\/*?\"<>| ,#:".contains(&b) && b.is_ascii_graphic()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_data_stream_scheme() {
        assert_eq!(
            data_stream(RecordKind::Flow, "default"),
            "logs-netsensor.flow-default"
        );
        assert_eq!(index_pattern(RecordKind::Packet), "logs-netsensor.packet-*");
        assert_eq!(dataset(RecordKind::Rollup), "netsensor.rollup");
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(valid_namespace("prod_eu1"));
        for bad in ["", "Prod", "a-b", "a b", "a*", "a/b"] {
            assert!(!valid_namespace(bad), "{bad}");
        }
    }
}
