//! The manual pages the Debian package ships (`packaging/man/`) are what `netsensor man`
//! generates from the command-line definitions: a flag added or renamed without
//! regenerating them fails here.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

fn pages(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

#[test]
fn packaged_man_pages_match_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let status = common::netsensor()
        .arg("man")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let generated = pages(dir.path());
    let committed = pages(&common::repo().join("packaging/man"));
    assert!(
        generated.contains_key("netsensor.1") && generated.contains_key("netsensor-replay.1"),
        "{:?}",
        generated.keys()
    );
    assert!(
        generated["netsensor.1"].contains("netsensor\\-replay(1)"),
        "the main page lists the subcommands' pages"
    );
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "regenerate with: netsensor man packaging/man"
    );
    for (name, page) in &generated {
        assert_eq!(
            page, &committed[name],
            "{name} is stale; regenerate with: netsensor man packaging/man"
        );
    }
}
