//! End to end: the real `gameday` binary and real processes, files, PTYs (tmux) and tmpfs.
//! One test binary (each links russh, reqwest and ratatui once; CI time matters).

mod cli;
mod ctk;
mod demo;
mod fault_kind_validation;
mod fault_kinds;
mod join;
mod process_faults;
mod pty;
mod readers;
mod scenario_files;
