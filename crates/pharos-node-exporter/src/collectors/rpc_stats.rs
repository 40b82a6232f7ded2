//! What the NFS client (`/proc/net/rpc/nfs`) and server (`/proc/net/rpc/nfsd`) statistics
//! files have in common: lines of a label followed by numbers, and the procedure tables of
//! the `proc2`/`proc3` lines.

use std::collections::HashMap;

/// NFSv2 procedures in kernel order, named as node_exporter names them.
pub(super) const V2_PROCEDURES: &[&str] = &[
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures in kernel order.
pub(super) const V3_PROCEDURES: &[&str] = &[
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// A procedure table without its leading `Null`, which the server side does not export.
pub(super) const fn after_null(procedures: &'static [&'static str]) -> &'static [&'static str] {
    match procedures.split_first() {
        Some((_, rest)) => rest,
        None => &[],
    }
}

/// The parsed file: each line's label and its numbers.
pub(super) type RpcLines = HashMap<String, Vec<u64>>;

/// Number `i` of the line labelled `label`; a line or number the kernel did not print reads
/// as 0, as node_exporter reports it.
pub(super) fn rpc_value(lines: &RpcLines, label: &str, i: usize) -> f64 {
    lines
        .get(label)
        .and_then(|v| v.get(i))
        .copied()
        .unwrap_or(0) as f64
}
