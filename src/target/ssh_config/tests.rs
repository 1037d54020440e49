//! The ssh config reader: aliases, patterns, Include, first value wins, scenario values win,
//! ProxyJump, and errors at FILE:LINE.

use super::*;
use crate::scenario::Transport;

fn parse(text: &str) -> SshConfig {
    SshConfig::parse(Path::new("config"), text).unwrap()
}

fn ssh_target(host: &str) -> Transport {
    Transport::Ssh {
        hosts: vec![crate::scenario::parse_host(host).unwrap()],
        user: None,
        sudo: false,
        identity: None,
    }
}

const CONFIG: &str = r#"
# a comment
Host web-1 web-1.alias
    HostName 10.0.0.11
    Port 2222
    User deploy
    IdentityFile ~/.ssh/web_ed25519

Host db-* !db-skip
    HostName %h.db.internal
    User=postgres
    IdentityFile "/keys/db key"

Match exec "test -e /tmp/x"
    IdentityAgent ~/.agent.sock

Host *
    User fallback
    Port 2200
    HashKnownHosts yes
"#;

#[test]
fn an_alias_gets_hostname_port_user_and_identity() {
    let c = parse(CONFIG);
    let w = c.query("web-1").unwrap();
    assert_eq!(w.host_name.as_deref(), Some("10.0.0.11"));
    // First value wins: `Host *` comes later.
    assert_eq!(w.port, Some(2222));
    assert_eq!(w.user.as_deref(), Some("deploy"));
    let home = std::env::var("HOME").unwrap();
    assert_eq!(
        w.identity,
        Some(PathBuf::from(format!("{home}/.ssh/web_ed25519")))
    );
    assert_eq!(
        c.query("WEB-1.alias").unwrap().host_name.as_deref(),
        Some("10.0.0.11")
    );
}

#[test]
fn patterns_with_star_negation_and_percent_h() {
    let c = parse(CONFIG);
    let d = c.query("db-7").unwrap();
    assert_eq!(d.host_name.as_deref(), Some("db-7.db.internal"));
    assert_eq!(d.user.as_deref(), Some("postgres"));
    assert_eq!(d.identity, Some(PathBuf::from("/keys/db key")));
    assert_eq!(d.port, Some(2200));
    // The negated name falls through to `Host *`.
    let s = c.query("db-skip").unwrap();
    assert_eq!(s.host_name, None);
    assert_eq!(s.user.as_deref(), Some("fallback"));
    assert!(c.hash_known_hosts("anything"));
    assert!(!parse("Host a\n HashKnownHosts no\n").hash_known_hosts("a"));
    assert!(wildcard("web-??.example", "web-01.example"));
    assert!(!wildcard("web-?", "web-10"));
    assert!(wildcard("*", ""));
}

#[test]
fn include_is_followed_with_globs_and_its_host_blocks_end_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("config.d")).unwrap();
    std::fs::write(
        d.join("config.d/10-web"),
        "Host web-9\n  HostName 10.0.9.9\n  Port 2209\n",
    )
    .unwrap();
    std::fs::write(
        d.join("config.d/20-db"),
        "Host db-9\n  HostName 10.0.9.10\n",
    )
    .unwrap();
    std::fs::write(d.join("config.d/ignored.txt"), "Host *\n  Port 1\n").unwrap();
    let main = d.join("config");
    std::fs::write(
        &main,
        format!("Include {}/config.d/??-*\nUser everyone\n", d.display()),
    )
    .unwrap();
    let c = SshConfig::load(&main).unwrap();
    let w = c.query("web-9").unwrap();
    assert_eq!(w.host_name.as_deref(), Some("10.0.9.9"));
    assert_eq!(w.port, Some(2209));
    // `User` after the Include applies to every host again: web-9's block ended with its file.
    assert_eq!(w.user.as_deref(), Some("everyone"));
    assert_eq!(
        c.query("db-9").unwrap().host_name.as_deref(),
        Some("10.0.9.10")
    );
    assert_eq!(c.query("other").unwrap().port, None, "ignored.txt not read");
    assert!(c.files.len() >= 3, "{:?}", c.files);
    // An include that includes itself stops at the depth bound, with its place.
    let looped = d.join("loop");
    std::fs::write(&looped, format!("Include {}\n", looped.display())).unwrap();
    let e = SshConfig::load(&looped).unwrap_err();
    assert!(e.message.contains("nested deeper"), "{e}");
    assert_eq!(e.line, 1);
}

