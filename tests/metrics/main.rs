//! Metric sources and abort rules: a real Prometheus, and a scripted HTTP server for faults
//! (503s, NaN, hangs).

mod fail_closed;
mod fake_server;
mod notify;
mod prometheus;
mod rules;
mod sources;
