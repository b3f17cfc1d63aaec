//! The exchange journal: a tamper-evident, append-only log of every exchange (DESIGN.md,
//! "Journal"). Entries are hashed into an RFC 9162 Merkle tree; checkpoints are C2SP signed notes.
pub mod entry;
pub mod merkle;
pub mod checkpoint;
pub mod storage;
