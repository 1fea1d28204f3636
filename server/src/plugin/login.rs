//! Where `kubectl berth login` keeps the server and token: `$BERTH_CONFIG`, else
//! `$XDG_CONFIG_HOME/berth/kubectl.json`, else `~/.config/berth/kubectl.json`, readable by its
//! owner only. `BERTH_SERVER` and `BERTH_TOKEN` override it (for CI jobs).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::PluginError;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Login {
    pub server: String,
    pub token: String,
}

pub fn path() -> Result<PathBuf, PluginError> {
    if let Some(path) = std::env::var_os("BERTH_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| {
            PluginError::Invalid("neither HOME nor BERTH_CONFIG is set: set one".to_owned())
        })?;
    Ok(base.join("berth").join("kubectl.json"))
}

/// The saved login with the environment's overrides; `Err` when there is none.
pub fn load() -> Result<Login, PluginError> {
    let saved = match std::fs::read_to_string(path()?) {
        Ok(text) => serde_json::from_str::<Login>(&text).ok(),
        Err(_) => None,
    };
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let server = env("BERTH_SERVER").or_else(|| saved.as_ref().map(|l| l.server.clone()));
    let token = env("BERTH_TOKEN").or_else(|| saved.as_ref().map(|l| l.token.clone()));
    match (server, token) {
        (Some(server), Some(token)) => Ok(Login { server, token }),
        _ => Err(PluginError::Unauthenticated(
            "not logged in: run `kubectl berth login --server https://berth.example.com` with an \
             API token from Berth's Tokens page"
                .to_owned(),
        )),
    }
}

pub fn save(login: &Login) -> Result<PathBuf, PluginError> {
    let path = path()?;
    let text =
        serde_json::to_string_pretty(login).map_err(|e| PluginError::Invalid(e.to_string()))?;
    write_private(&path, &text)?;
    Ok(path)
}

/// Writes `text` to `path` readable by its owner only, beside it first and renamed over it, so
/// a reader (kubectl, the next command) never sees half a file.
pub fn write_private(path: &std::path::Path, text: &str) -> Result<(), PluginError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| PluginError::Invalid(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut temp = path.as_os_str().to_owned();
    temp.push(".berth-tmp");
    let temp = PathBuf::from(temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)
}
