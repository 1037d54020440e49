//! `gameday demo`: the demo scenarios and runbooks built into the binary, and a lab to run them on.
//!
//! [`Demo::prepare`] writes the chosen scenario and every demo runbook into a scratch directory
//! (removed when the [`Demo`] is dropped), starts a two-host [`Lab`] there and points the scenario
//! at it, so the demo goes through exactly the SSH path of a real run from any directory.

use std::path::{Path, PathBuf};

use super::Lab;
use crate::scenario::Scenario;

/// The demo scenarios, by name (the file name without `.yaml`).
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "demo-latency",
        include_str!("../../scenarios/demo-latency.yaml"),
    ),
    (
        "demo-error-storm",
        include_str!("../../scenarios/demo-error-storm.yaml"),
    ),
    (
        "demo-process-kill",
        include_str!("../../scenarios/demo-process-kill.yaml"),
    ),
];

/// The runbooks the demo scenarios link to.
pub const RUNBOOKS: &[(&str, &str)] = &[
    (
        "demo-latency.md",
        include_str!("../../runbooks/demo-latency.md"),
    ),
    (
        "demo-error-storm.md",
        include_str!("../../runbooks/demo-error-storm.md"),
    ),
    (
        "demo-process-kill.md",
        include_str!("../../runbooks/demo-process-kill.md"),
    ),
];

/// The demo run when none is named.
pub const DEFAULT: &str = "demo-latency";

/// A scratch directory under the system temp dir, removed (with the lab's client key) on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn create() -> std::io::Result<ScratchDir> {
        let base = std::env::temp_dir().join(format!(
            "gameday-lab-{}-{:x}",
            std::process::id(),
            chrono::Utc::now().timestamp_subsec_nanos()
        ));
        // Created here, private, and never an existing one: a directory of that name that
        // another user made first (the temp dir is shared) is refused, not used for the lab's
        // client key.
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&base)?;
        Ok(ScratchDir(base))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The built-in demo called `wanted` (`demo-latency`, `latency`, `demo-latency.yaml` and
/// `scenarios/demo-latency.yaml` all name the same one).
pub fn find(wanted: &str) -> Result<(&'static str, &'static str), String> {
    let wanted = wanted.trim_end_matches(".yaml");
    let wanted = wanted.rsplit('/').next().unwrap_or(wanted);
    SCENARIOS
        .iter()
        .find(|(n, _)| *n == wanted || n.strip_prefix("demo-") == Some(wanted))
        .copied()
        .ok_or_else(|| {
            let names: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
            format!("no demo `{wanted}`; the demos are: {}", names.join(", "))
        })
}

/// A demo ready to run: its scenario pointed at a running lab. Drop it after the run: that stops
/// the lab and removes its directory.
pub struct Demo {
    pub name: &'static str,
    pub scenario: Scenario,
    // Field order is drop order: the lab stops before its directory goes.
    pub lab: Lab,
    dir: ScratchDir,
}

impl Demo {
    /// Writes the demo `wanted` and its runbooks to a scratch directory, starts the lab and
    /// localizes the scenario to it.
    pub async fn prepare(wanted: &str) -> Result<Demo, String> {
        let (name, text) = find(wanted)?;
        let dir =
            ScratchDir::create().map_err(|e| format!("cannot create the lab directory: {e}"))?;
        let scenario_path = dir.path().join("scenarios").join(format!("{name}.yaml"));
        let written = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(dir.path().join("scenarios"))?;
            std::fs::create_dir_all(dir.path().join("runbooks"))?;
            std::fs::write(&scenario_path, text)?;
            for (rb, md) in RUNBOOKS {
                std::fs::write(dir.path().join("runbooks").join(rb), md)?;
            }
            Ok(())
        })();
        written.map_err(|e| format!("cannot prepare the demo in {}: {e}", dir.path().display()))?;
        let mut scenario = Scenario::load(&scenario_path).map_err(|invalid| invalid.to_string())?;
        let lab = Lab::start(&dir.path().join("lab"), 2)
            .await
            .map_err(|e| format!("cannot start the lab: {e}"))?;
        lab.localize(&mut scenario);
        Ok(Demo {
            name,
            scenario,
            lab,
            dir,
        })
    }

    /// The scratch directory: the scenario, runbooks and lab (its client key too).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What a headless run prints first: the lab's hosts with their ports, and its directory
    /// (where each host's fault knobs are; removed when the demo ends).
    pub fn banner(&self) -> String {
        let mut s = format!(
            "gameday demo: scenario {}, lab in {} (removed when the demo ends)",
            self.name,
            self.dir.path().display()
        );
        for h in &self.lab.hosts {
            s.push_str(&format!(
                "\n  {}: ssh 127.0.0.1:{} (strict host keys), shop http://127.0.0.1:{}/, knobs in {}/faults",
                h.name,
                h.ssh.port,
                h.shop.port,
                h.sandbox.display()
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab's scratch directory (it holds the lab's client key) is private to this user.
    #[test]
    fn the_scratch_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = ScratchDir::create().unwrap();
        let mode = std::fs::metadata(d.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }

    #[test]
    fn every_builtin_demo_is_valid_and_found_by_each_of_its_names() {
        for (name, text) in SCENARIOS {
            let path = PathBuf::from(format!("scenarios/{name}.yaml"));
            Scenario::parse(&path, text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let short = name.trim_start_matches("demo-");
            for alias in [
                name.to_string(),
                short.to_string(),
                format!("{name}.yaml"),
                format!("scenarios/{name}.yaml"),
            ] {
                assert_eq!(find(&alias).map(|d| d.0), Ok(*name), "{alias}");
            }
        }
        let err = find("nope").unwrap_err();
        assert!(err.contains("demo-latency"), "{err}");
    }
}
