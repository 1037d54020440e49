//! Engine tests (filled in below).
