//! The SSH transport: an in-process russh server and a real OpenSSH sshd on loopback.

mod control;
mod inprocess;
mod lease_engine;
mod metachar;
mod select_lab;
mod ssh_config;
mod sshd;
mod sshd_support;
