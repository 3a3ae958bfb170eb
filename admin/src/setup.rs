//! `setup`: installs what netsensor needs in the cluster (through
//! `netsensor_elastic::setup`), optionally Kibana's saved objects and a sensor API key.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use netsensor_elastic::names;
use netsensor_elastic::setup::{self, SetupOptions};
use netsensor_elastic::templates::Scope;

use crate::cli::{ConnectionArgs, SetupArgs};
use crate::connect::{cluster_config, Ctx};
use crate::error::{AdminError, Result};
use crate::kibana::Flavor;

/// Where the saved objects live when not given: installed, else in a checkout.
fn default_kibana_objects() -> PathBuf {
    let installed = Path::new("/usr/share/netsensor/kibana-objects");
    if installed.is_dir() {
        installed.to_owned()
    } else {
        PathBuf::from("kibana-objects")
    }
}

/// Runs the `setup` command.
pub async fn run(ctx: &Ctx, args: &SetupArgs, connection: &ConnectionArgs) -> Result<()> {
    for namespace in &args.namespaces {
        if !names::valid_namespace(namespace) {
            return Err(AdminError::Usage(format!(
                "invalid namespace {namespace:?}: lower case, no '-', no spaces or \\/*?\"<>|,#:"
            )));
        }
    }
    let options = SetupOptions {
        namespaces: args.namespaces.clone(),
        scope: match &args.template_scope {
            Some(prefix) => Scope::Namespace(prefix.clone()),
            None => Scope::All,
        },
        lifecycle: !args.no_lifecycle,
        create_data_streams: true,
        roles: !args.no_roles,
        sensor_api_key: args
            .sensor_api_key_out
            .as_ref()
            .map(|_| args.sensor_api_key_name.clone()),
    };
    let report = setup::install(&ctx.cluster, &options).await?;
    let steps: Vec<_> = report
        .steps
        .iter()
        .map(|s| json!({"object": s.object, "outcome": s.outcome.to_string()}))
        .collect();
    let mut out = json!({
        "engine": crate::connect::engine_json(&ctx.engine),
        "changed": report.changed(),
        "steps": steps,
    });
    if !ctx.json {
        print!("{report}");
    }

    if let Some(path) = &args.sensor_api_key_out {
        match &report.sensor_api_key {
            Some(key) => {
                write_secret(path, &key.encoded)?;
                if !ctx.json {
                    println!(
                        "sensor API key {} ({}) written to {} (mode 0600)",
                        key.name,
                        key.id,
                        path.display()
                    );
                }
                out["sensor_api_key"] = json!({"id": key.id, "name": key.name,
                                               "file": path.display().to_string()});
            }
            None => {
                tracing::warn!("security is not enabled; no sensor API key created");
                if !ctx.json {
                    println!("security is not enabled on this cluster: no sensor API key created");
                }
            }
        }
    }

    let dir = args
        .kibana_objects
        .clone()
        .unwrap_or_else(default_kibana_objects);
    let targets = [
        (&args.kibana_url, Flavor::Kibana, dir.clone(), "kibana"),
        (
            &args.dashboards_url,
            Flavor::OpenSearchDashboards,
            dir.join(crate::kibana::OSD_DIR),
            "dashboards",
        ),
    ];
    for (url, flavor, dir, key) in targets {
        let Some(url) = url else { continue };
        if !dir.is_dir() {
            if !ctx.json {
                println!(
                    "{key}: no saved objects directory at {}; nothing imported",
                    dir.display()
                );
            }
            continue;
        }
        let files = crate::kibana::ndjson_files(&dir)?;
        let config = cluster_config(connection)?;
        let results = crate::kibana::import(url, flavor, &config, &files).await?;
        let failed: usize = results.iter().map(|r| r.errors.len()).sum();
        if !ctx.json {
            for r in &results {
                println!(
                    "{key}: imported {} objects from {} ({} errors)",
                    r.success_count,
                    r.file,
                    r.errors.len()
                );
            }
        }
        out[key] = json!(results);
        if failed > 0 {
            return Err(AdminError::Failed(format!(
                "{key}: {failed} saved objects were rejected; see the errors above"
            )));
        }
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(())
}

/// Writes a secret to a new file readable by its owner only (0600 from creation, so it is
/// never readable by others, not even briefly).
fn write_secret(path: &Path, secret: &netsensor_elastic::Sensitive) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| AdminError::io("create", path, err))?;
    // An existing file keeps its mode on open; make sure it is 0600.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|err| AdminError::io("chmod", path, err))?;
    file.write_all(secret.expose().as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all())
        .map_err(|err| AdminError::io("write", path, err))
}
