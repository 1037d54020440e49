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
    assert_eq!(hosts[1], HostAddr::new("db-2.internal", 2222));
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
    assert_eq!(parse_host("db").unwrap(), HostAddr::new("db", 22));
    assert_eq!(parse_host("db:2222").unwrap().port, 2222);
    assert_eq!(
        parse_host("[::1]:2200").unwrap(),
        HostAddr::new("::1", 2200)
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

/// 1-based line and column of the first `needle` in `yaml`, shifted by `skip` characters.
fn pos(yaml: &str, needle: &str, skip: usize) -> (u64, u64) {
    let i = yaml
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in yaml"))
        + skip;
    let line = yaml[..i].matches('\n').count() + 1;
    let col = i - yaml[..i].rfind('\n').map_or(0, |n| n + 1) + 1;
    (line as u64, col as u64)
}

/// Asserts a problem at `line:col` whose message contains `needle` (others may be reported too).
fn assert_has(yaml: &str, (line, col): (u64, u64), needle: &str) {
    let diags = check(yaml).expect_err("should be invalid");
    assert!(
        diags
            .iter()
            .any(|d| (d.line, d.column) == (line, col) && d.message.contains(needle)),
        "no `{needle}` at {line}:{col} in {diags:#?}"
    );
}

/// VALID with a cpu fault (for `duration:`) and a scrape and an http metric (for URLs).
fn with_more() -> String {
    VALID
        .replace(
            "  - { name: Recovery, duration: 3m }",
            "  - { name: Recovery, duration: 3m, faults: [ { kind: cpu, target: db, lease: 60s, timeout: 30s, duration: 5m } ] }",
        )
        .replace(
            "metrics:\n",
            "metrics:\n  scraped: { scrape: 'http://127.0.0.1:9100/metrics', series: up }\n  probe: { http: 'http://127.0.0.1:8080/health' }\n",
        )
}

#[test]
fn the_extended_fixture_is_valid() {
    let s = check(&with_more()).unwrap();
    assert_eq!(s.steps[2].faults.len(), 1);
    assert_eq!(s.metrics.len(), 3);
}

/// Every duration field: an overflowing value is a parse error (not a saturated value) at the
/// value, and a value past its documented limit names that limit at the value.
#[test]
fn every_duration_field_is_bounded() {
    let y = with_more();
    // (text to replace, replacement with a value past the limit, expected words)
    let cases = [
        ("max_duration: 20m", "max_duration: 200h", "at most 168h"),
        ("duration: 5m\n", "duration: 21m\n", "at most 20m"),
        ("every: 2s", "every: 2h", "from 100ms to 1h"),
        ("every: 2s", "every: 50ms", "from 100ms to 1h"),
        ("every: 2s", "every: 2s, timeout: 6m", "from 100ms to 5m"),
        ("for: 30s", "for: 21m", "at most 20m"),
        ("lease: 60s", "lease: 25h", "from 5s to 24h"),
        ("lease: 60s", "lease: 2s", "from 5s to 24h"),
        ("timeout: 30s", "timeout: 11m", "from 100ms to 10m"),
        ("timeout: 30s", "timeout: 0s", "from 100ms to 10m"),
        ("duration: 5m }", "duration: 25h }", "from 1s to 24h"),
    ];
    for (from, to, words) in cases {
        let bad = y.replacen(from, to, 1);
        let value = to
            .rsplit(": ")
            .next()
            .unwrap()
            .trim_end_matches(['}', ' ', '\n']);
        let at = pos(
            &bad,
            to,
            to.len() - to.trim_start_matches(|c| c != ' ').len() + 1,
        );
        let at = if to.contains("timeout: 6m") {
            pos(&bad, "timeout: 6m", 9)
        } else {
            at
        };
        assert_has(&bad, at, words);
        assert_has(&bad, at, &format!("got {value}"));
        assert_has(&bad, at, "see Limits");

        let huge = y.replacen(from, &to.replacen(value, "99999999999999999h", 1), 1);
        let diags = check(&huge).expect_err(to);
        assert_eq!(diags.len(), 1, "{to}: {diags:#?}");
        assert!(diags[0].message.contains("too large"), "{}", diags[0]);
        assert_eq!((diags[0].line, diags[0].column), at, "{}", diags[0]);
    }
}

#[test]
fn step_sums_never_overflow() {
    let mut s = check(VALID).unwrap();
    for step in &mut s.steps {
        step.duration = Duration::MAX;
    }
    assert_eq!(s.planned_duration(), Duration::MAX);
    // Steps at the very limit still add up without a panic and are refused as too long.
    let y = VALID
        .replace("max_duration: 20m", "max_duration: 168h")
        .replace("duration: 2m,", "duration: 168h,")
        .replace("duration: 5m\n", "duration: 168h\n");
    assert_one(&y, 6, 15, "steps add up to 336h3m");
}

#[test]
fn non_finite_numbers_are_refused() {
    for (from, to, words) in [
        ("below: 100", "below: .nan", "finite"),
        ("below: 100", "below: .inf", "finite"),
        ("below: 100", "below: -.inf", "finite"),
        ("below: 100", "between: [-.inf, 100]", "finite"),
        ("below: 100", "between: [0, .nan]", "finite"),
        ("below: 100", "between: [100, 0]", "low <= high"),
    ] {
        let y = VALID.replace(from, to);
        assert_one(&y, 13, 5, words);
    }
    let y = VALID.replace("above: 500", "above: .nan");
    assert_one(&y, 15, 5, "finite");

    let scrape = with_more().replace("series: up", "series: up, quantile: .nan");
    assert_has(&scrape, pos(&scrape, ".nan", 0), "from 0 to 1, got NaN");
    let loss = VALID.replace(
        "      - kind: command\n        target: here\n        inject: \"touch /tmp/flag\"\n        rollback: \"rm -f /tmp/flag\"\n        verify: \"test ! -e /tmp/flag\"\n",
        "      - { kind: loss, target: db, interface: eth0, percent: .inf }\n",
    );
    assert_one(
        &loss,
        pos(&loss, ".inf", 0).0,
        pos(&loss, ".inf", 0).1,
        "at most 100, got inf",
    );
}

#[test]
fn credentials_in_metric_urls_are_refused() {
    let y = with_more();
    for (from, to) in [
        (
            "http://127.0.0.1:9100/metrics",
            "http://127.0.0.1:9100/metrics?Token=s3cr3t",
        ),
        (
            "http://127.0.0.1:8080/health",
            "http://ops:s3cr3t@127.0.0.1:8080/health",
        ),
        (
            "http://127.0.0.1:8080/health",
            "http://127.0.0.1:8080/health?x=1&api-key=s3cr3t",
        ),
    ] {
        let bad = y.replace(from, to);
        let (line, col) = pos(&bad, to, 0);
        // The value is single-quoted in the fixture: its span starts at the quote.
        assert_one(&bad, line, col - 1, "bearer_token_env");
        let d = check(&bad).unwrap_err();
        assert!(!d[0].message.contains("s3cr3t"), "{}", d[0]);
    }
    let prom = VALID.replace(
        "metrics:\n",
        "prometheus: { url: 'http://u:p@127.0.0.1:9090' }\nmetrics:\n  up: { prometheus: 'up', server: 'http://127.0.0.1:9090/?access_token=x' }\n",
    );
    let diags = check(&prom).unwrap_err();
    let at: Vec<(u64, u64)> = diags.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(at, [(10, 20), (12, 7)], "{diags:#?}");
    assert!(diags.iter().all(|d| d.message.contains("basic_auth_env")));
}

#[test]
fn other_numbers_are_bounded() {
    let y = with_more().replace(
        "{ http: 'http://127.0.0.1:8080/health' }",
        "{ http: 'http://127.0.0.1:8080/health', expect_status: 42 }",
    );
    assert_has(&y, pos(&y, "{ http:", 0), "from 100 to 599");
    let y = with_more()
        .replace("kind: cpu", "kind: memory, size: 2048T")
        .replace("lease: 60s, ", "");
    assert_has(&y, pos(&y, "2048T", 0), "at most 1024T");
    let y = with_more().replace("kind: cpu", "kind: cpu, workers: 1025");
    assert_has(&y, pos(&y, "1025", 0), "from 1 to 1024");
}

/// VALID with the issue's success criteria, roles with observers, and a recovery watch.
fn with_criteria() -> String {
    VALID
        .replace(
            "roles: { incident_commander: Dana, scribe: Lee }",
            "roles: { incident_commander: Dana, scribe: Lee, communications: Sam, observers: [Ana, Raj] }\nrecovery_watch: 90s",
        )
        .replace(
            "        verify: \"test ! -e /tmp/flag\"\n",
            "        verify: \"test ! -e /tmp/flag\"\n    expect: \"Queue drains within 30 s.\"\n    halt_on_failure: true\n    success:\n      - { metric: queue_depth, below: 100, throughout: true }\n      - { metric: queue_depth, above: 0.5, within: 30s }\n      - { metric: queue_depth, below: 10, within: 60s, after: rollback }\n      - { check: \"Pager alert reached on-call\", by: IC }\n",
        )
}

#[test]
fn success_criteria_roles_and_recovery_watch_are_read() {
    let s = check(&with_criteria()).unwrap();
    assert_eq!(s.roles["observers"], vec!["Ana".to_string(), "Raj".into()]);
    assert_eq!(s.roles["scribe"], vec!["Lee".to_string()]);
    assert_eq!(s.recovery_watch, Duration::from_secs(90));
    let step = &s.steps[1];
    assert!(step.halt_on_failure);
    assert_eq!(step.expect.as_deref(), Some("Queue drains within 30 s."));
    assert_eq!(step.success.len(), 4);
    assert_eq!(
        step.success[0].label,
        "queue_depth < 100 throughout the step"
    );
    assert_eq!(step.success[1].label, "queue_depth > 0.5 within 30s");
    assert_eq!(
        step.success[2].test,
        Test::Metric {
            metric: "queue_depth".into(),
            condition: Condition::Below(10.0),
            window: Window::AfterRollback {
                ms: Duration::from_secs(60)
            }
        }
    );
    assert_eq!(step.success[3].label, "Pager alert reached on-call");
    assert_eq!(
        step.success[3].test,
        Test::Check {
            by: Some("IC".into())
        }
    );
    // Default watch: 60 s, capped at max_duration.
    let s = check(VALID).unwrap();
    assert_eq!(s.recovery_watch, Duration::from_secs(60));
    // A journal written before lists read one name per role.
    let json = serde_json::to_value(&s).unwrap();
    let mut old = json.clone();
    old["roles"] = serde_json::json!({ "scribe": "Lee" });
    old.as_object_mut().unwrap().remove("recovery_watch");
    let back: Scenario = serde_json::from_value(old).unwrap();
    assert_eq!(back.roles["scribe"], vec!["Lee".to_string()]);
    assert_eq!(back.recovery_watch, Duration::ZERO);
}

#[test]
fn bad_success_criteria_are_pinned_to_their_place() {
    let y = with_criteria();
    let cases = [
        (
            "{ metric: queue_depth, above: 0.5, within: 30s }",
            "{ metric: queue_depth, above: 0.5, within: 6m }",
            "6m }",
            "at most",
        ),
        (
            "{ metric: queue_depth, above: 0.5, within: 30s }",
            "{ metric: nope, above: 0.5, within: 30s }",
            "nope",
            "undefined metric",
        ),
        (
            "{ metric: queue_depth, above: 0.5, within: 30s }",
            "{ metric: queue_depth, above: 0.5 }",
            "{ metric: queue_depth, above: 0.5 }",
            "throughout: true",
        ),
        (
            "{ metric: queue_depth, below: 10, within: 60s, after: rollback }",
            "{ metric: queue_depth, below: 10, within: 60s, after: restart }",
            "restart",
            "takes `rollback` only",
        ),
        (
            "{ metric: queue_depth, below: 10, within: 60s, after: rollback }",
            "{ metric: queue_depth, below: 10, within: 60s, after: rollback, check: x }",
            "{ metric: queue_depth, below: 10, within: 60s, after: rollback, check: x }",
            "exactly one of `metric:`",
        ),
        (
            "{ metric: queue_depth, below: 10, within: 60s, after: rollback }",
            "{ metric: queue_depth, below: 10, within: 15m, after: rollback }",
            "15m",
            "ends past max_duration",
        ),
        (
            "{ check: \"Pager alert reached on-call\", by: IC }",
            "{ check: \"Pager alert reached on-call\", by: IC, within: 5s }",
            "{ check: \"Pager alert reached on-call\", by: IC, within: 5s }",
            "takes no `within`",
        ),
        (
            "recovery_watch: 90s",
            "recovery_watch: 2h",
            "2h",
            "at most 20m",
        ),
        (
            "observers: [Ana, Raj]",
            "observers: [Ana, \"\"]",
            "[Ana",
            "must not be empty",
        ),
    ];
    for (from, to, at, words) in cases {
        let bad = y.replacen(from, to, 1);
        assert_has(&bad, pos(&bad, at, 0), words);
    }
    // Unknown keys are refused there too.
    let bad = y.replacen("throughout: true", "thruout: true", 1);
    assert!(check(&bad).is_err());
}

/// Who may tick a human check: by its `by:` and the scenario's roles (people named there count as
/// their role); observers never.
#[test]
fn a_check_names_the_seat_that_ticks_it() {
    let s = check(&with_criteria()).unwrap();
    let ok = |by: Option<&str>, seat: &str| s.may_tick(by, seat).is_ok();
    assert!(ok(None, "IC") && ok(None, "scribe") && !ok(None, "observer"));
    for by in ["IC", "incident_commander", "Dana", "dana"] {
        assert!(ok(Some(by), "IC"), "{by}");
        assert!(!ok(Some(by), "scribe"), "{by}");
    }
    for by in ["scribe", "Lee"] {
        assert!(ok(Some(by), "scribe"), "{by}");
        assert!(!ok(Some(by), "IC"), "{by}");
    }
    // Someone else (communications, a person): they tell the IC, who ticks it.
    for by in ["communications", "Sam", "Raj"] {
        assert!(ok(Some(by), "IC"), "{by}");
        assert!(!ok(Some(by), "scribe") && !ok(Some(by), "observer"), "{by}");
    }
    let why = s.may_tick(Some("Lee"), "IC").unwrap_err();
    assert!(why.contains("scribe seat"), "{why}");
}

/// `notify:` entries: read with their defaults, and every mistake pinned to its place.
#[test]
fn notify_entries_are_read_and_bad_ones_pinned() {
    use crate::scenario::{NotifyOn, NotifyTo, WebhookFormat};
    let with = |entries: &str| format!("{VALID}notify:\n{entries}");
    let s = check(&with(
        "  - { webhook: \"https://hooks.example/x\", format: slack, on: [verdict, halt] }\n  - { url_env: SLACK_URL }\n  - { grafana: \"https://grafana.internal\", token_env: GRAFANA_TOKEN, dashboard_uid: abc, tags: [gameday] }\n",
    ))
    .unwrap();
    assert_eq!(s.notify.len(), 3);
    assert_eq!(s.notify[0].on, vec![NotifyOn::Halt, NotifyOn::Verdict]);
    assert!(matches!(
        s.notify[0].to,
        NotifyTo::Webhook {
            format: WebhookFormat::Slack,
            ..
        }
    ));
    assert_eq!(s.notify[1].on, NotifyOn::ALL.to_vec());
    assert_eq!(s.notify[1].label(), "json webhook $SLACK_URL");
    assert_eq!(s.notify[2].label(), "grafana https://grafana.internal");

    let y = with("  - { webhook: \"https://a.example\", grafana: \"https://g.example\" }\n");
    assert_has(&y, pos(&y, "\"https://g.example", 0), "not both");
    let y = with("  - { grafana: \"https://g.example\" }\n");
    assert_has(&y, pos(&y, "\"https://g.example", 0), "needs `token_env");
    let y = with("  - { webhook: \"https://a.example\", on: [verdict, nope] }\n");
    assert_has(&y, pos(&y, "nope", 0), "`on` takes");
    let y = with("  - { webhook: \"https://a.example\", format: xml }\n");
    assert_has(&y, pos(&y, "xml", 0), "slack or json");
    let y = with("  - { url_env: \"https://hooks.example/secret\" }\n");
    assert_has(
        &y,
        pos(&y, "\"https://hooks", 0),
        "names an environment variable",
    );
    let y = with("  - { webhook: \"ftp://a.example\" }\n");
    assert_has(&y, pos(&y, "\"ftp", 0), "http:// or https://");
    let y = with("  - { webhook: \"https://user:pw@a.example\" }\n");
    assert_has(&y, pos(&y, "\"https://user", 0), "credentials");
    let y = with("  - { format: slack }\n");
    assert_has(&y, pos(&y, "{ format", 0), "needs `webhook");
}
