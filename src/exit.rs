//! Process exit codes, for headless and console runs alike (a leaf: imports nothing).
//!
//! 0 held and every fault verified rolled back · 1 violated or aborted, all rolled back · 2 invalid
//! input or refused, nothing touched · 3 a rollback failed or is unknown, the engine died, or the
//! journal could not take every record: a person must look.

/// The hypothesis held and every fault was verified rolled back.
pub const HELD: u8 = 0;
/// The hypothesis was violated, or the run was aborted; every fault was verified rolled back.
pub const ABORTED: u8 = 1;
/// Invalid input, or refused before anything was touched.
pub const INVALID: u8 = 2;
/// A person must look: a rollback failed or is unknown, the engine died, or records were lost.
pub const MANUAL: u8 = 3;
