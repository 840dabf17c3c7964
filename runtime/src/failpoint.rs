//! Failpoints: named places where a debug build can be told to fail, so tests can inject an error that
//! no real dependency would produce on demand. Armed by `NSPLANE_FAILPOINTS` (names separated by
//! commas), read once. Release builds compile every failpoint to nothing.

/// Whether the failpoint `name` is armed.
#[cfg(debug_assertions)]
pub fn armed(name: &str) -> bool {
    static ARMED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    ARMED
        .get_or_init(|| {
            std::env::var("NSPLANE_FAILPOINTS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        })
        .iter()
        .any(|armed| armed == name)
}

/// Whether the failpoint `name` is armed: never, in a release build.
#[cfg(not(debug_assertions))]
pub fn armed(_name: &str) -> bool {
    false
}

/// An error from the failpoint `name` if it is armed.
pub fn check(name: &str) -> anyhow::Result<()> {
    if armed(name) {
        anyhow::bail!("failpoint {name}: an injected unrecoverable error");
    }
    Ok(())
}
