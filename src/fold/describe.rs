//! One human line per event, for the timeline of the console, the headless printer and the debrief.

use std::collections::BTreeMap;

use crate::event::{Event, MilestoneKind, NoteKind, Phase, RollbackStatus, RuleCheck};
use crate::fmt;
use crate::scenario::{Scenario, Transport};

/// How people know each host, by the address every event names it with: `127.0.0.1:45271` is
/// `shop-1` when the scenario wrote `shop-1` and the demo lab pointed it there (the name is
/// journaled with the scenario, [`crate::scenario::HostAddr::name`]). Only for showing: faults and
/// rollbacks always go by the address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostNames(BTreeMap<String, String>);

impl HostNames {
    pub fn of(scenario: &Scenario) -> HostNames {
        let mut names = BTreeMap::new();
        for t in scenario.targets.values() {
            if let Transport::Ssh { hosts, .. } = &t.transport {
                for h in hosts {
                    if let Some(n) = &h.name {
                        names.insert(h.to_string(), n.clone());
                    }
                }
            }
        }
        HostNames(names)
    }

    /// The name of the host at address `host`, else the address.
    pub fn label<'a>(&'a self, host: &'a str) -> &'a str {
        self.0.get(host).map(String::as_str).unwrap_or(host)
    }

    /// The name with the address: `shop-1 (127.0.0.1:45271)`; the address alone when it has no
    /// other name.
    pub fn detail(&self, host: &str) -> String {
        match self.0.get(host) {
            Some(n) => format!("{n} ({host})"),
            None => host.to_string(),
        }
    }

    /// The name of `host`, when it has one other than its address.
    pub fn name(&self, host: &str) -> Option<&str> {
        self.0.get(host).map(String::as_str)
    }
}

/// Hosts by name, the first 10 and how many more.
pub fn host_list(hosts: &[String], names: &HostNames) -> String {
    const SHOWN: usize = 10;
    let mut out: Vec<&str> = hosts.iter().take(SHOWN).map(|h| names.label(h)).collect();
    let more = hosts.len().saturating_sub(SHOWN);
    let more = format!("… {more} more");
    if hosts.len() > SHOWN {
        out.push(&more);
    }
    out.join(", ")
}