#[test]
fn a_match_block_setting_what_gameday_uses_is_refused_at_its_line() {
    let e = SshConfig::parse(
        Path::new("cfg"),
        "Host a\n  Port 2\nMatch host web-* exec \"true\"\n  ForwardAgent no\n  HostName other\n",
    )
    .unwrap_err();
    assert_eq!(e.line, 5, "{e}");
    assert!(
        e.message.contains("`HostName` under the `Match` of line 3")
            && e.message.contains("--ssh-config"),
        "{e}"
    );
    // `Match all` applies to every host, like `Host *`.
    let c = parse("Match all\n  User everyone\n");
    assert_eq!(c.query("x").unwrap().user.as_deref(), Some("everyone"));
}

#[test]
fn errors_name_the_file_and_line() {
    let e = SshConfig::parse(Path::new("cfg"), "Host a\n  Port abc\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cfg:2: Port `abc` is not a number from 1 to 65535"
    );
    let e = SshConfig::parse(Path::new("cfg"), "Host a\n  HostName \"x\n").unwrap_err();
    assert_eq!((e.line, e.message.as_str()), (2, "unbalanced quotes"));
    let c = parse("Host a\n  HostName %r.example\n");
    let e = c.query("a").unwrap_err();
    assert!(e.message.contains("`%r`") && e.line == 2, "{e}");
}

#[test]
fn scenario_values_win_and_the_address_stays_as_written() {
    let c = parse(CONFIG);
    // Nothing given in the scenario: the config supplies everything.
    let t = &configured_targets(&ssh_target("web-1"), Some(&c)).unwrap()[0];
    assert_eq!(t.addr, HostAddr::new("web-1", 22), "identity as written");
    assert_eq!(t.user, "deploy");
    let r = t.route.as_ref().unwrap();
    assert_eq!(
        (r.host.as_str(), r.port, r.jump.is_none()),
        ("10.0.0.11", 2222, true)
    );
    assert!(t.identity.as_ref().unwrap().ends_with(".ssh/web_ed25519"));
    // The scenario's port, user and identity win.
    let transport = Transport::Ssh {
        hosts: vec![crate::scenario::parse_host("web-1:2300").unwrap()],
        user: Some("chaos".into()),
        sudo: false,
        identity: Some(PathBuf::from("/keys/chaos")),
    };
    let t = &configured_targets(&transport, Some(&c)).unwrap()[0];
    assert_eq!(t.user, "chaos");
    assert_eq!(t.identity, Some(PathBuf::from("/keys/chaos")));
    assert_eq!(t.route.as_ref().unwrap().port, 2300);
    // An inventory's ansible_user is written too, so it wins over the config's User.
    let mut addr = HostAddr::new("web-1", 22);
    addr.user = Some("ansible".into());
    let transport = Transport::Ssh {
        hosts: vec![addr],
        user: None,
        sudo: false,
        identity: None,
    };
    assert_eq!(
        configured_targets(&transport, Some(&c)).unwrap()[0].user,
        "ansible"
    );
    // A host no block rewrites keeps no route.
    let c = parse("Host other\n  HostName x\n");
    assert!(
        configured_targets(&ssh_target("web-1"), Some(&c)).unwrap()[0]
            .route
            .is_none()
    );
}

