//! Turns the connection options into a [`Cluster`] and finds out which engine answers.

use std::path::Path;

use netsensor_elastic::{Auth, Cluster, ClusterConfig, Engine, Sensitive};
use serde_json::Value;

use crate::cli::ConnectionArgs;
use crate::error::{AdminError, Result};

/// What every command that talks to the cluster needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The cluster.
    pub cluster: Cluster,
    /// Which engine and version answers.
    pub engine: Engine,
    /// JSON output instead of text.
    pub json: bool,
    /// Whether stderr is a terminal (progress bars only then).
    pub terminal: bool,
}

/// Builds the client configuration; reads secret files now, so a wrong path fails first.
pub fn cluster_config(args: &ConnectionArgs) -> Result<ClusterConfig> {
    let mut config = ClusterConfig::new(args.url.clone());
    config.ca_file = args.ca_file.clone();
    config.request_timeout = args.timeout;
    let password = match &args.password_file {
        Some(path) => Some(read_secret(path, "password")?),
        None => env_secret("NETSENSOR_ES_PASSWORD"),
    };
    let api_key = match &args.api_key_file {
        Some(path) => Some(read_secret(path, "API key")?),
        None => env_secret("NETSENSOR_ES_API_KEY"),
    };
    config.auth = match (password, api_key) {
        (Some(_), Some(_)) => {
            return Err(AdminError::Usage(
                "give either a password or an API key, not both".into(),
            ))
        }
        (Some(password), None) => Auth::Basic {
            username: args.username.clone().unwrap_or_else(|| "elastic".into()),
            password,
        },
        (None, Some(key)) => Auth::ApiKey(key),
        (None, None) if args.username.is_some() => {
            return Err(AdminError::Usage(
                "--username needs a password: --password-file or NETSENSOR_ES_PASSWORD".into(),
            ))
        }
        (None, None) => Auth::None,
    };
    Ok(config)
}

/// Reads a secret from a file: the first line, without surrounding whitespace.
fn read_secret(path: &Path, what: &str) -> Result<Sensitive> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        AdminError::Config(format!(
            "cannot read the {what} file {}: {err}",
            path.display()
        ))
    })?;
    let secret = text.lines().next().unwrap_or("").trim();
    if secret.is_empty() {
        return Err(AdminError::Config(format!(
            "the {what} file {} is empty",
            path.display()
        )));
    }
    Ok(Sensitive::new(secret))
}

fn env_secret(name: &str) -> Option<Sensitive> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(Sensitive::new)
}

/// Connects and detects the engine; the first request, so it is where unreachable
/// clusters, refused credentials and TLS trouble show.
pub async fn connect(args: &ConnectionArgs, json: bool) -> Result<Ctx> {
    use std::io::IsTerminal;
    let cluster = Cluster::new(&cluster_config(args)?)?;
    let engine = Engine::detect(&cluster).await?;
    tracing::debug!(%engine, url = cluster.url(), "connected");
    Ok(Ctx {
        cluster,
        engine,
        json,
        terminal: std::io::stderr().is_terminal(),
    })
}

/// The engine as JSON, for `--json` outputs.
pub fn engine_json(engine: &Engine) -> Value {
    serde_json::json!({
        "flavor": engine.flavor.name(),
        "version": engine.version.to_string(),
        "cluster_name": engine.cluster_name,
    })
}