/// One human line for an event: who or what it came from, and what happened. Hosts are named as
/// `hosts` knows them; the intent (what a person would undo by hand) and a rollback that was not
/// verified also give the address.
pub fn describe(event: &Event, hosts: &HostNames) -> (String, String) {
    let (src, text) = match event {
        Event::RunStarted {
            scenario,
            gameday_version,
            ..
        } => (
            "engine",
            format!(
                "run started: {} (gameday {gameday_version})",
                scenario.title
            ),
        ),
        Event::PhaseStarted { phase } => ("engine", format!("phase: {}", phase_name(*phase))),
        Event::PreflightCheck { check, ok, detail } => (
            "preflight",
            format!("{} {check}: {detail}", if *ok { "ok" } else { "FAILED" }),
        ),
        Event::PreflightHeld { failures } => (
            "preflight",
            format!(
                "live checks FAILED ({}): waiting for an override with a reason, or a halt",
                failures.join("; ")
            ),
        ),
        Event::PreflightOverridden {
            by,
            reason,
            failures,
        } => (
            "preflight",
            format!(
                "OVERRIDE by {by}: started despite {} failed check(s): {reason}",
                failures.len()
            ),
        ),
        Event::SteadyState {
            phase,
            held,
            checks,
        } => (
            "steady state",
            format!(
                "{} {}: {}",
                if *phase == Phase::SteadyStateBefore {
                    "before"
                } else {
                    "after"
                },
                if *held { "HELD" } else { "NOT HELD" },
                checks.iter().map(check_text).collect::<Vec<_>>().join("; ")
            ),
        ),
        Event::StepStarted {
            index,
            name,
            duration_ms,
            prompt,
        } => (
            "engine",
            match prompt {
                Some(p) => format!(
                    "step {} `{name}` ({}): {p}",
                    index + 1,
                    fmt::duration_ms(*duration_ms)
                ),
                None => format!(
                    "step {} `{name}` ({})",
                    index + 1,
                    fmt::duration_ms(*duration_ms)
                ),
            },
        ),
        Event::StepEnded {
            index,
            name,
            advanced,
        } => (
            "engine",
            format!(
                "step {} `{name}` ended{}",
                index + 1,
                if *advanced { " (advanced early)" } else { "" }
            ),
        ),
        Event::FaultIntent {
            fault,
            kind,
            host,
            inject,
            ..
        } => (
            "fault",
            format!(
                "intent {fault} ({kind}) on {}: {inject}",
                hosts.detail(host)
            ),
        ),
        Event::FaultInjected {
            fault,
            host,
            ok,
            outcome,
        } => (
            "fault",
            format!(
                "{} {fault} on {host}: {}",
                if *ok { "injected" } else { "INJECT FAILED" },
                outcome.summary(),
                host = hosts.label(host)
            ),
        ),
        Event::FaultNotInjected {
            fault,
            host,
            reason,
            ..
        } => (
            "fault",
            format!(
                "NOT INJECTED {fault} on {host}: {reason} (nothing to roll back)",
                host = hosts.label(host)
            ),
        ),
        Event::HostsSelected {
            fault,
            target,
            seed,
            size,
            candidates,
            chosen,
            budget,
            ..
        } => (
            "fault",
            format!(
                "selected {fault}: {} of {} host(s) of {target} ({size}, seed {seed}{}): {}",
                chosen.len(),
                candidates.len(),
                budget
                    .map(|b| format!(", blast radius {b}"))
                    .unwrap_or_default(),
                host_list(chosen, hosts)
            ),
        ),
        Event::SelectionRefused {
            hosts: n,
            budget,
            reason,
            ..
        } => (
            "HALT",
            format!(
                "selection refused, nothing injected: {n} host(s) at once, blast radius {budget}: {reason}"
            ),
        ),
        Event::ExpansionRoundStarted {
            step,
            round,
            rounds,
            size,
            hosts,
            candidates,
        } => (
            "engine",
            format!(
                "step {} expansion round {}/{rounds}: {size} ({hosts} of {candidates} host(s))",
                step.saturating_add(1),
                round.saturating_add(1)
            ),
        ),
        Event::ExpansionRoundEnded {
            step,
            round,
            passed,
            reason,
            ..
        } => (
            "engine",
            format!(
                "step {} expansion round {} {}: {reason}",
                step.saturating_add(1),
                round.saturating_add(1),
                if *passed { "passed" } else { "STOPPED" }
            ),
        ),
        Event::Sample {
            metric,
            value,
            error,
        } => (
            "metric",
            match (value, error) {
                (Some(v), _) => format!("{metric} = {}", fmt::value(Some(*v))),
                (None, Some(e)) => format!("{metric}: no data ({e})"),
                (None, None) => format!("{metric}: no data"),
            },
        ),
        Event::RuleBreaching {
            label,
            value,
            left_ms,
            reason,
            ..
        } => (
            "abort rule",
            format!(
                "`{label}` breaching ({}): auto-abort in {}",
                reason
                    .clone()
                    .unwrap_or_else(|| format!("value {}", fmt::value(*value))),
                fmt::duration_ms(*left_ms)
            ),
        ),
        Event::RuleCleared { label, value, .. } => (
            "abort rule",
            format!("`{label}` cleared (value {})", fmt::value(*value)),
        ),
        Event::RuleTripped {
            label,
            breaching_ms,
            ..
        } => (
            "abort rule",
            format!("`{label}` TRIPPED after {}", fmt::elapsed_ms(*breaching_ms)),
        ),
        Event::Note {
            role,
            text,
            action,
            kind,
            owner,
            due,
            ..
        } => (
            role.as_str(),
            note_line(NoteKind::of(*kind, *action), text, owner, due),
        ),
        Event::Milestone { kind, role } => (
            role.as_str(),
            format!("milestone: {}", milestone_name(*kind)),
        ),
        Event::Retracted { retracts, role } => {
            (role.as_str(), format!("retracted record #{retracts}"))
        }
        Event::NoteEdited {
            edits, role, text, ..
        } => (role.as_str(), format!("edited note #{edits}: {text}")),
        Event::HaltRequested { by, reason } => ("HALT", format!("halt by {by}: {reason}")),
        Event::SeatJoined {
            tag, uid, pid, may, ..
        } => (
            "seat",
            format!(
                "{tag} joined (uid {uid}{}); {}",
                pid.map(|p| format!(", pid {p}")).unwrap_or_default(),
                if may.is_empty() {
                    "read-only".to_string()
                } else {
                    format!("may {}", may.join(", "))
                }
            ),
        ),
        Event::SeatLeft { seat, reason } => ("seat", format!("seat {seat} left: {reason}")),
        Event::SeatRefused { uid, pid, reason } => (
            "seat",
            format!(
                "a connection from uid {uid}{} was refused: {reason}",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
            ),
        ),
        Event::CtkActivity {
            phase,
            name,
            activity,
            provider,
            status,
            background,
            ms,
            output,
            error,
            tolerance_met,
            process: _,
        } => (
            "ctk",
            format!(
                "{} {activity} `{name}` ({provider}{}): {status} in {}{}{}",
                ctk_phase(*phase),
                if *background { ", background" } else { "" },
                fmt::elapsed_ms(*ms),
                match output.get("status") {
                    Some(s) if !s.is_null() => format!(", status {s}"),
                    _ => String::new(),
                },
                match (error, tolerance_met) {
                    (Some(e), _) => format!(": {e}"),
                    (None, Some(true)) => ", tolerance met".to_string(),
                    (None, Some(false)) => ", tolerance NOT met".to_string(),
                    (None, None) => String::new(),
                }
            ),
        ),
        Event::CtkStricter { what } => ("ctk", format!("stricter than chaos run: {what}")),
        Event::HostKeyAccepted {
            host,
            key_type,
            fingerprint,
            known_hosts,
            by,
        } => (
            "ssh",
            format!(
                "{by}: trusted the {key_type} key {fingerprint} of {} (first seen; added to {known_hosts})",
                hosts.detail(host)
            ),
        ),
        Event::Notified {
            to,
            about,
            ok,
            attempts,
            error,
            ..
        } => (
            "notify",
            if *ok {
                format!("{to}: {about} delivered")
            } else {
                format!(
                    "{to}: {about} NOT delivered{}: {}",
                    if *attempts > 1 {
                        format!(" after {attempts} tries")
                    } else {
                        String::new()
                    },
                    error.as_deref().unwrap_or("no reason given")
                )
            },
        ),
        Event::CriterionResult {
            step,
            label,
            outcome,
            value,
            after_ms,
            reason,
            by,
            ..
        } => {
            let mut text = format!("step {} criterion {}: {label}", step + 1, outcome.label());
            if let Some(v) = value {
                text.push_str(&format!(" (value {})", fmt::value(Some(*v))));
            }
            if let Some(ms) = after_ms {
                text.push_str(&format!(" after {}", fmt::elapsed_ms(*ms)));
            }
            if let Some(r) = reason {
                text.push_str(&format!(": {r}"));
            }
            if let Some(b) = by {
                text.push_str(&format!(" — by {b}"));
            }
            ("criteria", text)
        }
        Event::StepResult {
            index,
            name,
            outcome,
            passed,
            failed,
            open,
        } => (
            "criteria",
            format!(
                "step {} {name}: {} ({passed} passed, {failed} failed, {open} open)",
                index + 1,
                outcome.label()
            ),
        ),
        Event::LeaseArmed {
            fault,
            host,
            ok,
            lease_ms,
            outcome,
            ..
        } => (
            "lease",
            if *ok {
                format!(
                    "lease armed for {fault} on {host}: the host reverts it {}s after the last renewal",
                    lease_ms / 1000,
                    host = hosts.label(host)
                )
            } else {
                format!(
                    "lease for {fault} on {host} could not be armed ({}): not injected",
                    outcome.summary(),
                    host = hosts.label(host)
                )
            },
        ),
        Event::LeaseRenewed {
            fault,
            host,
            ok,
            error,
        } => (
            "lease",
            if *ok {
                format!(
                    "lease renewed for {fault} on {host}",
                    host = hosts.label(host)
                )
            } else {
                format!(
                    "lease renewal failed for {fault} on {host}: {}",
                    error.as_deref().unwrap_or("unknown"),
                    host = hosts.label(host)
                )
            },
        ),
        Event::LeaseCancelled { fault, host, ok } => (
            "lease",
            if *ok {
                format!(
                    "lease cancelled for {fault} on {host}",
                    host = hosts.label(host)
                )
            } else {
                format!(
                    "lease for {fault} on {host} could not be cancelled (its undo may run again; harmless)",
                    host = hosts.label(host)
                )
            },
        ),
        Event::RollbackStarted { fault, host } => (
            "rollback",
            format!("rolling back {fault} on {host}", host = hosts.label(host)),
        ),
        Event::RollbackResult {
            fault,
            host,
            status,
            how,
            ..
        } => (
            "rollback",
            format!(
                "{fault} on {}: {} ({how})",
                if *status == RollbackStatus::Verified {
                    hosts.label(host).to_string()
                } else {
                    hosts.detail(host)
                },
                status_name(*status)
            ),
        ),
        Event::RollbackFinished {
            all_verified,
            faults,
            since_halt_ms,
        } => (
            "rollback",
            format!(
                "{} of {faults} fault(s){}",
                if *all_verified {
                    "all verified"
                } else {
                    "NOT all verified"
                },
                since_halt_ms
                    .map(|m| format!("; halt → last rollback confirmed {m} ms"))
                    .unwrap_or_default()
            ),
        ),
        Event::Verdict {
            verdict,
            exit_code,
            reason,
        } => (
            "verdict",
            format!("{} (exit {exit_code}): {reason}", verdict.label()),
        ),
        Event::RunEnded => ("engine", "run ended".to_string()),
    };
    (src.to_string(), text)
}

