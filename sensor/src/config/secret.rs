//! Secrets in the configuration: where they come from and how they stay out of output.
//!
//! A secret is never written inline in the YAML file (files are copied, pasted into tickets
//! and committed); it names a file or an environment variable, `{ file: PATH }` or
//! `{ env: NAME }`. Once read, the value lives in a [`Secret`], whose `Debug`, `Display` and
//! `Serialize` all print `**REDACTED**`, so neither logs nor `netsensor check-config` can leak
//! it. Errors name the file or variable, never the value.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret prints as, wherever it is printed.
pub const REDACTED: &str = "**REDACTED**";

/// The message for a secret written inline in the configuration.
const INLINE_REFUSED: &str = "inline secrets are not accepted; use `file:` or `env:`";

/// A secret value; every way of printing it prints [`REDACTED`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value itself. Call this only where the value is used, never to print it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Where a secret comes from, as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `{ file: PATH }`: the file's contents, without trailing line breaks.
    File(PathBuf),
    /// `{ env: NAME }`: the environment variable's value.
    Env(String),
}

/// Why a secret could not be read. Messages name the source, never the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secret file could not be read.
    #[error("cannot read secret file `{}`: {error}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The environment variable is not set.
    #[error("environment variable `{name}` is not set")]
    EnvNotSet {
        /// The variable.
        name: String,
    },
    /// The environment variable is not valid Unicode.
    #[error("environment variable `{name}` is not valid Unicode")]
    EnvNotUnicode {
        /// The variable.
        name: String,
    },
    /// The secret is empty.
    #[error("secret from {source_name} is empty")]
    Empty {
        /// The file or variable, quoted.
        source_name: String,
    },
    /// The secret file is not valid UTF-8 where text is required.
    #[error("secret file `{}` is not valid UTF-8", path.display())]
    FileNotUtf8 {
        /// The file.
        path: PathBuf,
    },
}

impl SecretRef {
    /// Resolves a relative file path against `base` (the configuration file's directory).
    pub fn rebased(&self, base: &Path) -> SecretRef {
        match self {
            SecretRef::File(path) => SecretRef::File(base.join(path)),
            SecretRef::Env(name) => SecretRef::Env(name.clone()),
        }
    }

    fn source_name(&self) -> String {
        match self {
            SecretRef::File(path) => format!("file `{}`", path.display()),
            SecretRef::Env(name) => format!("environment variable `{name}`"),
        }
    }

    /// Reads the secret as bytes: the file's contents with trailing `\n`/`\r` removed, or
    /// the variable's value. An empty secret is an error.
    pub fn read_bytes(&self) -> Result<Secret<Vec<u8>>, SecretError> {
        let mut bytes = match self {
            SecretRef::File(path) => read_limited(path)?,
            SecretRef::Env(name) => read_env(name)?.into_bytes(),
        };
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        if bytes.is_empty() {
            return Err(SecretError::Empty {
                source_name: self.source_name(),
            });
        }
        Ok(Secret::new(bytes))
    }

    /// Reads the secret as text (see [`SecretRef::read_bytes`]); it must be UTF-8.
    pub fn read_string(&self) -> Result<Secret<String>, SecretError> {
        let bytes = self.read_bytes()?;
        match String::from_utf8(bytes.0) {
            Ok(text) => Ok(Secret::new(text)),
            Err(_) => match self {
                SecretRef::File(path) => Err(SecretError::FileNotUtf8 { path: path.clone() }),
                SecretRef::Env(name) => Err(SecretError::EnvNotUnicode { name: name.clone() }),
            },
        }
    }
}

fn read_env(name: &str) -> Result<String, SecretError> {
    match std::env::var(name) {
        Ok(value) => Ok(value),
        Err(std::env::VarError::NotPresent) => Err(SecretError::EnvNotSet {
            name: name.to_owned(),
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::EnvNotUnicode {
            name: name.to_owned(),
        }),
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            SecretRef::File(path) => map.serialize_entry("file", path)?,
            SecretRef::Env(name) => map.serialize_entry("env", name)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretRefVisitor)
    }
}

struct SecretRefVisitor;

impl SecretRefVisitor {
    fn inline<E: de::Error>() -> Result<SecretRef, E> {
        Err(E::custom(INLINE_REFUSED))
    }
}

