//! Scenario validation of the built-in fault kinds: typed parameters, errors at line:column.

use std::path::Path;

use gameday::scenario::{FaultSpec, Scenario};

fn parse(faults: &str) -> Result<Scenario, gameday::scenario::Invalid> {
    let text = format!(
        "title: t\nhypothesis: h\nmax_duration: 1m\ntargets:\n  box: {{ hosts: [db-1], user: ops }}\nsteps:\n  - name: s\n    duration: 1s\n    faults:\n{faults}"
    );
    Scenario::parse(Path::new("k.yaml"), &text)
}

fn spec(fault: &str) -> FaultSpec {
    let s = parse(&format!("      - {fault}\n")).unwrap_or_else(|e| panic!("{fault}: {e}"));
    s.steps[0].faults[0].spec.clone()
}

fn error(fault: &str) -> String {
    parse(&format!("      - {fault}\n"))
        .err()
        .unwrap_or_else(|| panic!("accepted: {fault}"))
        .to_string()
}

#[test]
fn every_kind_parses_to_typed_parameters() {
    assert_eq!(
        spec("{ kind: latency, target: box, interface: eth0, delay: 100ms, jitter: 10ms }"),
        FaultSpec::Latency {
            interface: "eth0".into(),
            delay_ms: 100,
            jitter_ms: 10
        }
    );
    assert_eq!(
        spec("{ kind: loss, target: box, interface: eth0, percent: 2.5 }"),
        FaultSpec::Loss {
            interface: "eth0".into(),
            percent: 2.5
        }
    );
    assert_eq!(
        spec("{ kind: partition, target: box, peer: 10.1.0.0/16 }"),
        FaultSpec::Partition {
            peer: "10.1.0.0/16".into()
        }
    );
    assert_eq!(
        spec(
            "{ kind: kill, target: box, process: nginx, signal: SIGTERM, restart: 'systemctl start nginx' }"
        ),
        FaultSpec::Kill {
            process: Some("nginx".into()),
            pid_file: None,
            signal: "TERM".into(),
            restart: Some("systemctl start nginx".into())
        }
    );
    assert_eq!(
        spec("{ kind: stop_service, target: box, service: nginx.service }"),
        FaultSpec::StopService {
            service: "nginx.service".into()
        }
    );
    assert_eq!(
        spec("{ kind: cpu, target: box, workers: 2, duration: 2m }"),
        FaultSpec::Cpu {
            workers: 2,
            duration_s: 120
        }
    );
    assert_eq!(
        spec("{ kind: memory, target: box, size: 512M }"),
        FaultSpec::Memory {
            bytes: 512 << 20,
            duration_s: 600
        }
    );
    assert_eq!(
        spec("{ kind: disk_fill, target: box, path: /var/tmp, size: 2G }"),
        FaultSpec::DiskFill {
            path: "/var/tmp".into(),
            bytes: 2 << 30,
            keep_free_bytes: 256 << 20
        }
    );
}

#[test]
fn errors_point_at_the_parameter() {
    let e = error("{ kind: latency, target: box, interface: eth0, delay: 2m }");
    assert!(
        e.starts_with("k.yaml:10:") && e.contains("delay must be from 1ms to 60s"),
        "{e}"
    );
    let e = error("{ kind: loss, target: box, interface: eth0, percent: 150 }");
    assert!(
        e.contains("percent must be more than 0 and at most 100"),
        "{e}"
    );
    let e = error("{ kind: latency, target: box, interface: eth0 }");
    assert!(e.contains("needs `delay:`"), "{e}");
    let e = error("{ kind: partition, target: box, peer: 0.0.0.0/0 }");
    assert!(e.contains("covers every address"), "{e}");
    let e = error("{ kind: kill, target: box, process: nginx }");
    assert!(e.contains("cannot be undone; add `restart:`"), "{e}");
    let e = error("{ kind: kill, target: box, irreversible: true }");
    assert!(
        e.contains("exactly one of `process:` and `pid_file:`"),
        "{e}"
    );
    let e = error("{ kind: disk_fill, target: box, path: /tmp, size: 1M, rollback: 'rm x' }");
    assert!(
        e.contains("`rollback` is not a parameter of kind disk_fill"),
        "{e}"
    );
    let e = error("{ kind: cpu, target: box, interface: eth0 }");
    assert!(
        e.contains("`interface` is not a parameter of kind cpu"),
        "{e}"
    );
    let e = error("{ kind: fry, target: box }");
    assert!(e.contains("known kinds: command, latency, loss"), "{e}");
    // Column of the offending value.
    let e = error("{ kind: stop_service, target: box, service: \"a b\" }");
    let col: u64 = e.split(':').nth(2).unwrap().parse().unwrap();
    assert_eq!(col, 53, "{e}"); // the opening quote of "a b"
}

#[test]
fn a_host_listed_twice_is_an_error() {
    let text = "title: t\nhypothesis: h\nmax_duration: 1m\ntargets:\n  box: { hosts: [db-1, \"db-1:22\"] }\nsteps:\n  - { name: s, duration: 1s }\n";
    let e = Scenario::parse(Path::new("k.yaml"), text)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("host `db-1` is listed twice"), "{e}");
}
