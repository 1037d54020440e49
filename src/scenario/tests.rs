//! Scenario validation tests.
