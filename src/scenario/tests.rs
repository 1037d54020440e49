//! Validation tests: one per error class, each pinned to its line and column.

use super::*;

const VALID: &str = r#"title: Checkout survives a slow database
description: Add 300 ms to the orders DB and watch checkout.
hypothesis: With 300 ms DB latency, checkout p99 stays under 800 ms and errors under 1 %.
runbook: runbooks/checkout-db-latency.md
roles: { incident_commander: Dana, scribe: Lee }
max_duration: 20m
targets:
  db: { hosts: [db-1.internal, "db-2.internal:2222"], user: chaos, sudo: true }
  here: { local: true }
metrics:
  queue_depth: { command: "cat /var/run/queue/depth", target: here, every: 2s }
steady_state:
  - { metric: queue_depth, below: 100 }
abort:
  - { metric: queue_depth, above: 500, for: 30s }
steps:
  - { name: Baseline, duration: 2m, prompt: "Confirm dashboards are green." }
  - name: Slow database
    duration: 5m
    prompt: "You are paged. Follow the runbook."
    runbook: runbooks/checkout-db-latency.md#diagnose
    faults:
      - kind: command
        target: here
        inject: "touch /tmp/flag"
        rollback: "rm -f /tmp/flag"
        verify: "test ! -e /tmp/flag"
  - { name: Recovery, duration: 3m }
"#;

/// A project layout like the real one: scenarios/ and runbooks/ side by side.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
    std::fs::create_dir_all(dir.path().join("runbooks")).unwrap();
    std::fs::write(
        dir.path().join("runbooks/checkout-db-latency.md"),
        "# Checkout DB latency\n\n## Diagnose\n\nLook at p99.\n",
    )
    .unwrap();
    dir
}

fn check(yaml: &str) -> Result<Scenario, Vec<Diagnostic>> {
    let dir = project();
    let path = dir.path().join("scenarios/s.yaml");
    Scenario::parse(&path, yaml).map_err(|e| e.0)
}

/// Asserts exactly one problem, at `line:col`, whose message contains `needle`.
fn assert_one(yaml: &str, line: u64, col: u64, needle: &str) {
    let diags = check(yaml).expect_err("should be invalid");
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert!(
        d.message.contains(needle),
        "message `{}` lacks `{needle}`",
        d.message
    );
    assert_eq!((d.line, d.column), (line, col), "{d}");
    assert!(
        d.to_string().contains(&format!("s.yaml:{line}:{col}: ")),
        "{d}"
    );
}

#[test]
fn the_issue_example_is_valid() {
    let s = check(VALID).unwrap();
    assert_eq!(s.max_duration, Duration::from_secs(1200));
    assert_eq!(s.steps.len(), 3);
    assert_eq!(s.steps[1].faults[0].id, "s2f1");
    assert_eq!(
        s.steps[1].runbook.as_ref().unwrap().anchor.as_deref(),
        Some("diagnose")
    );
    let Transport::Ssh { hosts, sudo, .. } = &s.targets["db"].transport else {
        panic!("db is ssh")
    };
    assert!(*sudo);
    assert_eq!(
        hosts[1],
        HostAddr {
            host: "db-2.internal".into(),
            port: 2222
        }
    );
    assert_eq!(s.abort[0].sustained, Duration::from_secs(30));
    assert_eq!(s.abort[0].no_data, NoData::Breach, "fail closed by default");
}

#[test]
fn unknown_key() {
    let y = VALID.replace(
        "  - { name: Recovery, duration: 3m }",
        "  - { name: Recovery, duration: 3m, colour: red }",
    );
    assert_one(&y, 28, 37, "unknown field `colour`");
}

#[test]
fn wrong_type() {
    let y = VALID.replace("below: 100", "below: lots");
    assert_one(&y, 13, 35, "invalid floating point");
}

#[test]
fn bad_duration() {
    let y = VALID.replace("duration: 5m", "duration: 5 minutes");
    assert_one(&y, 19, 15, "unknown unit");
}

#[test]
fn missing_max_duration() {
    let y = VALID.replace("max_duration: 20m\n", "");
    let diags = check(&y).unwrap_err();
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(
        diags[0].message.contains("missing field `max_duration`"),
        "{}",
        diags[0]
    );
    assert!(diags[0].line >= 1 && diags[0].column >= 1);
}