#[test]
fn proxy_jump_through_one_bastion_looked_up_in_the_config() {
    let c = parse(
        "Host inner\n  HostName 10.1.0.5\n  ProxyJump ops@bastion:2022\nHost bastion\n  HostName 192.0.2.1\n  IdentityFile /keys/bastion\nHost deep\n  ProxyJump a,b\nHost via-deep\n  ProxyJump inner\nHost direct\n  ProxyJump none\n",
    );
    let t = &configured_targets(&ssh_target("inner"), Some(&c)).unwrap()[0];
    let r = t.route.as_ref().unwrap();
    let j = r.jump.as_ref().unwrap();
    assert_eq!(j.addr, HostAddr::new("192.0.2.1", 2022));
    assert_eq!(j.addr.name.as_deref(), Some("bastion"));
    assert_eq!(j.user, "ops");
    assert_eq!(j.identity, Some(PathBuf::from("/keys/bastion")));
    assert_eq!(r.to_string(), "10.1.0.5 via ops@192.0.2.1:2022");
    // The manual line a person pastes works without the config.
    let manual = crate::target::ssh::manual_command(t, "true");
    assert!(
        manual.starts_with("ssh -p 22 -J ops@192.0.2.1:2022 ") && manual.contains("@10.1.0.5 "),
        "{manual}"
    );
    let e = configured_targets(&ssh_target("deep"), Some(&c)).unwrap_err();
    assert!(
        e.message.contains("more than one hop") && e.line == 8,
        "{e}"
    );
    let e = configured_targets(&ssh_target("via-deep"), Some(&c)).unwrap_err();
    assert!(e.message.contains("one bastion"), "{e}");
    assert!(
        configured_targets(&ssh_target("direct"), Some(&c)).unwrap()[0]
            .route
            .is_none()
    );
    // A ProxyCommand is refused for its host, never silently dialled direct.
    let c = parse("Host pc\n  ProxyCommand ssh -W %h:%p gw\nHost nopc\n  ProxyCommand none\n");
    let e = configured_targets(&ssh_target("pc"), Some(&c)).unwrap_err();
    assert!(e.message.contains("ProxyCommand") && e.line == 2, "{e}");
    assert!(configured_targets(&ssh_target("nopc"), Some(&c)).is_ok());
    // First of the two wins: a ProxyJump written after a ProxyCommand does not hide it.
    let c = parse("Host pc\n  ProxyCommand nc gw 22\nHost *\n  ProxyJump gw\n");
    assert!(configured_targets(&ssh_target("pc"), Some(&c)).is_err());
}

#[test]
fn validate_reports_hosts_the_config_cannot_be_applied_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.yaml");
    let s = crate::scenario::Scenario::parse(
        &path,
        "title: t\nhypothesis: h\nmax_duration: 5m\ntargets:\n  web: { hosts: [ok-1, deep-1] }\n  here: { local: true }\nsteps:\n  - { name: s, duration: 1m }\n",
    )
    .unwrap();
    let c = parse("Host deep-*\n  ProxyJump a,b\n");
    let problems = check_scenario(&c, &s);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("target `web`, host `deep-1`: ssh config config:2: ")
            && problems[0].contains("one bastion"),
        "{problems:?}"
    );
}

#[test]
fn an_include_inside_a_block_that_does_not_apply_never_applies() {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("inc");
    std::fs::write(&inc, "Host *\n  Port 2999\n").unwrap();
    let c = SshConfig::parse(
        Path::new("cfg"),
        &format!(
            "Host only-this\n  Include {}\nHost *\n  Port 2000\n",
            inc.display()
        ),
    )
    .unwrap();
    assert_eq!(c.query("only-this").unwrap().port, Some(2999));
    // For any other host the included `Host *` is inside `Host only-this`: not applied.
    assert_eq!(c.query("other").unwrap().port, Some(2000));
}

#[test]
fn odd_host_names_and_users_are_refused() {
    let e = SshConfig::parse(Path::new("cfg"), "Host a\n  User \"x;rm\"\n").unwrap_err();
    assert!(e.line == 2 && e.message.contains("not a user name"), "{e}");
    let c = parse("Host a\n  HostName \"x y\"\nHost b\n  HostName 10.0.0.1:22\n");
    for h in ["a", "b"] {
        let e = configured_targets(&ssh_target(h), Some(&c)).unwrap_err();
        assert_eq!(e.line, if h == "a" { 2 } else { 4 }, "{e}");
    }
}
