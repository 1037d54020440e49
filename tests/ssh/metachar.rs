//! Shell metacharacters in every parameter and host name are rejected by validation or quoted so
//! that they stay data: a marker file the injection would create never appears.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gameday::fault::{FaultPlan, PlanContext};
use gameday::scenario::Scenario;
use gameday::target::Host;
use gameday::target::known_hosts;
use gameday::target::ssh::{SshHost, SshOptions, SshTarget};

/// Each tries to create `marker` if it ever reaches a shell unquoted.
fn evil(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        format!("x; touch {m}"),
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("x\ntouch {m}"),
        format!("x\0touch {m}"),
        format!("-x || touch {m}"),
        format!("{{a,b}} && touch {m}"),
        format!("x' ; touch {m} ; '"),
        format!("x\" ; touch {m} ; \""),
    ]
}

fn yaml(value: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar, escapes (\n, \u0000) included.
    serde_json::to_string(value).unwrap()
}

fn scenario(target: &str, fault: &str) -> Result<Scenario, gameday::scenario::Invalid> {
    let text = format!(
        "title: t\nhypothesis: h\nmax_duration: 1m\ntargets:\n  box: {target}\nsteps:\n  - name: s\n    duration: 1s\n    faults:\n      - {fault}\n"
    );
    Scenario::parse(Path::new("evil.yaml"), &text)
}

const BOX: &str = "{ hosts: [\"127.0.0.1:2222\"], user: ops }";

#[test]
fn metacharacters_in_names_are_rejected_by_validation() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    for v in evil(&marker) {
        let e = yaml(&v);
        let faults = [
            format!("{{ kind: latency, target: box, interface: {e}, delay: 100ms }}"),
            format!("{{ kind: loss, target: box, interface: {e}, percent: 5 }}"),
            format!("{{ kind: partition, target: box, peer: {e} }}"),
            format!("{{ kind: kill, target: box, process: {e}, irreversible: true }}"),
            format!(
                "{{ kind: kill, target: box, process: nginx, signal: {e}, irreversible: true }}"
            ),
            format!("{{ kind: stop_service, target: box, service: {e} }}"),
            format!("{{ kind: memory, target: box, size: {e} }}"),
            format!("{{ kind: disk_fill, target: box, path: /tmp, size: 1M, keep_free: {e} }}"),
            format!("{{ kind: disk_fill, target: box, path: /tmp, size: {e} }}"),
            format!("{{ kind: disk_fill, id: {e}, target: box, path: /tmp, size: 1M }}"),
        ];
        for f in &faults {
            assert!(scenario(BOX, f).is_err(), "accepted: {f}");
        }
        let ok_fault = "{ kind: stop_service, target: box, service: nginx }";
        let hosts = [
            format!("{{ hosts: [{e}], user: ops }}"),
            format!("{{ hosts: [\"127.0.0.1:2222\"], user: {e} }}"),
        ];
        for t in &hosts {
            assert!(scenario(t, ok_fault).is_err(), "accepted target: {t}");
        }
    }
    // A path with a NUL or a newline is rejected; relative paths too.
    for p in ["/tmp/a\0b", "/tmp/a\nb", "tmp/a"] {
        let f = format!(
            "{{ kind: disk_fill, target: box, path: {}, size: 1M }}",
            yaml(p)
        );
        assert!(scenario(BOX, &f).is_err(), "accepted path {p:?}");
    }
    assert!(!marker.exists());
}

/// Paths may hold any printable character: they are quoted. Run the generated lines for real,
/// through the SSH transport's own quoting (in-process server executing `sh -c`).
#[tokio::test]
async fn metacharacters_in_paths_stay_data_over_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let (server, identity) = crate::keyed_server(&dir.path().join("id"), 5, 6).await;
    let kh = dir.path().join("known_hosts");
    known_hosts::append(&kh, "127.0.0.1", server.port, &server.host_key).unwrap();
    let host = SshHost::connect(
        &SshTarget {
            addr: gameday::scenario::parse_host(&format!("127.0.0.1:{}", server.port)).unwrap(),
            user: "t".into(),
            sudo: false,
            identity: Some(identity),
            route: None,
        },
        &SshOptions {
            known_hosts: kh,
            ..SshOptions::default()
        },
    )
    .await
    .unwrap();
    let mut ran = 0;
    for (i, v) in evil(&marker).into_iter().enumerate() {
        if v.contains('\n') || v.contains('\0') {
            continue;
        }
        let d: PathBuf = dir.path().join(format!("d{i}"));
        std::fs::create_dir(&d).unwrap();
        let path = format!("{}/{}", d.display(), v.replace('/', "_"));
        std::fs::create_dir(&path).unwrap();
        let faults = [
            format!(
                "{{ kind: disk_fill, id: f{i}, target: box, path: {}, size: 64K, keep_free: 1M }}",
                yaml(&path)
            ),
            format!(
                "{{ kind: kill, id: k{i}, target: box, pid_file: {}, restart: 'true' }}",
                yaml(&format!("{path}/pid"))
            ),
        ];
        for f in &faults {
            let s = scenario(BOX, f).unwrap_or_else(|e| panic!("{f}: {e}"));
            let fault = &s.steps[0].faults[0];
            let plan = FaultPlan::of(
                fault,
                &PlanContext {
                    run: "r".into(),
                    management_port: Some(22),
                },
            );
            for cmd in [Some(&plan.inject), plan.undo.as_ref(), plan.verify.as_ref()]
                .into_iter()
                .flatten()
            {
                let out = host.exec(cmd, Duration::from_secs(10)).await;
                assert!(out.exit.is_some(), "{cmd}: {out:?}");
                ran += 1;
            }
        }
        // The disk_fill ran for real in the odd directory and was cleaned up.
        assert_eq!(std::fs::read_dir(&path).unwrap().count(), 0, "{path}");
    }
    assert!(ran > 20);
    assert!(!marker.exists(), "a metacharacter reached a shell unquoted");
}