impl<'de> Visitor<'de> for SecretRefVisitor {
    type Value = SecretRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`{ file: PATH }` or `{ env: NAME }`")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretRef, E> {
        Self::inline()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretRef, E> {
        Self::inline()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretRef, E> {
        Self::inline()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretRef, E> {
        Self::inline()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretRef, E> {
        Self::inline()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
        let mut found: Option<SecretRef> = None;
        while let Some(key) = map.next_key::<String>()? {
            let value = match key.as_str() {
                "file" => SecretRef::File(map.next_value::<PathBuf>()?),
                "env" => SecretRef::Env(map.next_value::<String>()?),
                other => return Err(de::Error::unknown_field(other, &["file", "env"])),
            };
            if found.is_some() {
                return Err(de::Error::custom(
                    "a secret has exactly one of `file:` or `env:`",
                ));
            }
            found = Some(value);
        }
        match found {
            Some(SecretRef::File(path)) if path.as_os_str().is_empty() => {
                Err(de::Error::custom("`file:` must not be empty"))
            }
            Some(SecretRef::Env(name)) if name.is_empty() => {
                Err(de::Error::custom("`env:` must not be empty"))
            }
            Some(found) => Ok(found),
            None => Err(de::Error::custom("a secret needs `file:` or `env:`")),
        }
    }
}

/// Largest secret file read; a key or token is far smaller, and a limit keeps a mistaken
/// path (`/dev/zero`, a log file) from exhausting memory.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads a regular file of at most [`MAX_SECRET_FILE_BYTES`].
fn read_limited(path: &std::path::Path) -> Result<Vec<u8>, SecretError> {
    use std::io::Read;
    let fail = |error| SecretError::ReadFile {
        path: path.to_owned(),
        error,
    };
    let file = std::fs::File::open(path).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(fail(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(fail(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_SECRET_FILE_BYTES} bytes"),
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{s}"), REDACTED);
        let yaml = serde_yaml_ng::to_string(&s).unwrap();
        assert_eq!(serde_yaml_ng::from_str::<String>(&yaml).unwrap(), REDACTED);
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn parses_file_and_env() {
        let f: SecretRef = serde_yaml_ng::from_str("{ file: /etc/k }").unwrap();
        assert_eq!(f, SecretRef::File("/etc/k".into()));
        let e: SecretRef = serde_yaml_ng::from_str("env: TOKEN").unwrap();
        assert_eq!(e, SecretRef::Env("TOKEN".into()));
    }

    #[test]
    fn refuses_inline_and_malformed() {
        for (text, want) in [
            ("hunter2", INLINE_REFUSED),
            ("12345", INLINE_REFUSED),
            ("{ file: a, env: B }", "exactly one"),
            (
                "{ path: a }",
                "unknown field `path`, expected `file` or `env`",
            ),
            ("{}", "needs `file:` or `env:`"),
            ("{ env: '' }", "must not be empty"),
        ] {
            let err = serde_yaml_ng::from_str::<SecretRef>(text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn reads_file_trimming_line_breaks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, b"abc\r\n\n").unwrap();
        let s = SecretRef::File(path.clone()).read_string().unwrap();
        assert_eq!(s.expose(), "abc");
        std::fs::write(&path, b"\n").unwrap();
        let err = SecretRef::File(path.clone())
            .read_bytes()
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("secret from file `{}` is empty", path.display())
        );
        let missing = dir.path().join("missing");
        let err = SecretRef::File(missing.clone())
            .read_bytes()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&format!(
            "cannot read secret file `{}`: ",
            missing.display()
        )));
        assert!(err.contains("No such file"), "{err}");
    }

    #[test]
    fn missing_env_names_the_variable() {
        let name = "NETSENSOR_TEST_SURELY_UNSET_VARIABLE";
        let err = SecretRef::Env(name.into())
            .read_string()
            .unwrap_err()
            .to_string();
        assert_eq!(err, format!("environment variable `{name}` is not set"));
    }

    #[test]
    fn relative_files_are_rebased() {
        let r = SecretRef::File("k".into()).rebased(Path::new("/etc/netsensor"));
        assert_eq!(r, SecretRef::File("/etc/netsensor/k".into()));
        let abs = SecretRef::File("/k".into()).rebased(Path::new("/etc"));
        assert_eq!(abs, SecretRef::File("/k".into()));
    }

    #[test]
    fn secret_files_must_be_small_regular_files() {
        let dev_zero = SecretRef::File("/dev/zero".into());
        assert!(dev_zero
            .read_bytes()
            .unwrap_err()
            .to_string()
            .contains("/dev/zero"));
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'k'; 70_000]).unwrap();
        let err = SecretRef::File(big).read_bytes().unwrap_err().to_string();
        assert!(err.contains("larger than 65536 bytes"), "{err}");
    }
}