pub fn check_text(c: &RuleCheck) -> String {
    match &c.reason {
        Some(r) => format!("{} → no data ({r})", c.rule),
        None => format!("{} → {}", c.rule, fmt::value(c.value)),
    }
}

pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Preflight => "preflight",
        Phase::SteadyStateBefore => "steady-state check (before)",
        Phase::Steps => "steps",
        Phase::SteadyStateAfter => "steady-state check (after)",
        Phase::Rollback => "rollback",
        Phase::Verdict => "verdict",
    }
}

pub fn milestone_name(k: MilestoneKind) -> &'static str {
    match k {
        MilestoneKind::Detected => "detected",
        MilestoneKind::Mitigated => "mitigated",
    }
}

pub fn status_name(s: RollbackStatus) -> &'static str {
    match s {
        RollbackStatus::Verified => "VERIFIED",
        RollbackStatus::Failed => "FAILED",
        RollbackStatus::Unknown => "UNKNOWN",
    }
}

/// A note as one timeline line: an observation is its text; other kinds say what they are, an
/// action item with its owner and due date.
pub fn note_line(
    kind: NoteKind,
    text: &str,
    owner: &Option<String>,
    due: &Option<String>,
) -> String {
    match kind {
        NoteKind::Observation => text.to_string(),
        NoteKind::ActionItem => {
            let mut tail = Vec::new();
            if let Some(o) = owner {
                tail.push(format!("owner {o}"));
            }
            if let Some(d) = due {
                tail.push(format!("due {d}"));
            }
            if tail.is_empty() {
                format!("ACTION: {text}")
            } else {
                format!("ACTION: {text} ({})", tail.join(", "))
            }
        }
        k => format!("{}: {text}", k.label().to_uppercase()),
    }
}

fn ctk_phase(phase: Phase) -> &'static str {
    match phase {
        Phase::SteadyStateBefore => "steady state before:",
        Phase::SteadyStateAfter => "steady state after:",
        Phase::Rollback => "rollback:",
        _ => "method:",
    }
}
