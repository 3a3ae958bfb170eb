//! A real Filebeat for the tests, built from the Go module proxy by the repository's own
//! `filebeat/build.sh` and cached by version (docs/filebeat.md).

use std::path::PathBuf;
use std::process::Command;

/// The path of the Filebeat binary, building it first when it is not cached (several
/// minutes the first time).
///
/// # Panics
/// When it cannot be built, with the script's output: a test that needs Filebeat fails.
pub fn binary() -> PathBuf {
    let script = crate::stack::repo_root().join("filebeat/build.sh");
    let output = match Command::new(&script).output() {
        Ok(output) => output,
        Err(error) => panic!("cannot run {}: {error}", script.display()),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`{}` failed ({}):\n{stderr}",
        script.display(),
        output.status
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}
