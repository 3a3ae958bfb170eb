//! `setup`: installs what netsensor needs in the cluster (through
//! `netsensor_elastic::setup`), optionally Kibana's saved objects and a sensor API key.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::{ConnectionArgs, SetupArgs};
use crate::connect::{cluster_config, Ctx};
use crate::error::{AdminError, Result};

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
    let mut out = json!({});
    install(ctx, &mut out).await?;

    if let Some(path) = &args.sensor_api_key_out {
        let key = create_sensor_key(ctx, &args.sensor_api_key_name).await?;
        write_secret(path, &key)?;
        if !ctx.json {
            println!(
                "sensor API key {:?} written to {} (mode 0600)",
                args.sensor_api_key_name,
                path.display()
            );
        }
        out["sensor_api_key_file"] = json!(path.display().to_string());
    }

    if let Some(url) = &args.kibana_url {
        let dir = args
            .kibana_objects
            .clone()
            .unwrap_or_else(default_kibana_objects);
        if dir.is_dir() {
            let files = crate::kibana::ndjson_files(&dir)?;
            let config = cluster_config(connection)?;
            let results = crate::kibana::import(url, &config, &files).await?;
            let failed: usize = results.iter().map(|r| r.errors.len()).sum();
            if !ctx.json {
                for r in &results {
                    println!(
                        "kibana: imported {} objects from {} ({} errors)",
                        r.success_count,
                        r.file,
                        r.errors.len()
                    );
                }
            }
            out["kibana"] = json!(results);
            if failed > 0 {
                return Err(AdminError::Failed(format!(
                    "Kibana rejected {failed} saved objects; see the errors above"
                )));
            }
        } else if !ctx.json {
            println!(
                "kibana: no saved objects directory at {}; nothing imported",
                dir.display()
            );
        }
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(())
}

/// Installs templates, pipeline, lifecycle policy and data streams.
async fn install(_ctx: &Ctx, _out: &mut serde_json::Value) -> Result<()> {
    Err(AdminError::Unsupported(
        "netsensor_elastic::setup::install is not available yet".into(),
    ))
}

/// Creates the sensor's least-privilege API key; returns its encoded form.
async fn create_sensor_key(_ctx: &Ctx, _name: &str) -> Result<netsensor_elastic::Sensitive> {
    Err(AdminError::Unsupported(
        "netsensor_elastic::setup::create_sensor_api_key is not available yet".into(),
    ))
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