#[test]
fn fault_without_rollback_or_irreversible() {
    let y = VALID.replace("        rollback: \"rm -f /tmp/flag\"\n", "");
    assert_one(&y, 23, 9, "neither `rollback:` nor `irreversible: true`");
}

#[test]
fn irreversible_fault_needs_no_rollback() {
    let y = VALID
        .replace(
            "        rollback: \"rm -f /tmp/flag\"\n",
            "        irreversible: true\n",
        )
        .replace("        verify: \"test ! -e /tmp/flag\"\n", "");
    assert!(check(&y).unwrap().steps[1].faults[0].irreversible);
}

#[test]
fn undefined_target() {
    let y = VALID.replace("        target: here\n", "        target: there\n");
    assert_one(
        &y,
        24,
        17,
        "undefined target `there`; defined targets: db, here",
    );
}

#[test]
fn undefined_metric() {
    let y = VALID.replace(
        "{ metric: queue_depth, above: 500",
        "{ metric: queue_dpth, above: 500",
    );
    assert_one(&y, 15, 15, "undefined metric `queue_dpth`");
}

#[test]
fn steps_longer_than_max_duration() {
    let y = VALID.replace("max_duration: 20m", "max_duration: 9m");
    assert_one(
        &y,
        6,
        15,
        "steps add up to 10m which is more than max_duration 9m",
    );
}

#[test]
fn runbook_file_missing() {
    let y = VALID.replace(
        "runbook: runbooks/checkout-db-latency.md\n",
        "runbook: runbooks/nope.md\n",
    );
    assert_one(&y, 4, 10, "runbook `runbooks/nope.md` not found");
}

#[test]
fn runbook_anchor_missing() {
    let y = VALID.replace("#diagnose", "#mitigate");
    assert_one(&y, 21, 14, "no heading for anchor `#mitigate`");
}

#[test]
fn every_problem_is_reported_at_once_in_line_order() {
    let y = VALID
        .replace("max_duration: 20m", "max_duration: 9m")
        .replace("        target: here\n", "        target: there\n")
        .replace(
            "{ metric: queue_depth, above: 500",
            "{ metric: nope, above: 500",
        );
    let diags = check(&y).unwrap_err();
    let at: Vec<(u64, u64)> = diags.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(at, [(6, 15), (15, 15), (24, 17)], "{diags:#?}");
}

#[test]
fn yaml_syntax_error_has_a_location() {
    let diags = check("title: [unclosed\n").unwrap_err();
    assert_eq!(diags.len(), 1);
    assert!(diags[0].line >= 1);
    assert!(
        !diags[0].message.contains(" at line "),
        "location is not repeated: {}",
        diags[0]
    );
}

#[test]
fn rules_need_exactly_one_condition() {
    let y = VALID.replace(
        "{ metric: queue_depth, below: 100 }",
        "{ metric: queue_depth }",
    );
    assert_one(&y, 13, 5, "needs exactly one of above, below, between");
}

#[test]
fn hosts_with_shell_metacharacters_are_rejected() {
    for bad in [
        "db;rm -rf /",
        "$(touch x)",
        "`id`",
        "-oProxyCommand=x",
        "a b",
        "{a,b}",
    ] {
        let y = VALID.replace("db-1.internal", &format!("{bad:?}"));
        let diags = check(&y).expect_err(bad);
        assert!(
            diags.iter().any(|d| d.message.contains("not a valid host")),
            "{bad}: {diags:#?}"
        );
    }
}

#[test]
fn host_forms() {
    assert_eq!(
        parse_host("db").unwrap(),
        HostAddr {
            host: "db".into(),
            port: 22
        }
    );
    assert_eq!(parse_host("db:2222").unwrap().port, 2222);
    assert_eq!(
        parse_host("[::1]:2200").unwrap(),
        HostAddr {
            host: "::1".into(),
            port: 2200
        }
    );
    assert_eq!(parse_host("fe80::1").unwrap().port, 22);
    assert!(parse_host("db:0").is_err());
    assert!(parse_host("db:http").is_err());
}

#[test]
fn slugs_and_anchors() {
    let s = check(VALID).unwrap();
    assert_eq!(s.slug(), "checkout-survives-a-slow-database");
    let anchors = markdown_anchors("# Top\n```\n# not a heading\n```\n## Roll back (by hand)\n");
    assert!(anchors.contains("top"));
    assert!(anchors.contains("roll-back-by-hand"));
    assert!(!anchors.contains("not-a-heading"));
}
